//! A parallel, order-preserving pipeline over chunks of whole lines.
//!
//! One reader thread cuts the input into chunks of whole lines (about `chunk_bytes`
//! each), `threads` workers turn each chunk into a result, and the calling thread hands
//! the results to a sink **in input order**. Input buffers are recycled, so the steady
//! state allocates nothing per line. This is the shape of every streaming command
//! (`normalize`, `filter`): per-record work is parallel, output order is the input's.
//!
//! ```
//! use sendfilter::pipeline::{self, Options};
//! let input = &b"a\nbb\nccc\n"[..];
//! let mut lens = Vec::new();
//! pipeline::run(
//!     input,
//!     Options { threads: 2, chunk_bytes: 4 },
//!     || (),
//!     |_, chunk| chunk.lines().map(|l| l.len()).collect::<Vec<_>>(),
//!     |v| {
//!         lens.extend(v);
//!         Ok(())
//!     },
//! )
//! .unwrap();
//! assert_eq!(lens, [1, 2, 3]);
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

/// How to run a pipeline.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Target chunk size in bytes; a chunk always ends at a line end (or end of input).
    pub chunk_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { threads: default_threads(), chunk_bytes: 1 << 20 }
    }
}

/// The number of worker threads to use by default: the machine's available parallelism.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A run of whole lines handed to a worker.
#[derive(Debug)]
pub struct Chunk<'a> {
    /// Position of this chunk in the input, from 0.
    pub index: u64,
    /// 1-based line number of the chunk's first line.
    pub first_line: u64,
    /// The bytes: whole lines, each ending in `\n` except possibly the input's last.
    pub data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// The lines of the chunk, without their `\n` (a trailing `\r` is kept).
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        let body = data.strip_suffix(b"\n").unwrap_or(data);
        let empty = data.is_empty();
        body.split(|&b| b == b'\n').filter(move |_| !empty)
    }
}

/// What a pipeline run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes read.
    pub bytes: u64,
    /// Lines read (a last line without `\n` counts).
    pub lines: u64,
    /// Chunks processed.
    pub chunks: u64,
}

/// Runs `work` on every chunk of `input` in parallel and feeds the results to `sink` in
/// input order. `init` makes one per-worker state (scratch buffers and the like).
///
/// Stops at the first error: a read error, a line longer than [`MAX_RECORD`], or an error
/// returned by `sink` (e.g. a broken pipe). Results already given to `sink` stay given;
/// nothing after the error is.
///
/// # Errors
/// The first I/O error from reading `input` or from `sink`; [`RecordTooLong`] (inside an
/// `InvalidData` error) for an over-long line.
pub fn run<R, S, T, I, W, K>(
    input: R,
    opts: Options,
    init: I,
    work: W,
    mut sink: K,
) -> io::Result<Stats>
where
    R: Read + Send,
    T: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, Chunk<'_>) -> T + Sync,
    K: FnMut(T) -> io::Result<()>,
{
    let how =
        How { threads: opts.threads, chunk_bytes: opts.chunk_bytes, eager: false, cut: cut_lines };
    run_chunks(input, Vec::new(), how, init, |s, c, _| work(s, c), |t, _| sink(t).map(|()| None))
}

pub use crate::bounded::{MAX_RECORD, RecordTooLong, read_line_bounded};

/// Finds where a buffer may be cut: the end of its last complete record, if any.
pub(crate) type Cut = fn(&[u8]) -> Option<usize>;

/// Cut after the last newline.
pub(crate) fn cut_lines(buf: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', buf).map(|i| i + 1)
}

/// Cut after the last newline that is outside double quotes, assuming the buffer starts
/// outside quotes. Quote parity is all it takes: RFC 4180 escapes a quote by doubling it.
pub(crate) fn cut_csv(buf: &[u8]) -> Option<usize> {
    let quotes = memchr::memchr_iter(b'"', buf).count();
    let mut end = buf.len();
    let mut after = 0usize; // quotes after `end`
    while let Some(nl) = memchr::memrchr(b'\n', &buf[..end]) {
        after += memchr::memchr_iter(b'"', &buf[nl..end]).count();
        if (quotes - after).is_multiple_of(2) {
            return Some(nl + 1);
        }
        end = nl;
    }
    None
}

