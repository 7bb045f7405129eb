//! The append-only journal: every event, in order, each record checksummed.
//!
//! ```text
//! header (32 bytes): magic "SFJRNL\r\n" | version u32 | 0u32 | base_seq u64 | xxh3(first 24) u64
//! record:            xxh3 u64 | len u32 | seq u64 | payload[len]      (hash covers len..payload)
//! ```
//! `base_seq` is the sequence number before the first record; records are consecutive.
//! The top bit of `len` ([`CONTINUES`]) says "more records of this batch follow": a batch
//! is written with the bit set on every record, and committed by clearing it on the last
//! record (rewriting that record's hash and length) before the final fsync.
//!
//! Durability: an append is acknowledged only after `sync_data`. On open, records after the
//! last committed one (a batch cut short by a crash) and a last record damaged the way an
//! unfinished append leaves it (cut short, zeros, a half-rewritten commit header) form a
//! *torn tail*: reported and truncated. A damaged record followed by a committed one, or a
//! complete last record with a bad checksum, is corruption, never skipped. So a batch is all or nothing,
//! even across a crash, and readers never see a batch that was not committed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use crate::store::error::{Corruption, StoreError, io};
use crate::store::event::EventRef;

/// Magic number at the start of a journal file.
pub const MAGIC: [u8; 8] = *b"SFJRNL\r\n";
/// Journal format version this build reads and writes.
pub const VERSION: u32 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Record header length: checksum, length, sequence.
pub const RECORD_HEADER: usize = 20;
/// Largest payload a record may carry (six text fields of `MAX_TEXT` plus fixed fields).
pub const MAX_PAYLOAD: usize = 8 * 1024;
/// Flag in a record's length field: more records of the same batch follow.
pub const CONTINUES: u32 = 1 << 31;

/// A torn tail found (and cut) at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The journal file.
    pub path: PathBuf,
    /// Offset of the first damaged byte; the file now ends here.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
}

/// What a scan of the journal found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Sequence number before the first record.
    pub base_seq: u64,
    /// Sequence number of the last good record (`base_seq` when empty).
    pub last_seq: u64,
    /// Offset just past the last good record.
    pub end: u64,
    /// A torn tail after `end`, if any.
    pub torn: Option<TornTail>,
}

/// Builds the 32-byte header for a journal continuing after `base_seq`.
pub fn header(base_seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base_seq.to_le_bytes());
    let sum = xxh3_64(&h[..24]);
    h[24..32].copy_from_slice(&sum.to_le_bytes());
    h
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// One record that passed its checks.
struct Rec {
    next: usize,
    continues: bool,
}

/// Reads the record at `pos`, expecting sequence `expect`.
fn record_at(data: &[u8], pos: usize, expect: u64) -> Result<Rec, Corruption> {
    if data.len() - pos < RECORD_HEADER {
        return Err(Corruption::Truncated);
    }
    let sum = u64_at(data, pos);
    let raw = u32_at(data, pos + 8);
    let len = (raw & !CONTINUES) as usize;
    let seq = u64_at(data, pos + 12);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(Corruption::BadLength);
    }
    let end = pos + RECORD_HEADER + len;
    if end > data.len() {
        return Err(Corruption::Truncated);
    }
    if xxh3_64(&data[pos + 8..end]) != sum {
        return Err(Corruption::RecordChecksum);
    }
    if seq != expect {
        return Err(Corruption::SequenceGap);
    }
    Ok(Rec { next: end, continues: raw & CONTINUES != 0 })
}

/// True when any offset after `from` holds a valid-looking *committed* record (one that
/// ends a batch) with sequence ≥ `expect`. Only run after a damaged record, so the cost
/// (a scan of the rest) is paid once. Uncommitted records after damage are part of the
/// torn tail: their batch was never acknowledged.
fn valid_record_after(data: &[u8], from: usize, expect: u64) -> bool {
    let mut off = from;
    // At most one record per RECORD_HEADER bytes can follow the damage.
    let max_seq = expect + (data.len().saturating_sub(from) / RECORD_HEADER) as u64 + 1;
    while off + RECORD_HEADER <= data.len() {
        let seq = u64_at(data, off + 12);
        if (expect..=max_seq).contains(&seq) {
            let raw = u32_at(data, off + 8);
            let len = raw as usize;
            if raw & CONTINUES == 0
                && len > 0
                && len <= MAX_PAYLOAD
                && off + RECORD_HEADER + len <= data.len()
                && xxh3_64(&data[off + 8..off + RECORD_HEADER + len]) == u64_at(data, off)
            {
                return true;
            }
        }
        off += 1;
    }
    false
}

