//! `exo-simulator --tenant fixtures/tenant/contoso.json [--port N] [--latency-ms N]
//! [--token-lifetime S] [--max-concurrent N] [--synthetic N]`: serves the simulated
//! Exchange Online tenant on 127.0.0.1 until killed. Prints one JSON line first:
//! `{"base_url", "token_url", "invoke_url", "scope", "tenant_id", "client_id"}`.

use std::io::Write as _;
use std::process::ExitCode;

use exo_simulator::{SimConfig, Simulator, Tenant};

const USAGE: &str = "usage: exo-simulator (--tenant FILE.json | --synthetic N) [--port N] \
                     [--latency-ms N] [--token-lifetime SECONDS] [--max-concurrent N] \
                     [--dialect JSON] [--synthetic-certs DER_FILE]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exo-simulator: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut tenant: Option<Tenant> = None;
    let mut config = SimConfig::default();
    let mut certs: Option<Vec<u8>> = None;
    let number = |flag: &str, v: Option<String>| -> Result<u64, String> {
        v.as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tenant" => {
                let path = args.next().ok_or(USAGE)?;
                tenant = Some(Tenant::load(&path).map_err(|e| e.to_string())?);
            }
            "--synthetic" => {
                tenant = Some(Tenant::synthetic(
                    number("--synthetic", args.next())? as usize
                ));
            }
            "--port" => {
                config.port = u16::try_from(number("--port", args.next())?)
                    .map_err(|_| "--port is at most 65535".to_owned())?;
            }
            "--latency-ms" => config.latency_ms = number("--latency-ms", args.next())?,
            "--token-lifetime" => {
                config.token_lifetime_secs = number("--token-lifetime", args.next())?;
            }
            "--max-concurrent" => {
                config.max_concurrent_requests =
                    Some(number("--max-concurrent", args.next())? as usize);
            }
            "--synthetic-certs" => {
                let path = args.next().ok_or(USAGE)?;
                certs = Some(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?);
            }
            "--dialect" => {
                let text = args.next().ok_or(USAGE)?;
                config.dialect =
                    serde_json::from_str(&text).map_err(|e| format!("--dialect: {e}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let mut tenant = tenant.ok_or(USAGE)?;
    if let Some(der) = certs {
        // Every recipient holds one certificate: a tenant whose answers weigh what a
        // real one's do (benchmarks).
        for r in &mut tenant.recipients {
            r.user_certificate = vec![der.clone()];
        }
    }
    let sim = Simulator::start(tenant, config).map_err(|e| format!("cannot start: {e}"))?;
    let line = serde_json::json!({
        "base_url": sim.base_url(),
        "token_url": sim.token_url(),
        "invoke_url": sim.invoke_url(),
        "scope": sim.scope(),
        "tenant_id": sim.tenant_id(),
        "client_id": sim.client_id(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    loop {
        std::thread::park();
    }
}