/// How [`run_chunks`] reads and cuts.
#[derive(Clone, Copy)]
pub(crate) struct How {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Target chunk size in bytes.
    pub chunk_bytes: usize,
    /// Cut a chunk as soon as a read comes back short (the input has nothing more for
    /// now) and the buffer holds a whole record, instead of waiting for `chunk_bytes`: a
    /// slow stream (a live campaign feed) is then decided as it arrives, not a megabyte
    /// later.
    pub eager: bool,
    /// Where a chunk may end (after a line, or after a CSV record: a CSV chunk never ends
    /// inside a quoted field, which may contain newlines).
    pub cut: Cut,
}

/// The runner behind [`run`] and `filter`: [`run`] with the knobs `filter` needs. The
/// input is `prefix` followed by `input`. `work` may reuse a result the sink handed back
/// (`Some`); the sink gets each result with its chunk's bytes (so it can work on the
/// chunk again, e.g. decide it again when a live stop arrived); the bytes are recycled
/// only afterwards.
///
/// # Errors
/// The first read error or sink error.
pub(crate) fn run_chunks<R, St, T, I, W, K>(
    input: R,
    prefix: Vec<u8>,
    how: How,
    init: I,
    work: W,
    mut sink: K,
) -> io::Result<Stats>
where
    R: Read + Send,
    T: Send,
    I: Fn() -> St + Sync,
    W: Fn(&mut St, Chunk<'_>, Option<T>) -> T + Sync,
    K: FnMut(T, Chunk<'_>) -> io::Result<Option<T>>,
{
    let threads = how.threads.max(1);
    let chunk_bytes = how.chunk_bytes.max(64);
    let (eager, cut) = (how.eager, how.cut);
    // Bounded so the reader cannot run arbitrarily far ahead of a slow sink.
    let (job_tx, job_rx) = bounded::<(u64, u64, Vec<u8>)>(threads * 2);
    let (res_tx, res_rx) = bounded::<(u64, u64, Vec<u8>, T)>(threads * 4);
    let (free_buf_tx, free_buf_rx) = unbounded::<Vec<u8>>();
    let (free_out_tx, free_out_rx) = unbounded::<T>();

    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            read_chunks(input, prefix, chunk_bytes, (eager, cut), &job_tx, &free_buf_rx)
        });
        for _ in 0..threads {
            let (job_rx, res_tx, free_out_rx) =
                (job_rx.clone(), res_tx.clone(), free_out_rx.clone());
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                for (index, first_line, buf) in job_rx {
                    let chunk = Chunk { index, first_line, data: &buf };
                    let out = work(&mut state, chunk, free_out_rx.try_recv().ok());
                    if res_tx.send((index, first_line, buf, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((job_rx, res_tx, free_out_rx));

        // Reorder: results arrive in completion order; hand them out in input order.
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut sink_result = Ok(());
        'outer: for (index, first_line, buf, out) in &res_rx {
            pending.insert(index, (first_line, buf, out));
            while let Some((first_line, buf, out)) = pending.remove(&next) {
                match sink(out, Chunk { index: next, first_line, data: &buf }) {
                    Ok(back) => {
                        if let Some(out) = back {
                            let _ = free_out_tx.send(out);
                        }
                        let _ = free_buf_tx.send(buf);
                    }
                    Err(e) => {
                        sink_result = Err(e);
                        break 'outer;
                    }
                }
                next += 1;
            }
        }
        // Dropping the receiver makes workers, then the reader, stop early on error.
        drop(res_rx);
        let read_result =
            reader.join().unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
        sink_result?;
        Ok(Stats { chunks: next, ..read_result? })
    })
}

/// The reader thread of [`run_chunks`]: cuts `prefix` and then `input` into chunks of
/// whole records of about `chunk_bytes` (with `eager`, as soon as a short read leaves a
/// whole record) and sends them, numbered and with their first line, to `jobs`, reading
/// into buffers recycled through `free`. A record longer than [`MAX_RECORD`] ends the run.
fn read_chunks<R: Read>(
    mut input: R,
    prefix: Vec<u8>,
    chunk_bytes: usize,
    (eager, cut): (bool, Cut),
    job_tx: &Sender<(u64, u64, Vec<u8>)>,
    free_buf_rx: &Receiver<Vec<u8>>,
) -> io::Result<Stats> {
    let mut stats = Stats { bytes: prefix.len() as u64, ..Stats::default() };
    let mut carry = prefix;
    let (mut index, mut line) = (0u64, 1u64);
    let mut eof = false;
    while !eof || !carry.is_empty() {
        let mut buf = free_buf_rx.try_recv().unwrap_or_default();
        // A recycled buffer keeps its old bytes (`buf.len()` of them initialised):
        // reading over them needs no zero-fill. `filled` counts the chunk's bytes.
        let mut filled = carry.len();
        if buf.len() < filled {
            buf.resize(filled, 0);
        }
        buf[..filled].copy_from_slice(&carry);
        carry.clear();
        let mut target = chunk_bytes;
        let at = loop {
            let mut short = false;
            while filled < target && !eof && !short {
                // Grow in steps: a huge target must not mean a huge zero-fill.
                let end = target.min(filled + (4 << 20));
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                match input.read(&mut buf[filled..end]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        short = eager && filled + n < end;
                        filled += n;
                        stats.bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if eof {
                // The last record needs no end, but it too must fit: hand on the
                // records before it, and the next round finds it alone.
                let last = cut(&buf[..filled]).unwrap_or(0);
                if filled - last > MAX_RECORD {
                    if last == 0 {
                        return Err(RecordTooLong { line }.into());
                    }
                    break last;
                }
                break filled;
            }
            match cut(&buf[..filled]) {
                Some(at) => break at,
                // `buf` starts at a record: that record alone is this long.
                None if filled > MAX_RECORD => return Err(RecordTooLong { line }.into()),
                None if short => {}
                // No complete record yet (a long line or quoted field): read more,
                // growing geometrically so rescans stay linear overall, up to one
                // byte past the longest record (so a longer one is always found,
                // whatever the reads return).
                None => target = (filled * 2).min(MAX_RECORD + 1),
            }
        };
        carry.extend_from_slice(&buf[at..filled]);
        buf.truncate(at);
        if buf.is_empty() {
            continue;
        }
        let newlines = memchr::memchr_iter(b'\n', &buf).count() as u64;
        let lines = newlines + u64::from(buf.last() != Some(&b'\n'));
        stats.lines += lines;
        let first_line = line;
        line += lines;
        if job_tx.send((index, first_line, buf)).is_err() {
            return Ok(stats); // the sink failed; its error is reported by the caller
        }
        index += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(input: &[u8], threads: usize, chunk_bytes: usize) -> (Vec<(u64, Vec<u8>)>, Stats) {
        let mut out = Vec::new();
        let stats = run(
            input,
            Options { threads, chunk_bytes },
            || (),
            |_, c| {
                c.lines()
                    .enumerate()
                    .map(|(i, l)| (c.first_line + i as u64, l.to_vec()))
                    .collect::<Vec<_>>()
            },
            |v| {
                out.extend(v);
                Ok(())
            },
        )
        .unwrap();
        (out, stats)
    }

    #[test]
    fn empty_input_gives_nothing() {
        let (out, stats) = collect(b"", 2, 64);
        assert!(out.is_empty());
        assert_eq!(stats, Stats::default());
    }

    #[test]
    fn last_line_without_newline_counts() {
        let (out, stats) = collect(b"a\nb", 2, 64);
        assert_eq!(out, vec![(1, b"a".to_vec()), (2, b"b".to_vec())]);
        assert_eq!(stats.lines, 2);
    }

    #[test]
    fn long_line_grows_the_chunk() {
        let long = vec![b'7'; 10_000];
        let mut input = b"x\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\ny\n");
        let (out, _) = collect(&input, 2, 64);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1], (2, long));
        assert_eq!(out[2], (3, b"y".to_vec()));
    }

    /// Past [`MAX_RECORD`] without a cut the run stops, naming the record's line, after
    /// handing on every record before it; also when the input ends inside that record.
    #[test]
    fn overlong_record_stops_the_run_after_the_records_before_it() {
        for tail in [&b""[..], b"\nz\n"] {
            let mut input = b"a\nb\n".to_vec();
            input.extend(std::iter::repeat_n(b'x', MAX_RECORD + 1));
            input.extend_from_slice(tail);
            let mut got = Vec::new();
            let err = run(
                &input[..],
                Options { threads: 2, chunk_bytes: 64 },
                || (),
                |_, c| c.lines().map(<[u8]>::to_vec).collect::<Vec<_>>(),
                |v| {
                    got.extend(v);
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert_eq!(RecordTooLong::of(&err), Some(RecordTooLong { line: 3 }));
            assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
        }
        // Exactly the limit still passes, at the end of input and before a newline.
        for tail in [&b""[..], b"\n"] {
            let mut input = vec![b'x'; MAX_RECORD];
            input.extend_from_slice(tail);
            let (out, _) = collect(&input, 2, 64);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].1.len(), MAX_RECORD);
        }
    }

    #[test]
    fn sink_error_stops_the_run() {
        let input: Vec<u8> = (0..100_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let mut seen = 0;
        let err = run(
            &input[..],
            Options { threads: 2, chunk_bytes: 128 },
            || (),
            |_, c| c.lines().count(),
            |n| {
                seen += n;
                if seen > 100 { Err(io::Error::from(io::ErrorKind::BrokenPipe)) } else { Ok(()) }
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn csv_cut_respects_quotes() {
        assert_eq!(cut_csv(b"a,b\nc,\"d\ne\"\nf"), Some(12));
        assert_eq!(cut_csv(b"a,\"b\nc"), None);
        assert_eq!(cut_csv(b"a,\"b\nc\"\"\n"), None);
        assert_eq!(cut_csv(b"x\na,\"b\nc\"\"\n"), Some(2));
        assert_eq!(cut_csv(b"noline"), None);
    }

    /// With a prefix, eager cutting and results recycled: every byte once, in order.
    #[test]
    fn prefix_eager_and_recycling_keep_order() {
        let input: Vec<u8> = (0..20_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let mut got = Vec::new();
        let how = How { threads: 3, chunk_bytes: 100, eager: true, cut: cut_lines };
        let stats = run_chunks(
            &input[2..],
            input[..2].to_vec(),
            how,
            || (),
            |_, c, recycled: Option<Vec<u8>>| {
                let mut v = recycled.unwrap_or_default();
                v.clear();
                v.extend_from_slice(c.data);
                v
            },
            |o, _| {
                got.extend_from_slice(&o);
                Ok(Some(o))
            },
        )
        .unwrap();
        assert_eq!(got, input);
        assert_eq!((stats.bytes, stats.lines), (input.len() as u64, 20_000));
    }

    proptest! {
        /// Any input, any chunk size and thread count: the same lines, in order, with the
        /// right line numbers, as a plain sequential split.
        #[test]
        fn same_as_sequential(input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'\r'), any::<u8>()], 0..2000),
                              threads in 1usize..4, chunk in 1usize..300) {
            let (out, stats) = collect(&input, threads, chunk);
            let body = input.strip_suffix(b"\n").unwrap_or(&input);
            let expected: Vec<(u64, Vec<u8>)> = if input.is_empty() { vec![] } else {
                body.split(|&b| b == b'\n').enumerate().map(|(i, l)| (i as u64 + 1, l.to_vec())).collect()
            };
            prop_assert_eq!(stats.lines, expected.len() as u64);
            prop_assert_eq!(stats.bytes, input.len() as u64);
            prop_assert_eq!(out, expected);
        }
    }
}