/// Whether the damaged last record at `pos` looks like an append that never finished (a
/// torn tail, whose batch was never acknowledged) rather than damage to what was written:
///
/// * the file ends inside it (a process killed while writing);
/// * it reads as zeros from a 512-byte boundary to its end, or from its length field (or a
///   boundary before it) to the end of the file (a power loss after the file grew, before
///   its blocks were written);
/// * its 12-byte head (checksum, length) is part old, part new: the commit's rewrite that
///   clears the batch flag, cut short (or seen half done by a reader without the lock).
///
/// Anything else, such as a flipped bit in a complete record, is corruption: it may hold an
/// acknowledged event, so it is never cut silently. (A flip of the batch flag alone looks
/// exactly like a cut-short commit and stays a torn tail.)
fn torn_like(data: &[u8], pos: usize, what: Corruption) -> bool {
    let zeros = |from: usize, to: usize| data[from..to].iter().all(|&b| b == 0);
    match what {
        Corruption::Truncated => true,
        // Zeros over the length field (from the record or a 512-byte boundary on).
        Corruption::BadLength => std::iter::once(pos)
            .chain((pos.next_multiple_of(512)..pos + 12).step_by(512))
            .any(|z| zeros(z, data.len())),
        Corruption::RecordChecksum => {
            let raw = u32_at(data, pos + 8);
            let end = pos + RECORD_HEADER + (raw & !CONTINUES) as usize;
            // The head with the batch flag set (before the commit) and clear (after it).
            let head = |flag: u32| {
                let mut body = data[pos + 8..end].to_vec();
                body[..4].copy_from_slice(&((raw & !CONTINUES) | flag).to_le_bytes());
                let mut h = [0u8; 12];
                h[..8].copy_from_slice(&xxh3_64(&body).to_le_bytes());
                h[8..].copy_from_slice(&body[..4]);
                h
            };
            let (old, new) = (head(CONTINUES), head(0));
            let got = &data[pos..pos + 12];
            let mixed = (0..=12).any(|k| {
                (got[..k] == new[..k] && got[k..] == old[k..])
                    || (got[..k] == old[..k] && got[k..] == new[k..])
            });
            mixed || (pos.next_multiple_of(512)..end).step_by(512).any(|z| zeros(z, end))
        }
        _ => false,
    }
}

