//! The `sendfilter` command-line tool: parse, dispatch, exit code.

use std::process::ExitCode;

use clap::Parser;

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
