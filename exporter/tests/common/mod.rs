//! Throwaway LDAP servers for integration tests: `scripts/slapd-start` and
//! `scripts/samba-start` in a fresh temporary directory (the scripts pick free
//! ports / loopback addresses, so tests can run in parallel), stopped by the
//! matching `*-stop` script when the handle is dropped, also when a test panics.
//!
//! A server that cannot start makes the test fail (panic), never skip.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub mod work;

/// The repository root (`exporter/..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Which server a [`TestServer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Slapd,
    Samba,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Slapd => "slapd",
            Kind::Samba => "samba",
        }
    }
}

/// A running throwaway server and the variables of its `DIR/env`.
#[derive(Debug)]
pub struct TestServer {
    kind: Kind,
    dir: Option<tempfile::TempDir>,
    env: HashMap<String, String>,
    stopped: bool,
}

impl TestServer {
    /// Starts slapd with the default fixtures (`fixtures/directory/contoso.ldif`).
    pub fn slapd() -> Self {
        Self::start(Kind::Slapd)
    }

    /// Starts a Samba AD DC seeded with the fixtures (needs root; 10–15 s).
    pub fn samba() -> Self {
        Self::start(Kind::Samba)
    }

    fn start(kind: Kind) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("certferry-{}-", kind.name()))
            .tempdir()
            .expect("create a temporary directory for the test server");
        let instance = dir.path().join("instance");
        let script = repo_root()
            .join("scripts")
            .join(format!("{}-start", kind.name()));
        let t0 = Instant::now();
        let out = Command::new(&script)
            .arg(&instance)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        // From here on Drop stops whatever the script left running, even on failure.
        let mut server = Self {
            kind,
            dir: Some(dir),
            env: HashMap::new(),
            stopped: false,
        };
        if !out.status.success() {
            panic!(
                "{} failed ({}); the {} test server is required (scripts/install-test-deps installs it):\n{}{}",
                script.display(),
                out.status,
                kind.name(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env_file = instance.join("env");
        let text = std::fs::read_to_string(&env_file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", env_file.display()));
        server.env = parse_env(&text);
        eprintln!(
            "{} started in {:.1} s at {}",
            kind.name(),
            t0.elapsed().as_secs_f64(),
            server.var("LDAPS_URI")
        );
        server
    }

    /// A variable of `DIR/env` (panics if missing).
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{} env has no {name}", self.kind.name()))
    }

    /// The content of the file named by a variable (a password file), one
    /// trailing newline removed.
    pub fn file_var(&self, name: &str) -> String {
        let path = self.var(name);
        let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        s.strip_suffix('\n').unwrap_or(&s).to_owned()
    }

    /// The instance directory.
    pub fn instance_dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("server dir")
            .path()
            .join("instance")
    }

    /// Freezes the server (SIGSTOP): it keeps its sockets but answers nothing,
    /// like a hung server. Undone by [`TestServer::resume`] and on drop.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Undoes [`TestServer::pause`] (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.var("PID").to_owned();
        let status = Command::new("kill")
            .args([sig, "--", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// Kills the server at once with SIGKILL (to simulate a crash). Only the
    /// process whose pid the start script recorded is signalled.
    pub fn kill_hard(&self) {
        let pid = self.var("PID").to_owned();
        let status = Command::new("kill")
            .args(["-KILL", "--", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
        // wait until the process is gone (or a zombie)
        for _ in 0..200 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return,
                Ok(stat)
                    if stat
                        .rsplit(')')
                        .next()
                        .is_some_and(|s| s.trim_start().starts_with('Z')) =>
                {
                    return
                }
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        panic!("pid {pid} still alive after SIGKILL");
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(pid) = self.env.get("PID") {
            // a paused server would ignore the stop script's SIGTERM
            let _ = Command::new("kill").args(["-CONT", "--", pid]).status();
        }
        let script = repo_root()
            .join("scripts")
            .join(format!("{}-stop", self.kind.name()));
        let instance = self.instance_dir();
        if !instance.exists() {
            return;
        }
        match Command::new(&script).arg(&instance).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: {} {} failed: {}",
                script.display(),
                instance.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("warning: cannot run {}: {e}", script.display()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        // the TempDir removes the instance directory afterwards
    }
}

/// Parses the shell-sourceable `NAME=VALUE` lines the scripts write (values
/// bare, or single-quoted with `'\''` for a quote).
pub fn parse_env(text: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let value = if let Some(q) = v.strip_prefix('\'') {
            q.strip_suffix('\'').unwrap_or(q).replace("'\\''", "'")
        } else {
            v.to_owned()
        };
        env.insert(k.to_owned(), value);
    }
    env
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}
