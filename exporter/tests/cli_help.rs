//! The `--help` text of every subcommand and the text of the main errors are
//! snapshots in `tests/cli/`: a changed message is a reviewed change. After an
//! intended change, run with `CERTFERRY_BLESS=1` and commit the new files.

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[path = "../../tests/support/cli_snapshot.rs"]
mod cli_snapshot;

fn check(name: &str, args: &[&str], want_code: i32) {
    cli_snapshot::check(
        env!("CARGO_BIN_EXE_certferry-export"),
        env!("CARGO_MANIFEST_DIR"),
        name,
        args,
        want_code,
    );
}

#[test]
fn help_texts_are_reviewed_snapshots() {
    check("help", &["--help"], 0);
    for sub in ["keygen", "ldap", "ldif"] {
        check(&format!("help-{sub}"), &[sub, "--help"], 0);
    }
}

#[test]
fn main_error_texts_are_reviewed_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ldif = root.join("fixtures/directory/ad-dump.ldif");
    let missing_key = [
        "--source-id",
        "contoso-ad",
        "--out",
        "/",
        "--key",
        "/nonexistent/exporter.key",
        "--key-unencrypted",
    ];
    let mut args = vec!["ldif", ldif.to_str().unwrap()];
    args.extend(missing_key);
    check("error-unreadable-key", &args, 4);
    check(
        "error-cleartext-bind",
        &[
            "ldap",
            "-H",
            "ldap://dc1.contoso.example",
            "-D",
            "reader",
            "--password-env",
            "X",
            "--source-id",
            "contoso-ad",
            "--out",
            "/",
            "--key",
            "/nonexistent",
            "--key-unencrypted",
        ],
        2,
    );
    check(
        "error-bad-source-id",
        &[
            "ldif",
            ldif.to_str().unwrap(),
            "--source-id",
            "Contoso AD",
            "--out",
            "/",
            "--key",
            "k",
        ],
        2,
    );
}