/// Scans journal bytes, calling `each(seq, event)` for every good record, in order.
///
/// # Errors
/// [`StoreError::JournalCorrupt`] for a bad header, a checksummed record that does not
/// decode, a sequence gap, or a damaged record followed by valid data;
/// [`StoreError::Version`] for an unknown format.
pub fn scan(
    path: &Path,
    data: &[u8],
    each: impl FnMut(u64, EventRef<'_>) -> Result<(), StoreError>,
) -> Result<Scan, StoreError> {
    scan_releasing(path, data, false, each)
}

/// [`scan`]; with `release`, `data` is a shared file mapping whose pages are released
/// behind each pass (see [`crate::store::pages`]).
fn scan_releasing(
    path: &Path,
    data: &[u8],
    release: bool,
    mut each: impl FnMut(u64, EventRef<'_>) -> Result<(), StoreError>,
) -> Result<Scan, StoreError> {
    let mut behind = 0usize;
    let mut release_to = |pos: usize| {
        if release && (pos < behind || pos - behind >= crate::store::pages::RELEASE_EVERY) {
            // SAFETY: `release` is only set by `scan_file`, for its shared mapping.
            unsafe { crate::store::pages::release(data, behind.min(pos), pos) };
            behind = pos;
        }
    };
    let corrupt = |offset: usize, what| StoreError::JournalCorrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        what,
    };
    if data.len() < HEADER_LEN || data[..8] != MAGIC {
        return Err(corrupt(0, Corruption::BadMagic));
    }
    if xxh3_64(&data[..24]) != u64_at(data, 24) {
        return Err(corrupt(0, Corruption::HeaderChecksum));
    }
    let version = u32_at(data, 8);
    if version != VERSION {
        return Err(StoreError::Version { path: path.into(), found: version, supported: VERSION });
    }
    let base_seq = u64_at(data, 16);
    // Pass 1: check every record, find the end of the last committed batch.
    let (mut seq, mut pos) = (base_seq, HEADER_LEN);
    let (mut committed_seq, mut committed_end) = (base_seq, HEADER_LEN);
    while pos < data.len() {
        match record_at(data, pos, seq + 1) {
            Ok(rec) => {
                seq += 1;
                pos = rec.next;
                release_to(pos);
                if !rec.continues {
                    (committed_seq, committed_end) = (seq, pos);
                }
            }
            Err(Corruption::SequenceGap) => return Err(corrupt(pos, Corruption::SequenceGap)),
            Err(what) => {
                if valid_record_after(data, pos + 1, seq + 1) || !torn_like(data, pos, what) {
                    return Err(corrupt(pos, what));
                }
                break;
            }
        }
    }
    // Pass 2: hand out the committed records (checksums already verified).
    release_to(0);
    let (mut seq, mut pos) = (base_seq, HEADER_LEN);
    while pos < committed_end {
        release_to(pos);
        let len = (u32_at(data, pos + 8) & !CONTINUES) as usize;
        let payload = &data[pos + RECORD_HEADER..pos + RECORD_HEADER + len];
        let ev = EventRef::decode(payload).ok_or_else(|| corrupt(pos, Corruption::BadPayload))?;
        seq += 1;
        each(seq, ev)?;
        pos += RECORD_HEADER + len;
    }
    debug_assert_eq!(seq, committed_seq);
    let torn = (committed_end < data.len()).then(|| TornTail {
        path: path.to_path_buf(),
        offset: committed_end as u64,
        bytes: (data.len() - committed_end) as u64,
    });
    Ok(Scan { base_seq, last_seq: committed_seq, end: committed_end as u64, torn })
}

/// Reads a whole journal file and scans it (see [`scan`]). A missing file is an error.
///
/// # Errors
/// As [`scan`], plus I/O errors naming the file.
pub fn scan_file(
    path: &Path,
    each: impl FnMut(u64, EventRef<'_>) -> Result<(), StoreError>,
) -> Result<Scan, StoreError> {
    let file = File::open(path).map_err(io("opening", path))?;
    let len = file.metadata().map_err(io("reading metadata of", path))?.len();
    if len == 0 {
        return scan(path, &[], each);
    }
    // SAFETY: the journal is only appended to by the process holding the store lock, and
    // a torn tail beyond what we read is handled like any other; we never hand out slices
    // that outlive this call.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io("mapping", path))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    scan_releasing(path, &map, true, each)
}

/// Like [`scan_file`], but reads the file into memory instead of mapping it: for readers
/// that do not hold the store lock, where a writer may truncate the file (a rolled-back
/// batch, a torn tail cut at open) while it is read, which would fault a mapping.
///
/// # Errors
/// As [`scan`], plus I/O errors naming the file.
pub fn scan_file_unlocked(
    path: &Path,
    each: impl FnMut(u64, EventRef<'_>) -> Result<(), StoreError>,
) -> Result<Scan, StoreError> {
    let data = std::fs::read(path).map_err(io("reading", path))?;
    let mut scan = scan(path, &data, each)?;
    // A torn tail seen without the lock may be an append in progress: not ours to report.
    scan.torn = None;
    Ok(scan)
}

/// Writes a fresh, empty journal continuing after `base_seq`, atomically replacing `path`
/// (temp file, fsync, rename, fsync of the directory).
///
/// # Errors
/// I/O errors naming the file.
pub fn create(path: &Path, base_seq: u64) -> Result<(), StoreError> {
    replace_file(path, &header(base_seq))
}

use crate::store::durable::replace_file;

/// Starts writing `len` bytes at `offset` of `file` to disk without waiting for them
/// (Linux `sync_file_range`), so that a large batch's commit finds little left to flush and
/// the disk works while the import parses. Only a hint: errors are ignored, and durability
/// is still the commit's fsync alone.
fn start_writeback(file: &File, offset: u64, len: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: a system call on an open descriptor we own; no memory is passed to it.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Clears the batch flag of the whole record `r` and rewrites its checksum; returns its new
/// 12-byte head (checksum and length), all a commit changes.
fn commit_record(r: &mut [u8]) -> [u8; 12] {
    let raw = u32_at(r, 8) & !CONTINUES;
    r[8..12].copy_from_slice(&raw.to_le_bytes());
    let sum = xxh3_64(&r[8..]);
    r[..8].copy_from_slice(&sum.to_le_bytes());
    let mut head = [0u8; 12];
    head.copy_from_slice(&r[..12]);
    head
}

/// The open journal, positioned at its end, for appends.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Offset just past the last record written to the file.
    len: u64,
    /// Sequence number of the last record written (pending or synced).
    seq: u64,
    /// Encoded records not yet written to the file.
    pending: Vec<u8>,
    /// Sequence number of the last record in `pending`'s predecessor on disk.
    file_seq: u64,
    /// Length and sequence at the last fsync: what a rollback returns to.
    synced: (u64, u64),
    /// Where the last pushed record starts: in `pending`, or in the file.
    last_at: Option<LastAt>,
    /// A copy of the last pushed record once it is in the file (not in `pending`), to
    /// rewrite its header at commit.
    last_record: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum LastAt {
    Pending(usize),
    File(u64),
}

impl Journal {
    /// Opens the journal at `path` for appending after a [`scan`] that ended at `end`
    /// with `last_seq`, cutting a torn tail if there was one.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn open_at(path: &Path, scan: &Scan) -> Result<Journal, StoreError> {
        let file = OpenOptions::new().write(true).open(path).map_err(io("opening", path))?;
        if scan.torn.is_some() {
            file.set_len(scan.end).map_err(io("truncating torn tail of", path))?;
            file.sync_all().map_err(io("fsync of", path))?;
        }
        let j = Journal {
            path: path.to_path_buf(),
            file,
            len: scan.end,
            seq: scan.last_seq,
            pending: Vec::with_capacity(1 << 16),
            file_seq: scan.last_seq,
            synced: (scan.end, scan.last_seq),
            last_at: None,
            last_record: Vec::with_capacity(256),
        };
        Ok(j)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence number of the last record appended (acknowledged or not).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Bytes in the file (records written, not counting pending ones).
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Encodes `ev` as the next record, in memory; returns its sequence number. Nothing is
    /// durable until [`Journal::sync`].
    ///
    /// # Errors
    /// I/O errors when the pending buffer is written out to the file.
    pub fn push(&mut self, ev: EventRef<'_>) -> Result<u64, StoreError> {
        self.seq += 1;
        let start = self.pending.len();
        self.pending.extend_from_slice(&[0u8; RECORD_HEADER]);
        ev.encode(&mut self.pending);
        let len = (self.pending.len() - start - RECORD_HEADER) as u32 | CONTINUES;
        self.pending[start + 8..start + 12].copy_from_slice(&len.to_le_bytes());
        self.pending[start + 12..start + 20].copy_from_slice(&self.seq.to_le_bytes());
        let sum = xxh3_64(&self.pending[start + 8..]);
        self.pending[start..start + 8].copy_from_slice(&sum.to_le_bytes());
        self.last_at = Some(LastAt::Pending(start));
        if self.pending.len() >= 4 << 20 {
            let (at, len) = (self.len, self.pending.len());
            self.write_pending()?;
            start_writeback(&self.file, at, len);
        }
        Ok(self.seq)
    }

    fn write_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        use std::io::{Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(self.len)).map_err(io("seeking in", &self.path))?;
        self.file.write_all(&self.pending).map_err(io("appending to", &self.path))?;
        if let Some(LastAt::Pending(start)) = self.last_at {
            // Kept to rewrite its header at commit (copied once per write, not per push).
            self.last_record.clear();
            self.last_record.extend_from_slice(&self.pending[start..]);
            self.last_at = Some(LastAt::File(self.len + start as u64));
        }
        self.len += self.pending.len() as u64;
        self.file_seq = self.seq;
        self.pending.clear();
        Ok(())
    }

    /// Writes pending records and fsyncs: after `Ok`, every pushed record is durable.
    ///
    /// # Errors
    /// I/O errors naming the file; the records are then *not* acknowledged.
    pub fn sync(&mut self) -> Result<u64, StoreError> {
        if self.seq == self.synced.1 {
            return Ok(self.seq);
        }
        // Commit: clear CONTINUES on the last record, so the batch ends there.
        match self.last_at.take() {
            Some(LastAt::Pending(start)) => {
                commit_record(&mut self.pending[start..]);
                self.write_pending()?;
            }
            Some(LastAt::File(at)) => {
                let head = commit_record(&mut self.last_record);
                // The batch's records must be durable before the record that commits them,
                // or a power loss could leave a commit after a hole.
                self.write_pending()?;
                self.file.sync_data().map_err(io("fsync of", &self.path))?;
                use std::os::unix::fs::FileExt;
                self.file.write_all_at(&head, at).map_err(io("committing to", &self.path))?;
            }
            None => self.write_pending()?,
        }
        self.file.sync_data().map_err(io("fsync of", &self.path))?;
        self.synced = (self.len, self.seq);
        Ok(self.seq)
    }

    /// Drops every record pushed since the last [`Journal::sync`] (memory and file).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn rollback(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        self.last_at = None;
        let (len, seq) = self.synced;
        if self.len != len {
            self.file.set_len(len).map_err(io("truncating", &self.path))?;
            self.file.sync_data().map_err(io("fsync of", &self.path))?;
        }
        self.len = len;
        self.seq = seq;
        self.file_seq = seq;
        Ok(())
    }

    /// Sequence number of the last record made durable.
    pub fn synced_seq(&self) -> u64 {
        self.synced.1
    }

    /// True when records have been pushed but not yet synced.
    pub fn has_unsynced(&self) -> bool {
        self.synced.1 != self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::E164;

    fn stop(v: u64, t: i64) -> crate::store::event::Event {
        crate::store::event::Event::Stop(crate::store::event::Stop {
            number: E164::from_u64(v).unwrap(),
            brand: "ACME".into(),
            stopped_at: t,
        })
    }

    fn write_journal(dir: &Path, n: u64) -> PathBuf {
        let p = dir.join("journal");
        create(&p, 0).unwrap();
        let s = scan_file(&p, |_, _| Ok(())).unwrap();
        let mut j = Journal::open_at(&p, &s).unwrap();
        for i in 0..n {
            j.push(stop(4790000000 + i, 10 + i as i64).as_ref()).unwrap();
            j.sync().unwrap();
        }
        p
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 2);
        let s = scan_file(&p, |_, _| Ok(())).unwrap();
        let mut j = Journal::open_at(&p, &s).unwrap();
        // Large enough that the last record is already in the file at commit.
        for i in 0..100_000 {
            j.push(stop(4791000000 + i, 1).as_ref()).unwrap();
        }
        j.write_pending().unwrap();
        // Not committed: a reader (and a reopen) sees only the two committed records.
        let s = scan_file(&p, |_, _| Ok(())).unwrap();
        assert_eq!(s.last_seq, 2);
        assert!(s.torn.is_some());
        j.sync().unwrap();
        let s = scan_file(&p, |_, _| Ok(())).unwrap();
        assert_eq!((s.last_seq, s.torn), (100_002, None));
        // Damage inside the committed batch is corruption, not a torn tail.
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 1;
        let r = scan(&p, &b, |_, _| Ok(()));
        assert!(matches!(r, Err(StoreError::JournalCorrupt { .. })), "{r:?}");
    }

    #[test]
    fn append_and_replay() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 10);
        let mut seen = Vec::new();
        let s = scan_file(&p, |seq, ev| {
            seen.push((seq, ev.to_owned()));
            Ok(())
        })
        .unwrap();
        assert_eq!(s.last_seq, 10);
        assert!(s.torn.is_none());
        assert_eq!(seen[3], (4, stop(4790000003, 13)));
    }

    #[test]
    fn torn_tail_is_cut_at_every_length() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 3);
        let full = std::fs::read(&p).unwrap();
        let rec = (full.len() - HEADER_LEN) / 3;
        for cut in HEADER_LEN + 2 * rec + 1..full.len() {
            let s = scan(&p, &full[..cut], |_, _| Ok(())).unwrap();
            assert_eq!(s.last_seq, 2, "cut {cut}");
            assert_eq!(s.torn.as_ref().unwrap().offset as usize, HEADER_LEN + 2 * rec);
        }
        // A zero-filled tail (power loss after the size grew) is torn, too.
        let mut z = full.clone();
        z.extend_from_slice(&[0u8; 100]);
        assert_eq!(scan(&p, &z, |_, _| Ok(())).unwrap().last_seq, 3);
    }

    #[test]
    fn flipped_byte_in_the_middle_is_an_error_with_offset() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 5);
        let full = std::fs::read(&p).unwrap();
        let rec = (full.len() - HEADER_LEN) / 5;
        for i in HEADER_LEN..HEADER_LEN + 4 * rec {
            let mut b = full.clone();
            b[i] ^= 0x40;
            let off = HEADER_LEN + (i - HEADER_LEN) / rec * rec;
            match scan(&p, &b, |_, _| Ok(())) {
                Err(StoreError::JournalCorrupt { offset, .. }) => {
                    assert_eq!(offset as usize, off, "byte {i}")
                }
                other => panic!("byte {i}: {other:?}"),
            }
        }
        for i in 0..HEADER_LEN {
            let mut b = full.clone();
            b[i] ^= 1;
            assert!(scan(&p, &b, |_, _| Ok(())).is_err(), "header byte {i}");
        }
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_corruption_not_a_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 5);
        let full = std::fs::read(&p).unwrap();
        let rec = (full.len() - HEADER_LEN) / 5;
        let last = HEADER_LEN + 4 * rec;
        for i in last..full.len() {
            for bit in [0x01u8, 0x40] {
                let mut b = full.clone();
                b[i] ^= bit;
                let len = u32_at(&b, last + 8) & !CONTINUES;
                match scan(&p, &b, |_, _| Ok(())) {
                    Err(StoreError::JournalCorrupt { offset, .. }) => {
                        assert_eq!(offset as usize, last, "byte {i}")
                    }
                    // A longer length runs past the end of the file: a cut-short append.
                    Ok(s) if last + RECORD_HEADER + len as usize > b.len() => {
                        assert_eq!(s.last_seq, 4, "byte {i}")
                    }
                    other => panic!("byte {i} ^ {bit:#x}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_half_done_commit_or_unwritten_blocks_are_a_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 3);
        let full = std::fs::read(&p).unwrap();
        let rec = (full.len() - HEADER_LEN) / 3;
        let last = HEADER_LEN + 2 * rec;
        // The last record as it was before its commit: batch flag set, checksum to match.
        let mut before = full.clone();
        let raw = u32_at(&full, last + 8) | CONTINUES;
        before[last + 8..last + 12].copy_from_slice(&raw.to_le_bytes());
        let sum = xxh3_64(&before[last + 8..]);
        before[last..last + 8].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(scan(&p, &before, |_, _| Ok(())).unwrap().last_seq, 2, "uncommitted");
        // The commit's 12-byte rewrite cut anywhere, either part first.
        for k in 0..=12 {
            for (a, b) in [(&full, &before), (&before, &full)] {
                let mut mix = full.clone();
                mix[last..last + k].copy_from_slice(&a[last..last + k]);
                mix[last + k..last + 12].copy_from_slice(&b[last + k..last + 12]);
                let s = scan(&p, &mix, |_, _| Ok(())).unwrap();
                assert!(s.last_seq == 2 || (s.last_seq == 3 && mix == full), "k {k}");
            }
        }
        // Zeros after the last record (the file grew, nothing was written) ...
        let mut z = full.clone();
        z.resize(1024, 0);
        assert_eq!(scan(&p, &z, |_, _| Ok(())).unwrap().last_seq, 3);
        // ... or from a 512-byte boundary inside it to its end.
        // The first record that crosses 512 is the last of a journal of n records.
        let n = (1..).find(|&n| (HEADER_LEN + n * rec) % 512 < rec).unwrap();
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), n as u64);
        let full = std::fs::read(&p).unwrap();
        let last = HEADER_LEN + (n - 1) * rec;
        let boundary = (last + 1).next_multiple_of(512);
        assert!(boundary < full.len(), "the last record crosses a 512-byte boundary");
        let mut zr = full.clone();
        zr[boundary..].fill(0);
        assert_eq!(scan(&p, &zr, |_, _| Ok(())).unwrap().last_seq, n as u64 - 1);
        // Zeros that do not reach its end are damage.
        let mut hole = full.clone();
        hole[boundary..full.len() - 1].fill(0);
        assert!(scan(&p, &hole, |_, _| Ok(())).is_err());
    }

    #[test]
    fn rollback_forgets_unsynced() {
        let d = tempfile::tempdir().unwrap();
        let p = write_journal(d.path(), 2);
        let s = scan_file(&p, |_, _| Ok(())).unwrap();
        let mut j = Journal::open_at(&p, &s).unwrap();
        for i in 0..200_000 {
            j.push(stop(4791000000 + i, 1).as_ref()).unwrap();
        }
        j.rollback().unwrap();
        assert_eq!(j.last_seq(), 2);
        assert_eq!(scan_file(&p, |_, _| Ok(())).unwrap().last_seq, 2);
    }
}
