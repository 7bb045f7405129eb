//! The snapshot: an immutable, memory-mapped, checksummed file holding every event folded
//! into flat hash tables (for the hot path) and in full (as evidence).
//!
//! Two layers, as in `fst`: [`format`](mod@format) knows bytes; [`Snapshot`] is the reader most code
//! uses. [`Snapshot::new`] is cheap and checks structure (magic, version, header checksum,
//! section bounds); [`Snapshot::verify_hot`] checks every block the hot path reads and
//! [`Snapshot::verify`] every block. [`map_snapshot`] does `new` + `verify_hot`, so a
//! mapped snapshot never serves unverified bytes; evidence blocks are verified on first
//! evidence access.

pub mod build;
pub mod format;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;
use xxhash_rust::xxh3::xxh3_64;

use self::format::{BLOCK_SIZE, EVIDENCE_LEN, EvidenceRec, HEADER_LEN, SLOT_LEN, Slot, field};
use crate::hint::prefetch;
use crate::store::error::{Corruption, StoreError, io};

/// [`Probe::at`] of a number whose tags show it is not in the table.
const ABSENT: u64 = u64::MAX;

/// Where a lookup in three stages stands after its second (see [`Snapshot::slot_next`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    hash: u64,
    at: u64,
}

#[derive(Clone, Copy, Debug)]
struct ScopeInfo {
    brand: u32,
    purpose: u32,
    off: usize,
    cap: u64,
    entries: u64,
    /// Offset of the table's tag bytes; 0 = none (a snapshot written before tags).
    tags: usize,
}

/// A read-only snapshot over bytes `D` (a `Vec<u8>` in tests, an `Mmap` in production).
#[derive(Debug)]
pub struct Snapshot<D> {
    data: D,
    path: PathBuf,
    generation: u64,
    last_seq: u64,
    strings: Vec<String>,
    ids: HashMap<String, u32>,
    scopes: Vec<ScopeInfo>,
    scope_index: HashMap<(u32, u32), usize>,
    stops_off: usize,
    stops_cap: u64,
    /// Relationships table (offset, capacity); capacity 0 = no section.
    rels: (usize, u64),
    evidence_off: usize,
    evidence_count: usize,
    index: (usize, usize),
    stats: (usize, usize),
    sums_off: usize,
    n_blocks: usize,
    hot_start: usize,
    suppress: (usize, usize),
    evidence_checked: OnceLock<Result<(), u64>>,
}

/// One scope of a snapshot, for `info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeSummary {
    /// Brand.
    pub brand: String,
    /// Purpose.
    pub purpose: String,
    /// Numbers in the table.
    pub entries: u64,
    /// Table slots.
    pub capacity: u64,
}

