//! The audit trail's index, `audit.idx`: one 32-byte entry per record, in file order —
//! the first 64 bits of its subject reference (0: none), its offset in the trail, and
//! the lowest and highest journal sequence it names (0, 0: none), little-endian.
//!
//! [`find`] scans the entries (a million records are 32 MB, read at memory speed), then
//! reads only the matching lines. The index is derived: the appender rebuilds it from
//! the trail when its length does not match, and records past its end are read from the
//! trail itself, so a lost or stale index never hides a record.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::chain::{self, Chained};
use super::{AuditRecord, FILE, INDEX, subject_lo};
use crate::Timestamp;
use crate::store::error::{StoreError, io};

/// Bytes per entry.
pub const ENTRY_LEN: usize = 32;

/// The lowest and highest journal sequence `rec` names (`(0, 0)`: none).
fn seq_span(rec: &AuditRecord) -> (u64, u64) {
    let mut all = rec.seqs.iter().copied().chain(rec.seq_range.into_iter().flatten());
    let Some(first) = all.next() else { return (0, 0) };
    all.fold((first, first), |(lo, hi), s| (lo.min(s), hi.max(s)))
}

/// The entry of `rec`, written at `offset` in the trail.
pub(crate) fn entry(rec: &AuditRecord, offset: u64) -> [u8; ENTRY_LEN] {
    let (lo, hi) = seq_span(rec);
    let mut e = [0u8; ENTRY_LEN];
    e[..8].copy_from_slice(&subject_lo(rec.subject.as_deref()).to_le_bytes());
    e[8..16].copy_from_slice(&offset.to_le_bytes());
    e[16..24].copy_from_slice(&lo.to_le_bytes());
    e[24..32].copy_from_slice(&hi.to_le_bytes());
    e
}

fn word(e: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&e[i * 8..i * 8 + 8]);
    u64::from_le_bytes(w)
}

/// Rewrites the index `index` (at `ipath`) from the trail at `trail`.
pub(crate) fn rebuild(trail: &Path, index: &File, ipath: &Path) -> Result<(), StoreError> {
    let data = std::fs::read(trail).map_err(io("reading", trail))?;
    let mut out = Vec::new();
    let mut off = 0usize;
    for l in data.split_inclusive(|&b| b == b'\n') {
        if l.ends_with(b"\n")
            && let Ok((c, _)) = chain::parse(&l[..l.len() - 1])
        {
            out.extend_from_slice(&entry(&c.record, off as u64));
        }
        off += l.len();
    }
    index.set_len(0).map_err(io("truncating", ipath))?;
    let mut f = index;
    f.seek(SeekFrom::Start(0)).map_err(io("seeking", ipath))?;
    f.write_all(&out).map_err(io("writing", ipath))
}

/// Reads the line starting at `offset` of `file` (without its newline); `None` when it
/// is not complete.
fn line_at(file: &File, path: &Path, offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = file.read_at(&mut buf, offset + out.len() as u64).map_err(io("reading", path))?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(end) = memchr::memchr(b'\n', &buf[..n]) {
            out.extend_from_slice(&buf[..end]);
            return Ok(Some(out));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The records of the trail in `dir` that name `subject` (a reference from
/// [`super::subject_ref`]) or one of the journal sequences `seqs` (the person's events:
/// bulk writes name only a range), from `since` on, in file order. Records whose line no
/// longer parses are skipped here (`audit verify` names them).
///
/// # Errors
/// I/O errors other than a missing trail (no records).
pub fn find(
    dir: &Path,
    subject: Option<String>,
    seqs: &[u64],
    since: Option<Timestamp>,
) -> Result<Vec<Chained>, StoreError> {
    let path = dir.join(FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("opening", &path)(e)),
    };
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable();
    let want_lo = subject_lo(subject.as_deref());
    let subject = subject.as_deref();
    let ipath = dir.join(INDEX);
    let index: Option<memmap2::Mmap> = match File::open(&ipath) {
        Ok(f) if f.metadata().is_ok_and(|m| m.len() > 0) => {
            // SAFETY: the index is only appended to or rewritten under the trail's lock;
            // a concurrent rewrite can at worst make this scan read stale offsets, which
            // are checked against the line they point at.
            Some(unsafe { memmap2::Mmap::map(&f) }.map_err(io("mapping", &ipath))?)
        }
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("opening", &ipath)(e)),
    };
    let entries: &[u8] = index.as_deref().unwrap_or(&[]);
    let entries = &entries[..entries.len() / ENTRY_LEN * ENTRY_LEN];
    let mut offsets: Vec<u64> = Vec::new();
    for e in entries.chunks_exact(ENTRY_LEN) {
        let (lo, hi) = (word(e, 2), word(e, 3));
        let by_subject = want_lo != 0 && word(e, 0) == want_lo;
        let by_seq = hi != 0 && {
            let i = seqs.partition_point(|&s| s < lo);
            seqs.get(i).is_some_and(|&s| s <= hi)
        };
        if by_subject || by_seq {
            offsets.push(word(e, 1));
        }
    }
    let mut out = Vec::new();
    let keep = |c: Chained, out: &mut Vec<Chained>| {
        let recent = since
            .is_none_or(|t| crate::timefmt::parse_rfc3339(&c.record.time).is_ok_and(|rt| rt >= t));
        if recent && c.record.concerns(subject, &seqs) {
            out.push(c);
        }
    };
    for &off in &offsets {
        if let Some(l) = line_at(&file, &path, off)?
            && let Ok((c, _)) = chain::parse(&l)
        {
            keep(c, &mut out);
        }
    }
    // Records past the index's end (written by a process that died before indexing, or an
    // index lost): read from the trail.
    let tail_from = match entries.chunks_exact(ENTRY_LEN).last() {
        Some(e) => match line_at(&file, &path, word(e, 1))? {
            Some(l) => word(e, 1) + l.len() as u64 + 1,
            None => return Ok(out),
        },
        None => 0,
    };
    let len = file.metadata().map_err(io("reading metadata of", &path))?.len();
    if tail_from < len {
        let mut rest = vec![0u8; (len - tail_from) as usize];
        file.read_exact_at(&mut rest, tail_from).map_err(io("reading", &path))?;
        for l in rest.split_inclusive(|&b| b == b'\n').filter(|l| l.ends_with(b"\n")) {
            if let Ok((c, _)) = chain::parse(&l[..l.len() - 1]) {
                keep(c, &mut out);
            }
        }
    }
    Ok(out)
}
