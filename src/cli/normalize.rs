//! `sendfilter normalize`: one number per line in, E.164 or `INVALID` per line out.
//!
//! Throughput comes from the shared ordered pipeline ([`sendfilter::pipeline`]): a reader
//! cuts ~1 MiB chunks of whole lines, workers normalise chunks into their own output
//! buffers, and this thread writes them back in input order.
//!
//! Interactive use (a terminal on either end, or `--line-buffered`) takes a sequential path
//! that answers each line as soon as it is read.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::E164;
use sendfilter::bounded::read_line_bounded;
use sendfilter::phone::Regions;
use sendfilter::pipeline::{self, Options};

/// Read phone numbers, one per line, on stdin and write their E.164 form (or `INVALID`),
/// one per line, in order, on stdout. A summary of counts goes to stderr.
///
/// A line is read as libphonenumber would read it with the given default region: national
/// forms use that region's rules, international forms (`+`, or the region's international
/// prefix such as `00`) the number's own country's rules. `\r\n` line ends are accepted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Region for numbers written in national form (ISO 3166 code known to the metadata).
    /// A list such as NO,SE adds fallbacks: a number not valid in the first region is read
    /// again with each fallback in order (for lists mixing two countries' national forms).
    #[arg(long, default_value = "NO", value_name = "CC[,CC...]")]
    region: Regions,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Flush after every line (the default when stdin or stdout is a terminal).
    #[arg(long)]
    line_buffered: bool,
}

/// Counts of answered lines.
#[derive(Default, Clone, Copy)]
struct Counts {
    ok: u64,
    bad: u64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let interactive = args.line_buffered || io::stdin().is_terminal() || io::stdout().is_terminal();
    let counts = if interactive {
        run_sequential(&args.region)?
    } else {
        let threads = args.threads.unwrap_or_else(pipeline::default_threads).clamp(1, 64);
        run_parallel(&args.region, threads)?
    };
    eprintln!(
        "sendfilter normalize: {} lines, {} valid, {} invalid",
        counts.ok + counts.bad,
        counts.ok,
        counts.bad
    );
    Ok(ExitCode::SUCCESS)
}

/// Normalises every line of `chunk` (whole lines; the last may lack its `\n`) into `out`.
fn normalize_chunk(chunk: &[u8], regions: &Regions, out: &mut Vec<u8>) -> Counts {
    // Room for one answer line: `+`, up to 19 digits, `\n`; or `INVALID\n`.
    const ROOM: usize = E164::MAX_WRITTEN_LEN + 1;
    let mut c = Counts::default();
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', chunk);
    while start < chunk.len() {
        let end = ends.next().unwrap_or(chunk.len());
        let mut line = &chunk[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        start = end + 1;
        // Answers are written in place: grow by a fixed amount, fill, cut to size. Fixed-size
        // writes avoid a variable-length copy per line on this hot path.
        let used = out.len();
        out.extend_from_slice(&[0u8; ROOM]);
        let slot = &mut out[used..used + ROOM];
        let len = match regions.normalize(line) {
            Ok(n) => {
                let (digits, nl) = slot.split_at_mut(E164::MAX_WRITTEN_LEN);
                // `split_at_mut` at MAX_WRITTEN_LEN yields exactly that many bytes.
                let digits: &mut [u8; E164::MAX_WRITTEN_LEN] =
                    digits.try_into().expect("slot is MAX_WRITTEN_LEN bytes");
                let len = n.write_to(digits);
                nl[0] = b'\n';
                if len < E164::MAX_WRITTEN_LEN {
                    digits[len] = b'\n';
                }
                c.ok += 1;
                len + 1
            }
            Err(_) => {
                slot[..8].copy_from_slice(b"INVALID\n");
                c.bad += 1;
                8
            }
        };
        out.truncate(used + len);
    }
    c
}

fn run_sequential(regions: &Regions) -> anyhow::Result<Counts> {
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = io::stdout().lock();
    let mut line = Vec::with_capacity(256);
    let mut answer = Vec::with_capacity(64);
    let mut total = Counts::default();
    for n in 1u64.. {
        line.clear();
        if read_line_bounded(&mut input, &mut line, n).context("reading stdin")? == 0 {
            break;
        }
        answer.clear();
        let c = normalize_chunk(&line, regions, &mut answer);
        total.ok += c.ok;
        total.bad += c.bad;
        out.write_all(&answer).context("writing stdout")?;
        out.flush().context("writing stdout")?;
    }
    Ok(total)
}

fn run_parallel(regions: &Regions, threads: usize) -> anyhow::Result<Counts> {
    let mut out = io::stdout().lock();
    let mut total = Counts::default();
    // Output buffers go back to the workers once written: no fresh pages per chunk.
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    pipeline::run(
        io::stdin(),
        Options { threads, chunk_bytes: 1 << 20 },
        || (),
        |_, chunk| {
            // Room for every answer up front: at most MAX_WRITTEN_LEN + 1 bytes a line.
            let mut buf = free_rx.try_recv().unwrap_or_default();
            buf.clear();
            buf.reserve(chunk.data.len() * 2 + 64);
            let c = normalize_chunk(chunk.data, regions, &mut buf);
            (buf, c)
        },
        |(buf, c)| {
            total.ok += c.ok;
            total.bad += c.bad;
            out.write_all(&buf)?;
            let _ = free_tx.send(buf);
            Ok(())
        },
    )
    .context("normalizing stdin to stdout")?;
    out.flush().context("writing stdout")?;
    Ok(total)
}
