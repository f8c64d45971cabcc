//! The `--help` text of every subcommand and the text of the main errors are
//! snapshots in `tests/cli/`: a changed message is a reviewed change. After an
//! intended change, run with `CERTFERRY_BLESS=1` and commit the new files.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/support/cli_snapshot.rs"]
mod cli_snapshot;

fn check(name: &str, args: &[&str], want_code: i32) {
    cli_snapshot::check(
        env!("CARGO_BIN_EXE_certferry-import"),
        env!("CARGO_MANIFEST_DIR"),
        name,
        args,
        want_code,
    );
}

#[test]
fn help_texts_are_reviewed_snapshots() {
    check("help", &["--help"], 0);
    for sub in [
        "verify", "review", "approve", "script", "plan", "apply", "status", "history",
    ] {
        check(&format!("help-{sub}"), &[sub, "--help"], 0);
    }
}

#[test]
fn main_error_texts_are_reviewed_snapshots() {
    check(
        "error-missing-policy",
        &["status", "--policy", "/nonexistent/policy.toml"],
        2,
    );
}
