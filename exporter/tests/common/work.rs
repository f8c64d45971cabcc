//! A temp workspace for `certferry-export` runs: a password-protected key
//! pair made by the binary's own `keygen`, an output folder, a state file,
//! and the checks every failure test makes (exit code, one-line message, no
//! secret, nothing left behind).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

use certferry_format::keys::PublicKey;
use certferry_format::model::Entry;
use certferry_format::replay::ReplayRules;
use certferry_format::{
    parts_in, Limits, ParsedEntry, Role, Timestamp, TrustPolicy, TrustedKey, UnverifiedBundle,
    UnverifiedParts, VerifiedBundle, VerifiedParts,
};
use serde_json::Value as Json;

use super::repo_root;

/// The creation time every test export uses.
pub const CREATED: &str = "2026-06-01T00:00:00Z";

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certferry-export"))
}

/// A temp workspace with a key pair (password-protected) and an output dir.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        let w = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(w.out()).unwrap();
        std::fs::write(w.path("key.password"), "correct horse\n").unwrap();
        let out = bin()
            .args(["keygen", "--secret-key"])
            .arg(w.path("exp.key"))
            .arg("--public-key")
            .arg(w.path("exp.pub"))
            .arg("--password-file")
            .arg(w.path("key.password"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        w
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn out(&self) -> PathBuf {
        self.path("out")
    }
    /// The common output arguments.
    pub fn output_args(&self) -> Vec<String> {
        [
            "--source-id",
            "contoso-ad",
            "--out",
            self.out().to_str().unwrap(),
            "--key",
            self.path("exp.key").to_str().unwrap(),
            "--key-password-file",
            self.path("key.password").to_str().unwrap(),
            "--state",
            self.path("state.json").to_str().unwrap(),
            "--created",
            CREATED,
            "--trusted-ca",
            repo_root()
                .join("fixtures/pki/ca/issuing-ca.pem")
                .to_str()
                .unwrap(),
            "--json",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    }
    pub fn export_ldif_file(&self, file: &std::path::Path, extra: &[&str]) -> Output {
        bin()
            .arg("ldif")
            .arg(file)
            .args(self.output_args())
            .args(extra)
            .output()
            .unwrap()
    }
    /// [`Self::export_ldif`] with `--trusted-ca` replaced by `ca_args`
    /// (flag and file pairs, files relative to `fixtures/pki`).
    pub fn export_ldif_trusting(&self, ca_args: &[(&str, &str)], extra: &[&str]) -> Output {
        let mut args = self.output_args();
        let i = args.iter().position(|a| a == "--trusted-ca").unwrap();
        args.drain(i..i + 2);
        for (flag, file) in ca_args {
            args.push((*flag).to_owned());
            args.push(
                repo_root()
                    .join("fixtures/pki")
                    .join(file)
                    .display()
                    .to_string(),
            );
        }
        bin()
            .arg("ldif")
            .arg(repo_root().join("fixtures/directory/ad-dump.ldif"))
            .args(args)
            .args(extra)
            .output()
            .unwrap()
    }
    pub fn export_ldif(&self, extra: &[&str]) -> Output {
        bin()
            .arg("ldif")
            .arg(repo_root().join("fixtures/directory/ad-dump.ldif"))
            .args(self.output_args())
            .args(extra)
            .output()
            .unwrap()
    }
    /// `certferry-export ldap` over LDAPS against a test server, with the
    /// common output arguments and `extra`.
    pub fn export_ldap(
        &self,
        server: &super::TestServer,
        bind: &str,
        password_file: &str,
        extra: &[&str],
    ) -> Output {
        bin()
            .args([
                "ldap",
                "-H",
                server.var("LDAPS_URI"),
                "--ca-file",
                server.var("CA_FILE"),
                "-D",
                bind,
                "-y",
                password_file,
            ])
            .args(self.output_args())
            .args(extra)
            .output()
            .unwrap()
    }
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.out())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
    /// The policy trusting this workspace's exporter key.
    fn policy(&self) -> TrustPolicy {
        let pk =
            PublicKey::parse_file(&std::fs::read_to_string(self.path("exp.pub")).unwrap()).unwrap();
        TrustPolicy {
            keys: vec![TrustedKey {
                name: "exporter".into(),
                role: Role::Exporter,
                key: pk,
            }],
            required: [(Role::Exporter, 1)].into(),
            replay: ReplayRules::default(),
        }
    }

    /// Verifies the snapshot in parts whose part index the JSON summary
    /// names, keeping every entry and its values' bytes.
    pub fn verify_parts(&self, summary: &Json) -> VerifiedParts<(Entry, Vec<Vec<u8>>)> {
        let index = PathBuf::from(summary["bundle"].as_str().unwrap());
        let sig = PathBuf::from(summary["signature"].as_str().unwrap());
        UnverifiedParts::parse(
            std::fs::read(&index).unwrap(),
            vec![(sig.display().to_string(), std::fs::read(&sig).unwrap())],
            &Limits::default(),
        )
        .unwrap()
        .verify_keeping_with(
            &self.policy(),
            Timestamp::parse("2026-06-02T00:00:00Z").unwrap(),
            None,
            parts_in(&self.out()),
            |_, _| {
                |p: ParsedEntry<'_>| {
                    let values = p.values().iter().map(|v| v.bytes().to_vec()).collect();
                    (p.entry().clone(), values)
                }
            },
        )
        .unwrap()
    }

    /// Verifies the bundle named in the JSON summary through the format library.
    pub fn verify(&self, summary: &Json) -> VerifiedBundle {
        let bundle = PathBuf::from(summary["bundle"].as_str().unwrap());
        let sig = PathBuf::from(summary["signature"].as_str().unwrap());
        let policy = self.policy();
        UnverifiedBundle::parse(
            std::fs::read(&bundle).unwrap(),
            vec![(sig.display().to_string(), std::fs::read(&sig).unwrap())],
            &Limits::default(),
        )
        .unwrap()
        .verify(
            &policy,
            Timestamp::parse("2026-06-02T00:00:00Z").unwrap(),
            None,
        )
        .unwrap()
    }
}

/// Alice's certificate's recorded class and reasons in a verified bundle.
pub fn alice_class(b: &VerifiedBundle) -> (String, Vec<String>) {
    let alice = b
        .entries()
        .find(|e| e.entry().sam_account_name.as_deref() == Some("alice"))
        .unwrap();
    let c = &alice.entry().values[0].certificates[0];
    (c.class.clone(), c.reasons.clone())
}

pub fn ok_json(out: &Output) -> Json {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn assert_failed_cleanly(out: &Output, code: i32, needle: &str, w: &Work) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr {err:?} should mention {needle:?}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    assert!(!err.contains("correct horse"), "secret printed: {err}");
    assert!(w.files().is_empty(), "left behind: {:?}", w.files());
}
