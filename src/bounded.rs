//! Bounded reading of records: the longest record any command reads ([`MAX_RECORD`]), a
//! line reader that stops there ([`read_line_bounded`]) and a reader that caps what a
//! record parser may buffer ([`RecordLimit`]). A leaf: the filter pipeline, the store's
//! import and the inbound reader all read through it.

use std::io::{self, Read};

/// The longest record a run reads, in bytes. A longer one (input without line ends, such as
/// a binary file, or a CSV quote that is never closed, which makes the rest of the input
/// one field) stops the run with [`RecordTooLong`] instead of growing a buffer without
/// bound: everything before it has been handed on; nothing from it on is. No real record
/// comes close (an SMS of 255 segments is under 160 KiB of UTF-8). Exact for chunks of at
/// most this size (the defaults); a larger chunk may still carry a longer record whole.
pub const MAX_RECORD: usize = 1 << 20;

/// The error inside the [`io::Error`] (kind `InvalidData`) a run stops with when a record
/// is longer than [`MAX_RECORD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line}: a record longer than 1 MiB (no line end, or a quote that is never closed); \
     the records before it were handled, nothing from it on"
)]
pub struct RecordTooLong {
    /// 1-based input line where the record starts.
    pub line: u64,
}

impl RecordTooLong {
    /// The record-too-long error inside `e`, if that is what `e` is.
    pub fn of(e: &io::Error) -> Option<RecordTooLong> {
        e.get_ref()?.downcast_ref::<RecordTooLong>().copied()
    }
}

impl From<RecordTooLong> for io::Error {
    fn from(e: RecordTooLong) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Reads one line (with its `\n`, if any) into `buf` for a line-at-a-time reader, as
/// `read_until` does but at most [`MAX_RECORD`] bytes of it: a longer line is
/// [`RecordTooLong`] at `line` (its 1-based number). Returns the bytes read (0 at the end).
///
/// # Errors
/// Read errors; [`RecordTooLong`] inside an `InvalidData` error.
pub fn read_line_bounded<R: io::BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    line: u64,
) -> io::Result<usize> {
    use io::BufRead as _;
    let limit = MAX_RECORD as u64 + 1;
    let n = r.by_ref().take(limit).read_until(b'\n', buf)?;
    if n as u64 == limit && buf.last() != Some(&b'\n') {
        return Err(RecordTooLong { line }.into());
    }
    Ok(n)
}

/// A reader that fails (kind `InvalidData`) once `limit` bytes have been read since the last
/// [`reset`](Self::reset): a parser that takes a whole record before handing it over (the
/// `csv` crate) then cannot buffer one record without bound. Reset it after each record;
/// the limit must allow for the parser's read-ahead on top of the longest record.
#[derive(Debug)]
pub struct RecordLimit<R> {
    inner: R,
    since: usize,
    limit: usize,
}

impl<R> RecordLimit<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limit: usize) -> RecordLimit<R> {
        RecordLimit { inner, since: 0, limit }
    }

    /// A record was handed over: count afresh.
    pub fn reset(&mut self) {
        self.since = 0;
    }
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.limit - self.since;
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "no record end within {} MiB (no line end, or a quote that is never closed)",
                    self.limit >> 20
                ),
            ));
        }
        let n = buf.len().min(room);
        let got = self.inner.read(&mut buf[..n])?;
        self.since += got;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_limit_fails_past_its_limit_until_reset() {
        let mut r = RecordLimit::new(&[7u8; 100][..], 10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        let err = r.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(r.read(&mut []).unwrap(), 0);
        r.reset();
        assert_eq!(r.read(&mut buf[..4]).unwrap(), 4);
        assert_eq!(r.read(&mut buf).unwrap(), 6);
    }

    #[test]
    fn read_line_bounded_stops_past_max_record() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD + 1));
        let mut r = &input[..];
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 1).unwrap(), 3);
        buf.clear();
        let err = read_line_bounded(&mut r, &mut buf, 2).unwrap_err();
        assert_eq!(RecordTooLong::of(&err), Some(RecordTooLong { line: 2 }));
    }
}