impl<D: AsRef<[u8]>> Snapshot<D> {
    /// Reads the header and section directory of `data`, checking structure only.
    /// `path` names the file in errors.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] with the offset of the bad structure, or
    /// [`StoreError::Version`] for a format this build does not read.
    pub fn new(data: D, path: impl Into<PathBuf>) -> Result<Snapshot<D>, StoreError> {
        let path = path.into();
        let b = data.as_ref();
        let bad = |offset: usize, what| StoreError::SnapshotCorrupt {
            path: path.clone(),
            offset: offset as u64,
            what,
        };
        if b.len() < HEADER_LEN || b[..8] != format::MAGIC {
            return Err(bad(0, Corruption::BadMagic));
        }
        let h64 = |at: usize| format::u64_at(b, at).unwrap_or(u64::MAX);
        if xxh3_64(&b[..field::HEADER_CHECKSUM]) != h64(field::HEADER_CHECKSUM) {
            return Err(bad(0, Corruption::HeaderChecksum));
        }
        let version = format::u32_at(b, field::VERSION).unwrap_or(0);
        if version != format::VERSION {
            let supported = format::VERSION;
            return Err(StoreError::Version { path, found: version, supported });
        }
        if h64(field::FILE_LEN) != b.len() as u64 {
            return Err(bad(field::FILE_LEN, Corruption::Truncated));
        }
        if format::u32_at(b, field::BLOCK_SIZE) != Some(BLOCK_SIZE as u32) {
            return Err(bad(field::BLOCK_SIZE, Corruption::BadStructure));
        }
        let to_usize =
            |v: u64, at: usize| usize::try_from(v).map_err(|_| bad(at, Corruption::BadStructure));
        let sums_off = to_usize(h64(field::SUMS), field::SUMS)?;
        let n_blocks = to_usize(h64(field::SUMS + 8), field::SUMS)?;
        if sums_off < HEADER_LEN
            || n_blocks != (sums_off - HEADER_LEN).div_ceil(BLOCK_SIZE)
            || n_blocks.checked_mul(8).and_then(|n| n.checked_add(sums_off)) != Some(b.len())
        {
            return Err(bad(field::SUMS, Corruption::BadStructure));
        }
        if xxh3_64(&b[sums_off..]) != h64(field::SUMS_CHECKSUM) {
            return Err(bad(sums_off, Corruption::BlockChecksum));
        }
        // Every section lies in [HEADER_LEN, sums_off).
        let section = |at: usize, unit: u64| -> Result<(usize, usize), StoreError> {
            let off = h64(at);
            let len = h64(at + 8).checked_mul(unit).ok_or(bad(at, Corruption::BadStructure))?;
            match off.checked_add(len) {
                Some(end) if off >= HEADER_LEN as u64 && end <= sums_off as u64 => {
                    Ok((off as usize, len as usize))
                }
                _ => Err(bad(at, Corruption::BadStructure)),
            }
        };
        let (evidence_off, ev_len) = section(field::EVIDENCE, EVIDENCE_LEN as u64)?;
        let stats = section(field::STATS, 1)?;
        let index = section(field::INDEX, 1)?;
        let (strings_off, strings_len) = section(field::STRINGS, 1)?;
        let (scopes_off, scopes_len) = section(field::SCOPES, format::SCOPE_LEN as u64)?;
        let (stops_off, _) = section(field::STOPS, format::STOP_SLOT_LEN as u64)?;
        let stops_cap = h64(field::STOPS + 8);
        let rels = if h64(field::RELATIONSHIPS) == 0 && h64(field::RELATIONSHIPS + 8) == 0 {
            (0, 0)
        } else {
            let (off, _) = section(field::RELATIONSHIPS, format::REL_SLOT_LEN as u64)?;
            let cap = h64(field::RELATIONSHIPS + 8);
            if cap == 0 || off < to_usize(h64(field::HOT_START), field::HOT_START)? {
                return Err(bad(field::RELATIONSHIPS, Corruption::BadStructure));
            }
            (off, cap)
        };
        let hot_start = to_usize(h64(field::HOT_START), field::HOT_START)?;
        // Absent (0, 0) when nothing was ever erased.
        let suppress = if h64(field::SUPPRESS + 8) == 0 {
            (0, 0)
        } else {
            let s = section(field::SUPPRESS, crate::store::suppress::ENTRY_LEN as u64)?;
            if s.0 < hot_start {
                return Err(bad(field::SUPPRESS, Corruption::BadStructure));
            }
            s
        };
        if stops_cap == 0
            || hot_start < evidence_off + ev_len
            || hot_start > stats.0
            || index.0 + index.1 > hot_start
        {
            return Err(bad(field::STOPS, Corruption::BadStructure));
        }

        let mut strings = Vec::new();
        let mut r = &b[strings_off..strings_off + strings_len];
        let count = r.get(..4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes);
        let count = count.ok_or(bad(strings_off, Corruption::BadStructure))?;
        r = &r[4..];
        for _ in 0..count {
            let s = (|| {
                let n = u16::from_le_bytes(r.get(..2)?.try_into().ok()?) as usize;
                let s = std::str::from_utf8(r.get(2..2 + n)?).ok()?;
                r = &r[2 + n..];
                Some(s.to_string())
            })();
            strings.push(s.ok_or(bad(strings_off, Corruption::BadStructure))?);
        }
        let ids = strings.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();

        let with_tags = match h64(field::TAGS) {
            0 => false,
            1 => true,
            _ => return Err(bad(field::TAGS, Corruption::BadStructure)),
        };
        let mut scopes = Vec::new();
        let mut scope_index = HashMap::new();
        for i in 0..scopes_len / format::SCOPE_LEN {
            let at = scopes_off + i * format::SCOPE_LEN;
            let mut s = ScopeInfo {
                brand: format::u32_at(b, at).unwrap_or(u32::MAX),
                purpose: format::u32_at(b, at + 4).unwrap_or(u32::MAX),
                off: to_usize(h64(at + 8), at)?,
                cap: h64(at + 16),
                entries: h64(at + 24),
                tags: 0,
            };
            let mut end =
                s.cap.checked_mul(SLOT_LEN as u64).and_then(|l| l.checked_add(s.off as u64));
            if with_tags {
                end = end.and_then(|e| format::align64(e).checked_add(s.cap));
                s.tags = end.map_or(0, |e| (e - s.cap) as usize);
            }
            if s.cap == 0
                || s.entries >= s.cap
                || !s.off.is_multiple_of(64)
                || s.off < hot_start
                || end.is_none_or(|e| e > sums_off as u64)
                || s.brand as usize >= strings.len()
                || s.purpose as usize >= strings.len()
            {
                return Err(bad(at, Corruption::BadStructure));
            }
            scope_index.insert((s.brand, s.purpose), scopes.len());
            scopes.push(s);
        }
        Ok(Snapshot {
            generation: h64(field::GENERATION),
            last_seq: h64(field::LAST_SEQ),
            data,
            path,
            strings,
            ids,
            scopes,
            scope_index,
            stops_off,
            stops_cap,
            rels,
            evidence_off,
            evidence_count: ev_len / EVIDENCE_LEN,
            index,
            stats,
            sums_off,
            n_blocks,
            hot_start,
            suppress,
            evidence_checked: OnceLock::new(),
        })
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// Checks blocks `range`, on up to two threads; returns the offset of the first bad one.
    fn check_blocks(&self, range: std::ops::Range<usize>) -> Result<(), u64> {
        let b = self.bytes();
        let sums_off = self.sums_off;
        let check = move |r: std::ops::Range<usize>| -> Result<(), u64> {
            for i in r {
                let start = HEADER_LEN + i * BLOCK_SIZE;
                let end = (start + BLOCK_SIZE).min(sums_off);
                let want = format::u64_at(b, sums_off + i * 8).unwrap_or(0);
                if xxh3_64(&b[start..end]) != want {
                    return Err(start as u64);
                }
            }
            Ok(())
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        if range.len() < 16 || threads < 2 {
            return check(range);
        }
        let per = range.len().div_ceil(threads);
        let parts: Vec<_> = (0..threads)
            .map(|t| range.start + t * per..(range.start + (t + 1) * per).min(range.end))
            .collect();
        let results: Vec<Result<(), u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = parts.into_iter().map(|r| s.spawn(move || check(r))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(Err(0))).collect()
        });
        results.into_iter().collect()
    }

