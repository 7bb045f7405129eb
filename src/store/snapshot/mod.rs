//! The snapshot: an immutable, memory-mapped, checksummed file holding every event in full
//! (the evidence) and folded into per-tenant lists over one shared number table (the part
//! decisions read). See [`format`](mod@format) for the layout and why it is sized by events
//! rather than by brands × stops.
//!
//! Two layers, as in `fst`: [`format`](mod@format) knows bytes; [`Snapshot`] is the reader
//! most code uses. [`Snapshot::new`] is cheap and checks structure (magic, version, header
//! checksum, section bounds); [`Snapshot::verify_hot`] checks the shared part every run
//! reads (strings, names, suppression entries, number table, directories), each list is
//! checked the first time it is asked for ([`Snapshot::consent_list`] and friends), the
//! evidence on first evidence access, and [`Snapshot::verify`] checks every block.
//! [`map_snapshot`] does `new` + `verify_hot`, so a mapped snapshot never serves unverified
//! bytes. Verified blocks are remembered: nothing is hashed twice.

pub mod build;
pub mod format;
mod open;
pub mod run;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::Mmap;
use xxhash_rust::xxh3::xxh3_64;

use self::format::{BLOCK_SIZE, ConsentRec, EvidenceRec, HEADER_LEN, RelRec, TUPLE_LEN, field};
use crate::hint::prefetch;
use crate::store::error::{Corruption, StoreError, io};

/// [`Probe::at`] of a number whose tags show it is not in the table.
const ABSENT: u64 = u64::MAX;

/// Where a number-table lookup in three stages stands (see [`Snapshot::id_start`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    hash: u64,
    at: u64,
}

impl Probe {
    /// The slot the probe stands at: after stage 1 the number's home slot, after stage 2
    /// the first slot whose tag matches; the number's id when stage 3 confirms it (a hint
    /// before that: probes rarely run far). `None` when the tags showed the number is not
    /// in the table.
    #[inline]
    pub fn candidate(&self) -> Option<u32> {
        (self.at != ABSENT).then_some(self.at as u32)
    }
}

/// A sorted id list with records beside it (see [`format`](mod@format)), located and
/// verified: read it with [`Snapshot::list_find`] and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct List {
    ids: usize,
    recs: usize,
    count: usize,
    rec_len: usize,
}

