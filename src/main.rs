//! The `sendfilter` command-line tool: parse, dispatch, exit code.

use std::process::ExitCode;

use clap::Parser;

// Printing goes through `outln!` (or a `Write` on stdout with `?`): `println!` panics when
// the reader has gone away, and a closed stdout must end a command quietly, with the usual
// exit status (`cli::is_broken_pipe`).
#[deny(clippy::print_stdout)]
mod cli;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sendfilter: {e:#}");
            ExitCode::from(2)
        }
    }
}
