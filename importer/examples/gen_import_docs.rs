//! Writes the man pages and shell completions of `certferry-import` from its clap
//! definitions: `cargo run -p certferry-import --example gen_import_docs -- OUT_DIR`
//! (scripts/gen-docs does it for both programs; CI checks the result is current).

use clap::CommandFactory as _;

#[path = "../../tests/support/cli_docs.rs"]
mod cli_docs;

fn main() -> std::io::Result<()> {
    cli_docs::generate(&certferry_import::cli::Cli::command(), "certferry-import")
}
