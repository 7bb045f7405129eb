//! `sendfilter normalize`: one number per line in, E.164 or `INVALID` per line out.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::{Region, phone};

/// Read phone numbers, one per line, on stdin and write their E.164 form (or `INVALID`),
/// one per line, in order, on stdout. A summary of counts goes to stderr.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Region for numbers written in national form (ISO 3166 code).
    #[arg(long, default_value = "NO")]
    region: Region,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut input = std::io::BufReader::with_capacity(1 << 20, stdin);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut line = Vec::with_capacity(256);
    let (mut ok, mut bad) = (0u64, 0u64);
    let mut buf = [0u8; phone::E164::MAX_WRITTEN_LEN];
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
            break;
        }
        match phone::normalize(&line, args.region) {
            Ok(n) => {
                let len = n.write_to(&mut buf);
                out.write_all(&buf[..len])?;
                ok += 1;
            }
            Err(_) => {
                out.write_all(b"INVALID")?;
                bad += 1;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush().context("writing stdout")?;
    eprintln!("sendfilter normalize: {} lines, {ok} valid, {bad} invalid", ok + bad);
    Ok(ExitCode::SUCCESS)
}
