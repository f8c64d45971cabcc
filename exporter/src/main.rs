//! `certferry-export`: see `--help` and the README.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser as _;

/// The same allocator as the importer: the export pipeline frees across
/// threads, which glibc malloc handles slowly (the workspace Cargo.toml says how much).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = certferry_export::cli::Cli::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    // Ctrl-C, SIGTERM and SIGHUP (ctrlc's `termination` feature) raise a flag
    // the export checks between objects; temp files are then dropped (deleted)
    // on the way out, so nothing partial remains.
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        eprintln!("certferry-export: warning: cannot handle Ctrl-C, SIGTERM and SIGHUP: {e}");
    }
    // `… | head`: a closed standard output stops the command quietly (141),
    // after unwinding has removed any temporary output.
    certferry_cli::pipe::quiet_broken_pipe();
    let result = match certferry_cli::pipe::run_until_broken_pipe(|| {
        certferry_export::run::run(cli.command, &cancel)
    }) {
        Ok(r) => r,
        Err(code) => return ExitCode::from(code),
    };
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(f) => {
            // The message may quote LDIF text, DNs or server replies: escaped.
            eprintln!(
                "certferry-export: error: {}",
                certferry_format::text::terminal_safe(f.message(), false)
            );
            ExitCode::from(f.exit_code())
        }
    }
}