    fn corrupt(&self, offset: u64) -> StoreError {
        StoreError::SnapshotCorrupt {
            path: self.path.clone(),
            offset,
            what: Corruption::BlockChecksum,
        }
    }

    /// Verifies the checksum of every block the hot path reads (tables, strings, stats).
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] with the offset of the first bad block.
    pub fn verify_hot(&self) -> Result<(), StoreError> {
        let first = (self.hot_start - HEADER_LEN) / BLOCK_SIZE;
        self.check_blocks(first..self.n_blocks).map_err(|o| self.corrupt(o))
    }

    /// Verifies the checksum of every block, evidence included.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] with the offset of the first bad block.
    pub fn verify(&self) -> Result<(), StoreError> {
        self.check_blocks(0..self.n_blocks).map_err(|o| self.corrupt(o))?;
        let _ = self.evidence_checked.set(Ok(()));
        Ok(())
    }

    fn verify_evidence(&self) -> Result<(), StoreError> {
        let r = self.evidence_checked.get_or_init(|| {
            let end = self.hot_start.saturating_sub(HEADER_LEN).div_ceil(BLOCK_SIZE);
            self.check_blocks(0..end.min(self.n_blocks))
        });
        r.map_err(|o| self.corrupt(o))
    }

    /// The generation number (1 for the first compaction).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The last journal sequence number folded into this snapshot.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The file this snapshot was read from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Always false: a valid snapshot has at least a header.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The interned strings (brands, purposes, channels, methods, …); ids are indices.
    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    /// The id of an interned string.
    pub fn string_id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string with id `id` (`""` if out of range; ids come from verified data).
    pub fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
    }

    /// The table index for (brand, purpose) ids, if the snapshot has one.
    pub fn scope_of(&self, brand: u32, purpose: u32) -> Option<usize> {
        self.scope_index.get(&(brand, purpose)).copied()
    }

    /// (brand, purpose) of every table with its size.
    pub fn scopes(&self) -> Vec<ScopeSummary> {
        self.scopes
            .iter()
            .map(|s| ScopeSummary {
                brand: self.string(s.brand).to_string(),
                purpose: self.string(s.purpose).to_string(),
                entries: s.entries,
                capacity: s.cap,
            })
            .collect()
    }

    /// The folded slot of `number` in table `scope`: one hash, a scan of a few tag bytes,
    /// and only the slots whose tag matches (usually one cache line if the number is there,
    /// none if it is not).
    #[inline]
    pub fn slot(&self, scope: usize, number: u64) -> Option<Slot> {
        self.slot_finish(scope, number, self.slot_next(scope, self.slot_start(scope, number)))
    }

    /// Stage 1 of a lookup in three stages, a few lookups apart (so that each stage's read
    /// has arrived when the next stage needs it; [`slot`](Self::slot) runs all three at
    /// once): prefetches what looking up `number` in table `scope` reads first (its tags,
    /// or without tags its home slot and the two lines after it) and returns the token for
    /// [`slot_next`](Self::slot_next).
    #[inline]
    pub fn slot_start(&self, scope: usize, number: u64) -> Probe {
        let hash = format::hash_number(number);
        let probe = Probe { hash, at: 0 };
        let Some(s) = self.scopes.get(scope) else { return probe };
        let home = format::home(hash, s.cap) as usize;
        let b = self.bytes();
        if s.tags != 0 {
            if let Some(p) = b.get(s.tags + home) {
                prefetch(p);
            }
            return probe;
        }
        // A probe runs past its home slot about half the time at load 0.6, and a number
        // not in the table probes 4.2 slots (135 bytes) on average: fetch three lines.
        let at = s.off + home * SLOT_LEN;
        for line in [at, at + 64, at + 128] {
            if let Some(p) = b.get(line) {
                prefetch(p);
            }
        }
        probe
    }

    /// Stage 2 (see [`slot_start`](Self::slot_start), whose token `probe` is): with tags,
    /// reads the tags stage 1 fetched and prefetches the first slot whose tag matches, so
    /// a number not in the table costs no slot read. Returns the token for
    /// [`slot_finish`](Self::slot_finish): the hash, and the slot its probe goes on from.
    #[inline]
    pub fn slot_next(&self, scope: usize, probe: Probe) -> Probe {
        let hash = probe.hash;
        let Some(s) = self.scopes.get(scope) else { return Probe { hash, at: ABSENT } };
        let mut i = format::home(hash, s.cap);
        if s.tags == 0 {
            return Probe { hash, at: i };
        }
        let b = self.bytes();
        let Some(tags) = b.get(s.tags..s.tags + s.cap as usize) else {
            return Probe { hash, at: i };
        };
        let want = format::tag(hash);
        // Stop at the first match (another is rare: 1 in 255 per slot probed); stage 3
        // finishes a longer probe.
        for _ in 0..8 {
            match tags.get(i as usize) {
                Some(0) => return Probe { hash, at: ABSENT },
                Some(&t) if t == want => {
                    if let Some(p) = b.get(s.off + i as usize * SLOT_LEN) {
                        prefetch(p);
                    }
                    return Probe { hash, at: i };
                }
                Some(_) => {}
                None => break,
            }
            i += 1;
            if i == s.cap {
                i = 0;
            }
        }
        Probe { hash, at: i }
    }

    /// Stage 3 (see [`slot_next`](Self::slot_next)): the folded slot of `number`.
    #[inline]
    pub fn slot_finish(&self, scope: usize, number: u64, probe: Probe) -> Option<Slot> {
        let s = self.scopes.get(scope)?;
        if probe.at == ABSENT || probe.at >= s.cap {
            return None;
        }
        let b = self.bytes();
        let mut i = probe.at;
        if s.tags != 0 {
            let tags = b.get(s.tags..s.tags + s.cap as usize)?;
            let want = format::tag(probe.hash);
            // Load < 1 means an empty slot ends every probe; the bound guards corrupt input.
            for _ in 0..s.cap {
                let t = *tags.get(i as usize)?;
                if t == 0 {
                    return None;
                }
                if t == want {
                    let at = s.off + i as usize * SLOT_LEN;
                    let raw: &[u8; SLOT_LEN] = b.get(at..at + SLOT_LEN)?.try_into().ok()?;
                    if raw[..8] == number.to_le_bytes() {
                        return Some(Slot::decode(raw));
                    }
                }
                i += 1;
                if i == s.cap {
                    i = 0;
                }
            }
            return None;
        }
        // Load < 1 means an empty slot ends every probe; the bound guards corrupt input.
        for _ in 0..s.cap {
            let at = s.off + i as usize * SLOT_LEN;
            let raw: &[u8; SLOT_LEN] = b.get(at..at + SLOT_LEN)?.try_into().ok()?;
            let n = u64::from_le_bytes([
                raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            ]);
            if n == number {
                return Some(Slot::decode(raw));
            }
            if n == 0 {
                return None;
            }
            i += 1;
            if i == s.cap {
                i = 0;
            }
        }
        None
    }

    /// The newest stop of `number` for brand id `brand` (which may be the id of `*`).
    #[inline]
    pub fn stop(&self, number: u64, brand: u32) -> Option<u32> {
        let b = self.bytes();
        let cap = self.stops_cap;
        let mut i = format::home(format::hash_stop(number, brand), cap);
        for _ in 0..cap {
            let at = self.stops_off + i as usize * format::STOP_SLOT_LEN;
            let n = format::u64_at(b, at)?;
            if n == number && format::u32_at(b, at + 8)? == brand {
                return format::u32_at(b, at + 12);
            }
            if n == 0 {
                return None;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        None
    }

    /// The newest customer relationship of `number` with brand id `brand`, if the snapshot
    /// has a relationships section and one for the pair.
    pub fn relationship(&self, number: u64, brand: u32) -> Option<format::RelSlot> {
        let (off, cap) = self.rels;
        if cap == 0 {
            return None;
        }
        let b = self.bytes();
        let mut i = format::home(format::hash_relationship(number, brand), cap);
        for _ in 0..cap {
            let at = off + i as usize * format::REL_SLOT_LEN;
            let n = format::u64_at(b, at)?;
            if n == number && format::u32_at(b, at + 8)? == brand {
                return format::RelSlot::decode(b.get(at..at + format::REL_SLOT_LEN)?);
            }
            if n == 0 {
                return None;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        None
    }

    /// Issues a software prefetch of the home slot of (`number`, `brand`) in the
    /// relationships table, if the snapshot has one.
    #[inline]
    pub fn prefetch_relationship(&self, number: u64, brand: u32) {
        let (off, cap) = self.rels;
        if cap != 0 {
            let i = format::home(format::hash_relationship(number, brand), cap) as usize;
            if let Some(p) = self.bytes().get(off + i * format::REL_SLOT_LEN) {
                prefetch(p);
            }
        }
    }

    /// Every slot of scope table `scope` (for `expiring`): a scan, not for the hot path.
    pub fn scope_slots(&self, scope: usize) -> impl Iterator<Item = Slot> + '_ {
        let s = self.scopes.get(scope).copied();
        let b = self.bytes();
        (0..s.map_or(0, |s| s.cap as usize)).filter_map(move |i| {
            let at = s?.off + i * SLOT_LEN;
            let raw: &[u8; SLOT_LEN] = b.get(at..at + SLOT_LEN)?.try_into().ok()?;
            let slot = Slot::decode(raw);
            (slot.number != 0).then_some(slot)
        })
    }

    /// Table indices of every scope of brand id `brand`, with the purpose string ids.
    pub fn scopes_of_brand(&self, brand: u32) -> Vec<(usize, u32)> {
        self.scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.brand == brand)
            .map(|(i, s)| (i, s.purpose))
            .collect()
    }

    /// Number of evidence records (events folded in).
    pub fn evidence_len(&self) -> usize {
        self.evidence_count
    }

    fn evidence_at(&self, i: usize) -> Option<EvidenceRec> {
        let at = self.evidence_off + i * EVIDENCE_LEN;
        EvidenceRec::decode(self.bytes().get(at..at + EVIDENCE_LEN)?)
    }

    /// The number index (an `fst` map), after verifying the evidence blocks it lies in.
    fn index(&self) -> Result<fst::Map<&[u8]>, StoreError> {
        self.verify_evidence()?;
        let (off, len) = self.index;
        fst::Map::new(&self.bytes()[off..off + len]).map_err(|_| StoreError::SnapshotCorrupt {
            path: self.path.clone(),
            offset: off as u64,
            what: Corruption::BadStructure,
        })
    }

    /// Every evidence record of `number`, in journal order. Verifies the evidence blocks
    /// on first use.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the evidence does not match its checksums.
    pub fn evidence(&self, number: u64) -> Result<Vec<EvidenceRec>, StoreError> {
        let Some(first) = self.index()?.get(number.to_be_bytes()) else {
            return Ok(Vec::new());
        };
        Ok((first as usize..self.evidence_count)
            .map_while(|i| self.evidence_at(i))
            .take_while(|r| r.number == number)
            .collect())
    }

    /// Every number in the snapshot whose E.164 digits start with `digits` (ASCII digits,
    /// no `+`), in ascending order: a range query on the number index per possible length.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the evidence does not match its checksums.
    pub fn numbers_with_prefix(&self, digits: &str) -> Result<Vec<u64>, StoreError> {
        use fst::{IntoStreamer, Streamer};
        let index = self.index()?;
        let mut out = Vec::new();
        let Ok(p) = digits.parse::<u64>() else { return Ok(out) };
        if digits.is_empty() || digits.len() > 15 || digits.starts_with('0') {
            return Ok(out);
        }
        for extra in 0..=(15 - digits.len() as u32) {
            let scale = 10u64.pow(extra);
            let (lo, hi) = (p * scale, (p + 1) * scale);
            let mut s = index.range().ge(lo.to_be_bytes()).lt(hi.to_be_bytes()).into_stream();
            while let Some((k, _)) = s.next() {
                out.push(k.try_into().map(u64::from_be_bytes).unwrap_or(0));
            }
        }
        Ok(out)
    }

    /// All evidence records in (number, seq) order, after verifying them.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the evidence does not match its checksums.
    pub fn all_evidence(&self) -> Result<impl Iterator<Item = EvidenceRec> + '_, StoreError> {
        self.verify_evidence()?;
        Ok((0..self.evidence_count).map_while(|i| self.evidence_at(i)))
    }

    /// The suppression entries (erased numbers, by keyed hash), in stored order.
    pub fn suppressed(&self) -> Vec<crate::store::suppress::Entry> {
        let (off, len) = self.suppress;
        self.bytes()[off..off + len]
            .chunks_exact(crate::store::suppress::ENTRY_LEN)
            .filter_map(crate::store::suppress::Entry::decode)
            .collect()
    }

    /// The counts stored for `info`, as JSON bytes.
    pub fn stats_json(&self) -> &[u8] {
        &self.bytes()[self.stats.0..self.stats.0 + self.stats.1]
    }
}

