//! `certferry-import`: see `certferry-import --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

/// The same allocator as both programs (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match certferry_import::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // `… | head`: a closed standard output stops the command quietly (141).
    certferry_cli::pipe::quiet_broken_pipe();
    let result = match certferry_cli::pipe::run_until_broken_pipe(|| {
        certferry_import::cmd::run(cli.command)
    }) {
        Ok(r) => r,
        Err(code) => return ExitCode::from(code),
    };
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(f) => {
            // The message may quote the bundle, the tenant or the server: escaped.
            eprintln!(
                "certferry-import: {}",
                certferry_format::text::terminal_safe(f.message(), false)
            );
            ExitCode::from(f.exit_code())
        }
    }
}
