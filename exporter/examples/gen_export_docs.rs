//! Writes the man pages and shell completions of `certferry-export` from its clap
//! definitions: `cargo run -p certferry-export --example gen_export_docs -- OUT_DIR`
//! (scripts/gen-docs does it for both programs; CI checks the result is current).

use std::path::PathBuf;

use clap::CommandFactory as _;

fn main() -> std::io::Result<()> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs".into())
        .into();
    let cmd = certferry_export::cli::Cli::command();
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
        clap_complete::generate_to(shell, &mut cmd.clone(), "certferry-export", &comp)?;
    }
    Ok(())
}
