//! `sendfilter normalize`: one number per line in, E.164 or `INVALID` per line out.
//!
//! Throughput comes from a small ordered pipeline: this thread reads ~1 MiB chunks of whole
//! lines, workers normalise chunks into their own output buffers, and a writer thread puts
//! the buffers back in input order. (The shared generic ordered-chunk pipeline for `filter`
//! had not landed on `main` when this was written; this one is deliberately small.) Buffers
//! are recycled, so the steady state allocates nothing.
//!
//! Interactive use (a terminal on either end, or `--line-buffered`) takes a sequential path
//! that answers each line as soon as it is read.

use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::thread;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, bounded};
use sendfilter::{E164, Region, phone};

/// Read phone numbers, one per line, on stdin and write their E.164 form (or `INVALID`),
/// one per line, in order, on stdout. A summary of counts goes to stderr.
///
/// A line is read as libphonenumber would read it with the given default region: national
/// forms use that region's rules, international forms (`+`, or the region's international
/// prefix such as `00`) the number's own country's rules. `\r\n` line ends are accepted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Region for numbers written in national form (ISO 3166 code known to the metadata).
    #[arg(long, default_value = "NO")]
    region: Region,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Flush after every line (the default when stdin or stdout is a terminal).
    #[arg(long)]
    line_buffered: bool,
}

/// Target size of one chunk of input lines.
const CHUNK: usize = 1 << 20;

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
        run_sequential(args.region)?
    } else {
        let threads = args
            .threads
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, 64);
        run_parallel(args.region, threads)?
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
fn normalize_chunk(chunk: &[u8], region: Region, out: &mut Vec<u8>) -> Counts {
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
        let len = match phone::normalize(line, region) {
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

fn run_sequential(region: Region) -> anyhow::Result<Counts> {
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = io::stdout().lock();
    let mut line = Vec::with_capacity(256);
    let mut answer = Vec::with_capacity(64);
    let mut total = Counts::default();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
            break;
        }
        answer.clear();
        let c = normalize_chunk(&line, region, &mut answer);
        total.ok += c.ok;
        total.bad += c.bad;
        out.write_all(&answer).context("writing stdout")?;
        out.flush().context("writing stdout")?;
    }
    Ok(total)
}

/// Reads into `buf` until it holds at least `target` bytes or EOF; returns false at EOF.
fn fill(input: &mut impl Read, buf: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    while buf.len() < target {
        let old = buf.len();
        buf.resize(target.max(old + 64 * 1024), 0);
        match input.read(&mut buf[old..]) {
            Ok(0) => {
                buf.truncate(old);
                return Ok(false);
            }
            Ok(n) => buf.truncate(old + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(old),
            Err(e) => {
                buf.truncate(old);
                return Err(e);
            }
        }
    }
    Ok(true)
}

fn run_parallel(region: Region, threads: usize) -> anyhow::Result<Counts> {
    // Bounded queues keep memory at a few chunks per thread and give back-pressure.
    let (work_tx, work_rx) = bounded::<(u64, Vec<u8>)>(threads * 2);
    let (done_tx, done_rx) = bounded::<(u64, Vec<u8>, Counts)>(threads * 2);
    let (free_in_tx, free_in_rx) = bounded::<Vec<u8>>(threads * 4 + 4);
    let (free_out_tx, free_out_rx) = bounded::<Vec<u8>>(threads * 4 + 4);

    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            let (free_in_tx, free_out_rx) = (free_in_tx.clone(), free_out_rx.clone());
            thread::spawn(move || worker(region, &work_rx, &done_tx, &free_in_tx, &free_out_rx))
        })
        .collect();
    drop((work_rx, done_tx, free_in_tx, free_out_rx));
    let writer = thread::spawn(move || write_in_order(&done_rx, &free_out_tx));

    let read_result = read_chunks(&work_tx, &free_in_rx);
    drop(work_tx);
    for w in workers {
        // A worker only panics on a bug; surface it rather than hide it.
        w.join().map_err(|_| anyhow::anyhow!("a normalize worker panicked"))?;
    }
    let written = writer.join().map_err(|_| anyhow::anyhow!("the output writer panicked"))?;
    // A write error (e.g. a closed pipe) is the root cause when both fail.
    let counts = written?;
    read_result?;
    Ok(counts)
}

fn read_chunks(
    work_tx: &Sender<(u64, Vec<u8>)>,
    free_in: &Receiver<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut input = io::stdin().lock();
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0u64;
    let mut target = CHUNK;
    loop {
        let mut buf = free_in.try_recv().unwrap_or_else(|_| Vec::with_capacity(2 * CHUNK));
        buf.clear();
        buf.extend_from_slice(&carry);
        carry.clear();
        let more = fill(&mut input, &mut buf, target).context("reading stdin")?;
        if more {
            // Keep only whole lines; the partial last line starts the next chunk. A single
            // line longer than a chunk makes the next read bigger.
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => {
                    carry.extend_from_slice(&buf[i + 1..]);
                    buf.truncate(i + 1);
                    target = CHUNK;
                }
                None => {
                    target = buf.len() * 2;
                    carry = buf;
                    continue;
                }
            }
        }
        if !buf.is_empty() && work_tx.send((seq, buf)).is_err() {
            // The writer stopped (its error is reported by the caller).
            return Ok(());
        }
        seq += 1;
        if !more {
            return Ok(());
        }
    }
}

fn worker(
    region: Region,
    work: &Receiver<(u64, Vec<u8>)>,
    done: &Sender<(u64, Vec<u8>, Counts)>,
    free_in: &Sender<Vec<u8>>,
    free_out: &Receiver<Vec<u8>>,
) {
    for (seq, chunk) in work {
        let mut out = free_out.try_recv().unwrap_or_else(|_| Vec::with_capacity(2 * CHUNK));
        out.clear();
        let c = normalize_chunk(&chunk, region, &mut out);
        let _ = free_in.try_send(chunk);
        if done.send((seq, out, c)).is_err() {
            return;
        }
    }
}

fn write_in_order(
    done: &Receiver<(u64, Vec<u8>, Counts)>,
    free_out: &Sender<Vec<u8>>,
) -> anyhow::Result<Counts> {
    let mut out = io::stdout().lock();
    let mut pending: BTreeMap<u64, (Vec<u8>, Counts)> = BTreeMap::new();
    let mut next = 0u64;
    let mut total = Counts::default();
    for (seq, buf, c) in done {
        pending.insert(seq, (buf, c));
        while let Some((buf, c)) = pending.remove(&next) {
            out.write_all(&buf).context("writing stdout")?;
            total.ok += c.ok;
            total.bad += c.bad;
            let _ = free_out.try_send(buf);
            next += 1;
        }
    }
    out.flush().context("writing stdout")?;
    Ok(total)
}
