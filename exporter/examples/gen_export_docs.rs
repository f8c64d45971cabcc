//! Writes the man pages and shell completions of `certferry-export` from its clap
//! definitions: `cargo run -p certferry-export --example gen_export_docs -- OUT_DIR`
//! (scripts/gen-docs does it for both programs; CI checks the result is current).

use clap::CommandFactory as _;

#[path = "../../tests/support/cli_docs.rs"]
mod cli_docs;

fn main() -> std::io::Result<()> {
    cli_docs::generate(&certferry_export::cli::Cli::command(), "certferry-export")
}
