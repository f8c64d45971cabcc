//! Writes a program's man pages and shell completions from its clap
//! definition; shared by the `gen_*_docs` examples of both programs
//! (included with `#[path]`). scripts/gen-docs runs them; CI checks the
//! committed files are current.

use std::path::PathBuf;

/// Writes `man/` and `completions/` for `cmd`, named `name`, under the
/// directory given as the first argument (default `docs`).
pub(crate) fn generate(cmd: &clap::Command, name: &str) -> std::io::Result<()> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs".into())
        .into();
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cmd.clone(), &man)?;
    let comp = out.join("completions");
    std::fs::create_dir_all(&comp)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), name, &comp)?;
    }
    Ok(())
}
