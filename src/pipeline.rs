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

use crossbeam_channel::{bounded, unbounded};

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
/// Stops at the first error: a read error, or an error returned by `sink` (e.g. a broken
/// pipe). Results already given to `sink` stay given; nothing after the error is.
///
/// # Errors
/// The first I/O error from reading `input` or from `sink`.
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
    let threads = opts.threads.max(1);
    let chunk_bytes = opts.chunk_bytes.max(64);
    // Bounded so the reader cannot run arbitrarily far ahead of a slow sink.
    let (job_tx, job_rx) = bounded::<(u64, u64, Vec<u8>)>(threads * 2);
    let (res_tx, res_rx) = bounded::<(u64, T)>(threads * 4);
    let (free_tx, free_rx) = unbounded::<Vec<u8>>();

    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_chunks(input, chunk_bytes, job_tx, free_rx));
        for _ in 0..threads {
            let (job_rx, res_tx, free_tx) = (job_rx.clone(), res_tx.clone(), free_tx.clone());
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                for (index, first_line, mut buf) in job_rx {
                    let out = work(&mut state, Chunk { index, first_line, data: &buf });
                    if res_tx.send((index, out)).is_err() {
                        return;
                    }
                    buf.clear();
                    let _ = free_tx.send(buf);
                }
            });
        }
        drop((job_rx, res_tx, free_tx));

        // Reorder: results arrive in completion order; hand them out in input order.
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut sink_result = Ok(());
        for (index, out) in &res_rx {
            pending.insert(index, out);
            while let Some(out) = pending.remove(&next) {
                next += 1;
                if let Err(e) = sink(out) {
                    sink_result = Err(e);
                    break;
                }
            }
            if sink_result.is_err() {
                break;
            }
        }
        // Dropping the receiver makes workers, then the reader, stop early on error.
        drop(res_rx);
        let read_result =
            reader.join().unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
        sink_result?;
        let stats = read_result?;
        debug_assert!(pending.is_empty());
        Ok(Stats { chunks: next, ..stats })
    })
}

/// The reader: fills buffers, cuts them after their last newline, carries the rest over.
fn read_chunks<R: Read>(
    mut input: R,
    chunk_bytes: usize,
    job_tx: crossbeam_channel::Sender<(u64, u64, Vec<u8>)>,
    free_rx: crossbeam_channel::Receiver<Vec<u8>>,
) -> io::Result<Stats> {
    let mut stats = Stats::default();
    let mut carry: Vec<u8> = Vec::new();
    let mut index = 0u64;
    let mut line = 1u64;
    let mut eof = false;
    while !eof {
        let mut buf = free_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(chunk_bytes + 4096));
        buf.clear();
        buf.extend_from_slice(&carry);
        carry.clear();
        // Fill to at least chunk_bytes, and further until the buffer holds a newline.
        loop {
            if buf.len() >= chunk_bytes && memchr::memchr(b'\n', &buf).is_some() {
                break;
            }
            let start = buf.len();
            let want = chunk_bytes.max(start + 4096);
            buf.resize(want, 0);
            let n = match input.read(&mut buf[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    buf.truncate(start);
                    continue;
                }
                Err(e) => return Err(e),
            };
            buf.truncate(start + n);
            stats.bytes += n as u64;
            if n == 0 {
                eof = true;
                break;
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            // A newline exists (loop invariant above).
            memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1)
        };
        carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        if buf.is_empty() {
            continue;
        }
        let newlines = memchr::memchr_iter(b'\n', &buf).count() as u64;
        let lines = newlines + u64::from(buf.last() != Some(&b'\n'));
        stats.lines += lines;
        let first_line = line;
        line += lines;
        if job_tx.send((index, first_line, buf)).is_err() {
            // Workers are gone: the sink failed; its error is reported by the caller.
            return Ok(stats);
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
