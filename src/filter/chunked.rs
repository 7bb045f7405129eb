//! The parallel, ordered chunk runner behind `filter`.
//!
//! This is [`crate::pipeline`]'s shape (one reader, `threads` workers, an ordered sink on
//! the calling thread, recycled buffers) with two differences the filter needs:
//!
//! * the reader cuts chunks with a format-specific `cut` function, so a CSV chunk never
//!   ends inside a quoted field (which may contain newlines);
//! * the sink gets the chunk's input bytes along with the worker's result, so it can
//!   decide a chunk again when a live stop arrived after it was decided; the bytes are
//!   recycled only afterwards.
//!
//! (Both could move into `pipeline.rs` later; it is shared, so this lives here for now.)

use std::collections::BTreeMap;
use std::io::{self, Read};

use crossbeam_channel::{bounded, unbounded};

/// One chunk of whole records.
pub(crate) struct Piece<'a> {
    /// Position of the chunk in the input, from 0.
    pub index: u64,
    /// The bytes.
    pub data: &'a [u8],
}

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

/// Runs `work` on every chunk of `input` (preceded by `prefix`) on `threads` workers and
/// gives results to `sink` in input order. `work` may reuse a recycled result; `sink`
/// hands the result back for recycling.
///
/// `eager`: cut a chunk as soon as a read comes back short (the input has nothing more
/// for now) and the buffer holds a whole record, instead of waiting for `chunk_bytes`: a
/// slow stream (a live campaign feed) is then decided as it arrives, not a megabyte later.
///
/// # Errors
/// The first read error or sink error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<R, St, T, I, W, K>(
    mut input: R,
    prefix: Vec<u8>,
    threads: usize,
    chunk_bytes: usize,
    eager: bool,
    cut: Cut,
    init: I,
    work: W,
    mut sink: K,
) -> io::Result<()>
where
    R: Read + Send,
    T: Send,
    I: Fn() -> St + Sync,
    W: Fn(&mut St, Piece<'_>, Option<T>) -> T + Sync,
    K: FnMut(T, Piece<'_>) -> io::Result<T>,
{
    let threads = threads.max(1);
    let chunk_bytes = chunk_bytes.max(64);
    let (job_tx, job_rx) = bounded::<(u64, Vec<u8>)>(threads * 2);
    let (res_tx, res_rx) = bounded::<(u64, Vec<u8>, T)>(threads * 4);
    let (free_buf_tx, free_buf_rx) = unbounded::<Vec<u8>>();
    let (free_out_tx, free_out_rx) = unbounded::<T>();

    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> io::Result<()> {
            let mut carry = prefix;
            let mut index = 0u64;
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
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    if eof {
                        break filled;
                    }
                    match cut(&buf[..filled]) {
                        Some(at) => break at,
                        None if short => {}
                        // No complete record yet (a long line or quoted field): read more,
                        // growing geometrically so rescans stay linear overall.
                        None => target = filled * 2,
                    }
                };
                carry.extend_from_slice(&buf[at..filled]);
                buf.truncate(at);
                if buf.is_empty() {
                    continue;
                }
                if job_tx.send((index, buf)).is_err() {
                    return Ok(()); // the sink failed; its error is reported by the caller
                }
                index += 1;
            }
            Ok(())
        });
        for _ in 0..threads {
            let (job_rx, res_tx, free_out_rx) =
                (job_rx.clone(), res_tx.clone(), free_out_rx.clone());
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                for (index, buf) in job_rx {
                    let out =
                        work(&mut state, Piece { index, data: &buf }, free_out_rx.try_recv().ok());
                    if res_tx.send((index, buf, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((job_rx, res_tx, free_out_rx));

        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut sink_result = Ok(());
        'outer: for (index, buf, out) in &res_rx {
            pending.insert(index, (buf, out));
            while let Some((buf, out)) = pending.remove(&next) {
                match sink(out, Piece { index: next, data: &buf }) {
                    Ok(out) => {
                        let _ = free_out_tx.send(out);
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
        drop(res_rx);
        let read_result =
            reader.join().unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
        sink_result?;
        read_result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cut_respects_quotes() {
        assert_eq!(cut_csv(b"a,b\nc,\"d\ne\"\nf"), Some(12));
        assert_eq!(cut_csv(b"a,\"b\nc"), None);
        assert_eq!(cut_csv(b"a,\"b\nc\"\"\n"), None);
        assert_eq!(cut_csv(b"x\na,\"b\nc\"\"\n"), Some(2));
        assert_eq!(cut_csv(b"noline"), None);
    }

    #[test]
    fn ordered_and_complete() {
        let input: Vec<u8> = (0..20_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let mut got = Vec::new();
        run(
            &input[2..],
            input[..2].to_vec(),
            3,
            100,
            false,
            cut_lines,
            || (),
            |_, p, _: Option<Vec<u8>>| p.data.to_vec(),
            |o, _| {
                got.extend_from_slice(&o);
                Ok(o)
            },
        )
        .unwrap();
        assert_eq!(got, input);
    }
}