/// Drops the page-cache pages of `file` (a snapshot just written and fsynced, so they
/// are clean), so the next read fills the cache afresh. Written in many `write` calls, a
/// file is cached in folios of every size; read back through a huge-page mapping (as
/// verifying it does), it is cached in 2 MiB folios, which [`map_snapshot`] maps as huge
/// pages (measured here, warm caches: start-up 14–16 ms against 24–27 ms with 4 KiB folios,
/// 815 page faults against 5,398; a csv run 0.91× the time, clean lines within noise).
/// A hint: failure changes nothing but speed.
pub fn drop_cached(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on a descriptor we own; it only drops clean cache.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Maps the snapshot at `path` and verifies every block the hot path reads.
///
/// # Safety
/// The file must not change while mapped: published snapshots are only ever replaced by
/// rename, never written in place.
///
/// # Errors
/// I/O errors, [`StoreError::SnapshotCorrupt`] naming file and offset, or
/// [`StoreError::Version`].
pub unsafe fn map_snapshot(path: &Path) -> Result<Snapshot<Mmap>, StoreError> {
    let file = File::open(path).map_err(io("opening", path))?;
    // SAFETY: see the function's contract; the mapping is read-only.
    let map = unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(io("mapping", path))?;
    let snap = Snapshot::new(map, path)?;
    // The hot part (tables) is faulted in by verifying it, on two threads, each reading
    // its half in order (which the kernel reads ahead); the evidence, about half the file,
    // is read only on evidence lookups. (An explicit MADV_POPULATE_READ first made start-up
    // slower: 35 ms against 28 ms warm, 0.33-0.45 s against 0.15-0.20 s from a cold page
    // cache.)
    let page = 4096;
    let start = snap.hot_start / page * page;
    // Probes of the tables are random: on 4 KiB pages nearly each one is a TLB miss (a
    // page walk, nested under virtualisation). Where the page cache holds the file in
    // 2 MiB folios (read by readahead, or written in large blocks as `Builder` does) this
    // lets the kernel map them with huge pages.
    #[cfg(target_os = "linux")]
    let _ = snap.data.advise_range(memmap2::Advice::HugePage, start, snap.data.len() - start);
    snap.verify_hot()?;
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::build::{Builder, Parts, ScopeTable};
    use super::format::{self, Slot, field};
    use super::{HEADER_LEN, Snapshot};
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn build(slots: &[Slot]) -> Vec<u8> {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("snap");
        let b = Builder::create(&path).unwrap();
        let strings = vec!["A".to_string(), "p".to_string(), "*".to_string()];
        b.finish(Parts {
            generation: 1,
            last_seq: 1,
            stats_json: b"{}",
            strings: &strings,
            scopes: vec![ScopeTable { brand: 0, purpose: 1, slots: slots.to_vec() }],
            stops: vec![(4790000001, 0, 7)],
            relationships: Vec::new(),
            suppressed: Vec::new(),
        })
        .unwrap();
        std::fs::read(path).unwrap()
    }

    /// Sets header field TAGS and re-seals the header.
    fn with_tags_field(mut bytes: Vec<u8>, v: u64) -> Vec<u8> {
        bytes[field::TAGS..field::TAGS + 8].copy_from_slice(&v.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..field::HEADER_CHECKSUM]);
        bytes[field::HEADER_CHECKSUM..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Lookups through the tags equal a map, for numbers in and not in the table, and
        /// equal the slot-only probing of snapshots written before tags.
        #[test]
        fn tagged_lookups_equal_a_map_and_the_untagged_probe(
            numbers in proptest::collection::hash_set(1u64..3000, 1..400),
            absent in proptest::collection::vec(3000u64..6000, 0..200),
        ) {
            let slots: Vec<Slot> = numbers
                .iter()
                .map(|&n| Slot { number: 4790000000 + n, stop: n as u32, granted: 1, ..Slot::default() })
                .collect();
            let want: HashMap<u64, Slot> = slots.iter().map(|s| (s.number, *s)).collect();
            let bytes = build(&slots);
            let tagged = Snapshot::new(bytes.clone(), "t").unwrap();
            tagged.verify().unwrap();
            let plain = Snapshot::new(with_tags_field(bytes, 0), "p").unwrap();
            let asks = numbers.iter().chain(&absent).map(|n| 4790000000 + n);
            for n in asks {
                let got = tagged.slot(0, n);
                prop_assert_eq!(got, want.get(&n).copied());
                prop_assert_eq!(plain.slot(0, n), got);
                // The three stages, run apart, find the same slot.
                for snap in [&tagged, &plain] {
                    let probe = snap.slot_next(0, snap.slot_start(0, n));
                    prop_assert_eq!(snap.slot_finish(0, n, probe), got);
                }
                // Hints never fail, whatever the number; an unknown table answers nothing.
                tagged.slot_start(0, n);
                prop_assert_eq!(tagged.slot(9, n), None);
            }
        }
    }

    #[test]
    fn an_unknown_tags_field_is_refused() {
        let bytes = build(&[Slot { number: 4790000001, granted: 1, ..Slot::default() }]);
        assert!(Snapshot::new(with_tags_field(bytes.clone(), 1), "ok").is_ok());
        assert!(Snapshot::new(with_tags_field(bytes, 2), "bad").is_err());
        assert_eq!(format::tag(0x100), 1, "a zero byte maps to 1: 0 marks empty slots");
    }
}
