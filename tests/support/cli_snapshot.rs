//! Snapshot checks of a program's output, shared by the `cli_help` tests of
//! both programs (included with `#[path]`). A changed message is a reviewed
//! change: after an intended change, run with `CERTFERRY_BLESS=1` and commit
//! the new files.

use std::path::Path;
use std::process::Command;

/// Runs `bin` with `args`, expects exit code `want_code`, and compares
/// stdout followed by stderr with `<crate_dir>/tests/cli/<name>.txt`.
pub(crate) fn check(bin: &str, crate_dir: &str, name: &str, args: &[&str], want_code: i32) {
    let out = Command::new(bin)
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(want_code),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let file = Path::new(crate_dir)
        .join("tests/cli")
        .join(format!("{name}.txt"));
    if std::env::var_os("CERTFERRY_BLESS").is_some() {
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|_| panic!("{} is missing: run with CERTFERRY_BLESS=1", file.display()));
    assert_eq!(
        text,
        want,
        "{name}: the output changed; if intended, run with CERTFERRY_BLESS=1 and commit {}",
        file.display()
    );
}