impl List {
    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[derive(Clone, Copy, Debug)]
struct BrandInfo {
    brand: u32,
    stops: (usize, u64),
    rels: (usize, u64),
}

#[derive(Clone, Copy, Debug)]
struct ScopeInfo {
    brand: u32,
    purpose: u32,
    off: usize,
    count: u64,
}

/// A read-only snapshot over bytes `D` (a `Vec<u8>` in tests, an `Mmap` in production).
#[derive(Debug)]
pub struct Snapshot<D> {
    data: D,
    path: PathBuf,
    version: u32,
    generation: u64,
    last_seq: u64,
    /// Strings section (offset, count) of a version-4 snapshot.
    strings: (usize, usize),
    /// The strings of a version-3 snapshot, parsed (it is read only to be migrated).
    legacy_strings: Vec<String>,
    names: (usize, usize),
    /// Number table: key offset, capacity, tag offset, numbers held.
    numbers: (usize, u64, usize, u64),
    brands: Vec<BrandInfo>,
    scopes: Vec<ScopeInfo>,
    scope_index: HashMap<(u32, u32), usize>,
    evidence_off: usize,
    evidence_count: usize,
    /// Bytes per evidence record (version 3 stored them in full).
    rec_len: usize,
    /// Consent text tuples (offset, bytes).
    tuples: (usize, usize),
    index: (usize, usize),
    stats: (usize, usize),
    sums_off: usize,
    n_blocks: usize,
    hot_start: usize,
    lists_start: usize,
    suppress: (usize, usize),
    /// Per checksum block: verified already.
    checked: Box<[AtomicBool]>,
    /// Brand ids by [`crate::brand::fold_key`] of their names, built on first use.
    brand_folds: OnceLock<HashMap<String, Vec<u32>>>,
    /// The data is a shared read-only file mapping: pages read in a whole-file pass may be
    /// released behind the cursor (see [`Snapshot::release_behind`]).
    file_mapped: bool,
}

/// What [`Snapshot::new`] reads of a version-4 snapshot's shared part.
struct Parsed {
    strings: (usize, usize),
    legacy_strings: Vec<String>,
    names: (usize, usize),
    numbers: (usize, u64, usize, u64),
    brands: Vec<BrandInfo>,
    scopes: Vec<ScopeInfo>,
    scope_index: HashMap<(u32, u32), usize>,
    lists_start: usize,
}

/// One scope of a snapshot, for `info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeSummary {
    /// Brand.
    pub brand: String,
    /// Purpose.
    pub purpose: String,
    /// Numbers with an sms consent for the scope.
    pub entries: u64,
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
        let frame = open::Frame::check(data.as_ref(), &path)?;
        let s = frame.sections()?;
        let p = frame.shared(&s)?;
        let (version, sums_off, n_blocks) = (frame.version, frame.sums_off, frame.n_blocks);
        let (generation, last_seq) = (frame.h64(field::GENERATION), frame.h64(field::LAST_SEQ));
        let checked = (0..n_blocks).map(|_| AtomicBool::new(false)).collect();
        Ok(Snapshot {
            data,
            path,
            version,
            generation,
            last_seq,
            strings: p.strings,
            legacy_strings: p.legacy_strings,
            names: p.names,
            numbers: p.numbers,
            brands: p.brands,
            scopes: p.scopes,
            scope_index: p.scope_index,
            evidence_off: s.evidence.0,
            evidence_count: s.evidence.1 / s.rec_len,
            rec_len: s.rec_len,
            tuples: s.tuples,
            index: s.index,
            stats: s.stats,
            sums_off,
            n_blocks,
            hot_start: s.hot_start,
            lists_start: p.lists_start,
            suppress: s.suppress,
            checked,
            brand_folds: OnceLock::new(),
            file_mapped: false,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// True for a version-3 snapshot: read only to be migrated by the next compaction
    /// (evidence, strings and suppression entries); it decides nothing.
    pub fn is_legacy(&self) -> bool {
        self.version == format::LEGACY_VERSION
    }

    /// The format version of the file.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Checks blocks `range` not checked before, on up to four threads; returns the
    /// offset of the first bad one. With `release`, the pages of each checked stretch are
    /// released behind (see [`Snapshot::release_behind`]): a whole-file pass then holds a
    /// few megabytes resident, not the file.
    fn check_blocks(&self, range: std::ops::Range<usize>, release: bool) -> Result<(), u64> {
        let b = self.bytes();
        let sums_off = self.sums_off;
        let checked = &self.checked;
        let release = release && self.file_mapped;
        let check = move |r: std::ops::Range<usize>| -> Result<(), u64> {
            let mut behind = r.start;
            for i in r.clone() {
                if release && i - behind >= RELEASE_BLOCKS {
                    release_pages(b, HEADER_LEN + behind * BLOCK_SIZE, HEADER_LEN + i * BLOCK_SIZE);
                    behind = i;
                }
                if checked.get(i).is_none_or(|c| c.load(Ordering::Relaxed)) {
                    continue;
                }
                let start = HEADER_LEN + i * BLOCK_SIZE;
                let end = (start + BLOCK_SIZE).min(sums_off);
                let want = format::u64_at(b, sums_off + i * 8).unwrap_or(0);
                if xxh3_64(&b[start..end]) != want {
                    return Err(start as u64);
                }
                checked[i].store(true, Ordering::Relaxed);
            }
            if release {
                release_pages(b, HEADER_LEN + behind * BLOCK_SIZE, HEADER_LEN + r.end * BLOCK_SIZE);
            }
            Ok(())
        };
        let range = range.start.min(self.n_blocks)..range.end.min(self.n_blocks);
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

    /// Verifies the blocks holding bytes `[start, end)`, releasing their pages behind
    /// with `release`.
    fn verify_bytes(&self, start: usize, end: usize, release: bool) -> Result<(), StoreError> {
        if end <= start || end <= HEADER_LEN {
            return Ok(());
        }
        let first = start.saturating_sub(HEADER_LEN) / BLOCK_SIZE;
        let last = (end - 1).saturating_sub(HEADER_LEN) / BLOCK_SIZE;
        self.check_blocks(first..last + 1, release).map_err(|o| self.corrupt(o))
    }

    fn corrupt(&self, offset: u64) -> StoreError {
        StoreError::SnapshotCorrupt {
            path: self.path.clone(),
            offset,
            what: Corruption::BlockChecksum,
        }
    }

    /// Verifies the checksum of every block of the shared part every run reads (stats,
    /// strings, names, suppression entries, number table, directories).
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] with the offset of the first bad block.
    pub fn verify_hot(&self) -> Result<(), StoreError> {
        self.verify_bytes(self.hot_start, self.lists_start, false)
    }

    /// Verifies the checksum of every block, evidence and every tenant's lists included.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] with the offset of the first bad block.
    pub fn verify(&self) -> Result<(), StoreError> {
        self.check_blocks(0..self.n_blocks, true).map_err(|o| self.corrupt(o))
    }

    fn verify_evidence(&self) -> Result<(), StoreError> {
        self.verify_bytes(HEADER_LEN, self.hot_start, true)
    }

    /// Marks the data as a shared, read-only mapping of the file (as [`map_snapshot`]
    /// makes): whole-file passes (verifying, reading all evidence) then release the pages
    /// they have read, so that compacting a store of many gigabytes does not hold the
    /// files resident in the process (the page cache keeps them).
    ///
    /// # Safety
    /// `data` must be a `MAP_SHARED` mapping of a file: releasing pages of anonymous or
    /// private memory would zero them.
    pub unsafe fn set_file_mapped(&mut self) {
        self.file_mapped = true;
    }

    /// Releases the resident pages of bytes `[start, end)` (whole pages inside it) from
    /// this process: the next read faults them back in from the page cache, unchanged
    /// (the file is never written in place). Only for file mappings; a hint otherwise.
    fn release_behind(&self, start: usize, end: usize) {
        if self.file_mapped {
            release_pages(self.bytes(), start, end);
        }
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

    /// Number of interned strings (ids are `0..count`).
    pub fn string_count(&self) -> usize {
        if self.is_legacy() { self.legacy_strings.len() } else { self.strings.1 }
    }

    /// Every interned string, in id order (for compaction, which keeps ids stable).
    pub fn strings_vec(&self) -> Vec<String> {
        (0..self.string_count() as u32).map(|i| self.string(i).to_string()).collect()
    }

    /// The id of an interned string (never of `""`).
    pub fn string_id(&self, s: &str) -> Option<u32> {
        if s.is_empty() {
            return None;
        }
        if self.is_legacy() {
            return self.legacy_strings.iter().position(|x| x == s).map(|i| i as u32);
        }
        let (off, len) = self.names;
        // The fst reader trusts its bytes: read them only once verified (cached).
        self.verify_bytes(off, off + len, false).ok()?;
        let names = fst::Map::new(self.bytes().get(off..off + len)?).ok()?;
        names.get(s).and_then(|id| u32::try_from(id).ok())
    }

    /// The string with id `id` (`""` if out of range; ids come from verified data).
    pub fn string(&self, id: u32) -> &str {
        if self.is_legacy() {
            return self.legacy_strings.get(id as usize).map_or("", String::as_str);
        }
        let (off, count) = self.strings;
        let id = id as usize;
        if id >= count {
            return "";
        }
        let b = self.bytes();
        let base = off + 4 * (count + 2);
        let (Some(a), Some(z)) =
            (format::u32_at(b, off + 4 + 4 * id), format::u32_at(b, off + 8 + 4 * id))
        else {
            return "";
        };
        b.get(base + a as usize..base + z as usize)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("")
    }

    /// Names and ids of every brand with stops or customer relationships (`*` included).
    pub fn brand_names(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        let scoped = self.scopes.iter().map(|s| s.brand);
        let mut ids: Vec<u32> = self.brands.iter().map(|b| b.brand).chain(scoped).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|i| (self.string(i), i))
    }

    /// Ids of the other spellings of `brand` among the snapshot's brands (see
    /// [`crate::brand::same_name`]): their stops apply to `brand` too.
    pub fn brand_variants(&self, brand: &str) -> Vec<u32> {
        let folds = self.brand_folds.get_or_init(|| {
            let mut m: HashMap<String, Vec<u32>> = HashMap::new();
            for (name, id) in self.brand_names() {
                m.entry(crate::brand::fold_key(name)).or_default().push(id);
            }
            m
        });
        folds
            .get(&crate::brand::fold_key(brand))
            .map(|ids| ids.iter().copied().filter(|&i| self.string(i) != brand).collect())
            .unwrap_or_default()
    }

    /// The scope index for (brand, purpose) ids, if the snapshot has consents for it.
    pub fn scope_of(&self, brand: u32, purpose: u32) -> Option<usize> {
        self.scope_index.get(&(brand, purpose)).copied()
    }

    /// (brand, purpose) of every scope with its size.
    pub fn scopes(&self) -> Vec<ScopeSummary> {
        self.scopes
            .iter()
            .map(|s| ScopeSummary {
                brand: self.string(s.brand).to_string(),
                purpose: self.string(s.purpose).to_string(),
                entries: s.count,
            })
            .collect()
    }

    /// Scope indices of every scope of brand id `brand`, with the purpose string ids.
    pub fn scopes_of_brand(&self, brand: u32) -> Vec<(usize, u32)> {
        self.scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.brand == brand)
            .map(|(i, s)| (i, s.purpose))
            .collect()
    }

    /// Numbers in the number table.
    pub fn number_count(&self) -> u64 {
        self.numbers.3
    }

    /// Ids run over `0..id_bound()` (the number table's capacity).
    pub fn id_bound(&self) -> u64 {
        self.numbers.1
    }

    /// The id of `number` in the number table (see [`id_start`](Self::id_start)).
    #[inline]
    pub fn id_of(&self, number: u64) -> Option<u32> {
        self.id_finish(number, self.id_next(self.id_start(number)))
    }

    /// The number with id `id` (0 for an empty slot or an id out of range).
    pub fn number_at(&self, id: u32) -> u64 {
        format::u64_at(self.bytes(), self.numbers.0 + id as usize * 8).unwrap_or(0)
    }

    /// Stage 1 of a number-table lookup in three stages, a few lookups apart (so that each
    /// stage's read has arrived when the next needs it; [`id_of`](Self::id_of) runs all
    /// three at once): hashes `number` and prefetches its tag bytes.
    #[inline]
    pub fn id_start(&self, number: u64) -> Probe {
        let hash = format::hash_number(number);
        let (_, cap, tags, _) = self.numbers;
        if cap != 0
            && let Some(p) = self.bytes().get(tags + format::home(hash, cap) as usize)
        {
            prefetch(p);
        }
        // The home slot: the likely id, for prefetching what ids index.
        Probe { hash, at: if cap == 0 { ABSENT } else { format::home(hash, cap) } }
    }

    /// Stage 2: reads the tags stage 1 fetched and prefetches the first key whose tag
    /// matches (a number not in the table reads no key). Its
    /// [`candidate`](Probe::candidate) is then the likely id, for prefetching what the id
    /// indexes.
    #[inline]
    pub fn id_next(&self, probe: Probe) -> Probe {
        let hash = probe.hash;
        let (keys, cap, tags, _) = self.numbers;
        if cap == 0 {
            return Probe { hash, at: ABSENT };
        }
        let b = self.bytes();
        let Some(tags) = b.get(tags..tags + cap as usize) else {
            return Probe { hash, at: ABSENT };
        };
        let want = format::tag(hash);
        let mut i = format::home(hash, cap);
        // Stop at the first match (another is rare: 1 in 255 per slot probed); stage 3
        // finishes a longer probe.
        for _ in 0..cap.min(64) {
            match tags.get(i as usize) {
                Some(0) | None => return Probe { hash, at: ABSENT },
                Some(&t) if t == want => {
                    if let Some(p) = b.get(keys + i as usize * 8) {
                        prefetch(p);
                    }
                    return Probe { hash, at: i };
                }
                Some(_) => {}
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        Probe { hash, at: i }
    }

    /// Stage 3: the id of `number`, if it is in the table.
    #[inline]
    pub fn id_finish(&self, number: u64, probe: Probe) -> Option<u32> {
        let (keys, cap, tags, _) = self.numbers;
        if probe.at == ABSENT || probe.at >= cap {
            return None;
        }
        let b = self.bytes();
        let tags = b.get(tags..tags + cap as usize)?;
        let want = format::tag(probe.hash);
        let mut i = probe.at;
        // Load < 1 means an empty slot ends every probe; the bound guards corrupt input.
        for _ in 0..cap {
            let t = *tags.get(i as usize)?;
            if t == 0 {
                return None;
            }
            if t == want && format::u64_at(b, keys + i as usize * 8)? == number {
                return Some(i as u32);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        None
    }

    /// Checks and returns a list at (`off`, `count`) with `rec_len`-byte records.
    fn list(&self, (off, count): (usize, u64), rec_len: usize) -> Result<List, StoreError> {
        let count = count as usize;
        let recs = format::records_offset(off as u64, count as u64) as usize;
        self.verify_bytes(off, recs + count * rec_len, false)?;
        Ok(List { ids: off, recs, count, rec_len })
    }

    /// The index of brand id `brand` in the brand directory.
    fn brand_entry(&self, brand: u32) -> Option<&BrandInfo> {
        let i = self.brands.binary_search_by_key(&brand, |b| b.brand).ok()?;
        self.brands.get(i)
    }

    /// The consent list of scope `scope` (ids → [`ConsentRec`]), verified.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if its blocks do not match their checksums.
    pub fn consent_list(&self, scope: usize) -> Result<Option<List>, StoreError> {
        let Some(s) = self.scopes.get(scope) else { return Ok(None) };
        self.list((s.off, s.count), format::CONSENT_LEN).map(Some)
    }

    /// The stop list of brand id `brand` (ids → newest stopped_at), verified.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if its blocks do not match their checksums.
    pub fn stop_list(&self, brand: u32) -> Result<Option<List>, StoreError> {
        let Some(b) = self.brand_entry(brand) else { return Ok(None) };
        self.list(b.stops, 4).map(Some)
    }

    /// The relationship list of brand id `brand` (ids → [`RelRec`]), verified.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if its blocks do not match their checksums.
    pub fn rel_list(&self, brand: u32) -> Result<Option<List>, StoreError> {
        let Some(b) = self.brand_entry(brand) else { return Ok(None) };
        self.list(b.rels, format::REL_LEN).map(Some)
    }

    /// The id of entry `i` of `list`.
    #[inline]
    pub fn list_id(&self, list: &List, i: usize) -> u32 {
        format::u32_at(self.bytes(), list.ids + 4 * i).unwrap_or(u32::MAX)
    }

    /// The record bytes of entry `i` of `list` (empty past the end).
    #[inline]
    pub fn list_rec(&self, list: &List, i: usize) -> &[u8] {
        let at = list.recs + i * list.rec_len;
        self.bytes().get(at..at + list.rec_len).unwrap_or(&[])
    }

    /// The entry of `list` with id `id` (a binary search).
    #[inline]
    pub fn list_find(&self, list: &List, id: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, list.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.list_id(list, mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Prefetches the record of entry `i` of `list`: both its cache lines where it spans
    /// two (a third of 20-byte consent records do; the mapping starts on a page, so offsets
    /// and addresses share their line boundaries).
    #[inline]
    pub fn prefetch_rec(&self, list: &List, i: usize) {
        let at = list.recs + i * list.rec_len;
        let b = self.bytes();
        if let Some(p) = b.get(at) {
            prefetch(p);
        }
        let last = at + list.rec_len.saturating_sub(1);
        if last / 64 != at / 64
            && let Some(p) = b.get(last)
        {
            prefetch(p);
        }
    }

    /// The consent record of entry `i` of a consent list.
    #[inline]
    pub fn consent_at(&self, list: &List, i: usize) -> Option<ConsentRec> {
        ConsentRec::decode(self.list_rec(list, i))
    }

    /// The stopped_at of entry `i` of a stop list.
    #[inline]
    pub fn stop_at(&self, list: &List, i: usize) -> Option<u32> {
        format::u32_at(self.list_rec(list, i), 0)
    }

    /// The newest stop of `number` for brand id `brand` (which may be the id of `*`): a
    /// lookup for the cold path.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the brand's stop list is damaged.
    pub fn stop(&self, number: u64, brand: u32) -> Result<Option<u32>, StoreError> {
        let Some(list) = self.stop_list(brand)? else { return Ok(None) };
        let Some(id) = self.id_of(number) else { return Ok(None) };
        Ok(self.list_find(&list, id).and_then(|i| self.stop_at(&list, i)))
    }

    /// The newest customer relationship of `number` with brand id `brand`.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the brand's relationship list is damaged.
    pub fn relationship(&self, number: u64, brand: u32) -> Result<Option<RelRec>, StoreError> {
        let Some(list) = self.rel_list(brand)? else { return Ok(None) };
        let Some(id) = self.id_of(number) else { return Ok(None) };
        Ok(self.list_find(&list, id).and_then(|i| RelRec::decode(self.list_rec(&list, i))))
    }

    /// Every (number, consent) of scope `scope` (for `expiring`): a scan, not for the
    /// hot path.
    ///
    /// # Errors
    /// [`StoreError::SnapshotCorrupt`] if the scope's list is damaged.
    pub fn scope_consents(&self, scope: usize) -> Result<Vec<(u64, ConsentRec)>, StoreError> {
        let Some(list) = self.consent_list(scope)? else { return Ok(Vec::new()) };
        Ok((0..list.len())
            .filter_map(|i| {
                Some((self.number_at(self.list_id(&list, i)), self.consent_at(&list, i)?))
            })
            .collect())
    }

    /// Number of evidence records (events folded in).
    pub fn evidence_len(&self) -> usize {
        self.evidence_count
    }

    fn evidence_at(&self, i: usize) -> Option<EvidenceRec> {
        let at = self.evidence_off + i * self.rec_len;
        let b = self.bytes().get(at..at + self.rec_len)?;
        if self.is_legacy() {
            return EvidenceRec::decode(b);
        }
        let (off, len) = self.tuples;
        EvidenceRec::decode_packed(b, |t| {
            let at = off + t as usize * TUPLE_LEN;
            if at + TUPLE_LEN > off + len {
                return None;
            }
            let u = |k: usize| format::u32_at(self.bytes(), at + 4 * k);
            Some([u(0)?, u(1)?, u(2)?, u(3)?])
        })
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
        let (off, len) = (self.evidence_off, self.rec_len);
        let every = (RELEASE_BLOCKS * BLOCK_SIZE / len.max(1)).max(1);
        Ok((0..self.evidence_count).map_while(move |i| {
            if i > 0 && i % every == 0 {
                self.release_behind(off + (i - every) * len, off + i * len);
            }
            self.evidence_at(i)
        }))
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

/// Checksum blocks a whole-file pass reads before it releases them (see
/// [`Snapshot::release_behind`]).
const RELEASE_BLOCKS: usize = crate::store::pages::RELEASE_EVERY / BLOCK_SIZE;

/// Releases the pages of `b[start..end]`: `b` is a snapshot's data marked
/// [`Snapshot::set_file_mapped`].
fn release_pages(b: &[u8], start: usize, end: usize) {
    // SAFETY: only called for snapshots whose data is a shared file mapping.
    unsafe { crate::store::pages::release(b, start, end) }
}

/// Parses a version-3 strings section: count u32, then (len u16, UTF-8 bytes)*.
fn legacy_strings(mut r: &[u8]) -> Option<Vec<String>> {
    let count = u32::from_le_bytes(r.get(..4)?.try_into().ok()?);
    r = &r[4..];
    let mut out = Vec::new();
    for _ in 0..count {
        let n = u16::from_le_bytes(r.get(..2)?.try_into().ok()?) as usize;
        out.push(std::str::from_utf8(r.get(2..2 + n)?).ok()?.to_string());
        r = &r[2 + n..];
    }
    Some(out)
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
    let mut snap = Snapshot::new(map, path)?;
    // SAFETY: `map` is a shared mapping of the file.
    unsafe { snap.set_file_mapped() };
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
    use super::Snapshot;
    use super::build::{BrandLists, Builder, ConsentLists, NumberTable, Parts};
    use super::format::{ConsentRec, RelRec};
    use super::run::RunIndex;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Brands 0..3 and `*` (id 3), purposes 4..5: stops per brand, consents per scope.
    fn build(
        stops: &[(u64, u32, u32)],
        consents: &[(u64, u32, u32, u32)],
    ) -> (Vec<u8>, HashMap<u64, u32>) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("snap");
        let strings: Vec<String> =
            ["A", "B", "C", "*", "p", "q"].iter().map(|s| s.to_string()).collect();
        let mut numbers: Vec<u64> =
            stops.iter().map(|s| s.0).chain(consents.iter().map(|c| c.0)).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut table = NumberTable::with_capacity(numbers.len() as u64);
        let ids: HashMap<u64, u32> = numbers.iter().map(|&n| (n, table.insert(n))).collect();
        let mut brands: Vec<BrandLists> =
            (0..4).map(|b| BrandLists { brand: b, stops: Vec::new(), rels: Vec::new() }).collect();
        for &(n, b, t) in stops {
            brands[b as usize].stops.push((ids[&n], t));
            brands[b as usize].rels.push((ids[&n], RelRec { started: t, ..RelRec::default() }));
        }
        let mut scopes = ConsentLists::new(&d.path().join("lists"), 3);
        for &(n, b, p, g) in consents {
            let rec = ConsentRec { granted: g, confirmed: 0, expires: 0, seq: u64::from(g) };
            scopes.push(b, p, ids[&n], rec.encode()).unwrap();
        }
        Builder::create(&path)
            .unwrap()
            .finish(Parts {
                generation: 1,
                last_seq: 1,
                stats_json: b"{}",
                strings: &strings,
                numbers: table,
                brands,
                scopes,
                suppressed: Vec::new(),
            })
            .unwrap();
        (std::fs::read(path).unwrap(), ids)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Number ids, list lookups and a run's dense index equal a map, for numbers in
        /// and not in the snapshot, over several brands sharing `*` stops.
        #[test]
        fn lookups_equal_a_map(
            stop_keys in proptest::collection::hash_map((1u64..3000, 0u32..4), 1u32..100, 0..300),
            consent_keys in proptest::collection::hash_map((1u64..3000, 0u32..3, 4u32..6), 1u32..100, 0..300),
            absent in proptest::collection::vec(3000u64..6000, 0..50),
        ) {
            let stops: Vec<(u64, u32, u32)> =
                stop_keys.iter().map(|(&(n, b), &t)| (4790000000 + n, b, t)).collect();
            let consents: Vec<(u64, u32, u32, u32)> =
                consent_keys.iter().map(|(&(n, b, p), &g)| (4790000000 + n, b, p, g)).collect();
            let (bytes, ids) = build(&stops, &consents);
            let snap = Snapshot::new(bytes, "t").unwrap();
            snap.verify().unwrap();
            prop_assert_eq!(snap.number_count(), ids.len() as u64);
            prop_assert_eq!(snap.string_id("*"), Some(3));
            prop_assert_eq!(snap.string(5), "q");
            for b in 0..3u32 {
                for p in 4..6u32 {
                    let scope = snap.scope_of(b, p);
                    let consent_list = match scope {
                        Some(t) => snap.consent_list(t).unwrap(),
                        None => None,
                    };
                    let lists: Vec<_> = [b, 3].iter().filter_map(|&x| snap.stop_list(x).unwrap()).collect();
                    let run = RunIndex::build(&snap, consent_list, &lists);
                    let asks = ids.keys().copied().chain(absent.iter().map(|n| 4790000000 + n));
                    for n in asks {
                        let want_stop = stop_keys.get(&(n - 4790000000, b)).copied()
                            .max(stop_keys.get(&(n - 4790000000, 3)).copied());
                        let want_consent = consent_keys.get(&(n - 4790000000, b, p)).copied();
                        let id = snap.id_of(n);
                        prop_assert_eq!(id, ids.get(&n).copied());
                        let Some(id) = id else { continue };
                        prop_assert_eq!(snap.number_at(id), n);
                        // Three stages run apart find the same id.
                        let probe = snap.id_next(snap.id_start(n));
                        prop_assert_eq!(snap.id_finish(n, probe), Some(id));
                        prop_assert_eq!(run.stop(id), want_stop);
                        let got = run.consent_index(id).and_then(|i| run.consent(&snap, i));
                        prop_assert_eq!(got.map(|c| c.granted), want_consent);
                        let listed = consent_list.as_ref().and_then(|l| snap.list_find(l, id)).and_then(|i| snap.consent_at(consent_list.as_ref().unwrap(), i));
                        prop_assert_eq!(listed, got);
                        prop_assert_eq!(snap.stop(n, b).unwrap(), stop_keys.get(&(n - 4790000000, b)).copied());
                        prop_assert_eq!(
                            snap.relationship(n, b).unwrap().map(|r| r.started),
                            stop_keys.get(&(n - 4790000000, b)).copied()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_snapshot_reads() {
        let (bytes, _) = build(&[], &[]);
        let snap = Snapshot::new(bytes, "t").unwrap();
        snap.verify().unwrap();
        assert_eq!(snap.id_of(4790000001), None);
        assert_eq!(snap.stop(4790000001, 0).unwrap(), None);
        assert!(snap.scopes().is_empty());
    }
}
