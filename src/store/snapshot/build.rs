//! Writing a snapshot: evidence streamed in order, then the hot sections, block
//! checksums, and finally the header. The caller publishes the file (rename).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::format::{self, BLOCK_SIZE, EvidenceRec, HEADER_LEN, RelRec, field};
use crate::store::error::{StoreError, io};
use crate::store::sorted_runs::{RunRecord, SortedRuns};

/// Streams bytes to the file, hashing each `BLOCK_SIZE` block.
struct BlockWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    hasher: Xxh3,
    in_block: usize,
    sums: Vec<u64>,
}

impl BlockWriter {
    fn write(&mut self, mut b: &[u8]) -> Result<(), StoreError> {
        self.out.write_all(b).map_err(io("writing", &self.path))?;
        self.pos += b.len() as u64;
        while !b.is_empty() {
            let n = (BLOCK_SIZE - self.in_block).min(b.len());
            self.hasher.update(&b[..n]);
            self.in_block += n;
            b = &b[n..];
            if self.in_block == BLOCK_SIZE {
                self.sums.push(self.hasher.digest());
                self.hasher.reset();
                self.in_block = 0;
            }
        }
        Ok(())
    }

    fn align(&mut self) -> Result<(), StoreError> {
        let pad = (format::align64(self.pos) - self.pos) as usize;
        self.write(&[0u8; 64][..pad])
    }
}

/// The number table being built: every number gets a dense id, its slot, fixed when it is
/// inserted (linear probing never moves a key), so lists can be filled as numbers stream
/// by in number order.
pub struct NumberTable {
    keys: Vec<u64>,
    tags: Vec<u8>,
    len: u64,
}

impl NumberTable {
    /// A table for at most `max_numbers` numbers.
    pub fn with_capacity(max_numbers: u64) -> NumberTable {
        let cap = format::capacity(max_numbers) as usize;
        NumberTable { keys: vec![0; cap], tags: vec![0; cap], len: 0 }
    }

    /// Inserts `number` (non-zero) and returns its id; the same id if it is already in.
    ///
    /// # Panics
    /// Never at the load the capacity allows; inserting more numbers than the table was
    /// made for is a caller bug and panics rather than looping.
    pub fn insert(&mut self, number: u64) -> u32 {
        assert!(self.len < self.keys.len() as u64 - 1, "number table full");
        let cap = self.keys.len() as u64;
        let hash = format::hash_number(number);
        let mut i = format::home(hash, cap) as usize;
        loop {
            if self.tags[i] == 0 {
                self.keys[i] = number;
                self.tags[i] = format::tag(hash);
                self.len += 1;
                return i as u32;
            }
            if self.keys[i] == number {
                return i as u32;
            }
            i = if i + 1 == self.keys.len() { 0 } else { i + 1 };
        }
    }

    /// Numbers inserted.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no number is in.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One consent-list entry on its way to the file: (scope, id, encoded [`ConsentRec`]).
#[derive(Clone, Copy, Debug)]
pub struct ConsentEntry {
    scope: u32,
    id: u32,
    rec: [u8; format::CONSENT_LEN],
}

impl RunRecord for ConsentEntry {
    const LEN: usize = 8 + format::CONSENT_LEN;
    type Key = (u32, u32);
    #[inline]
    fn key(&self) -> (u32, u32) {
        (self.scope, self.id)
    }
    fn encode_into(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.scope.to_le_bytes());
        out[4..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..Self::LEN].copy_from_slice(&self.rec);
    }
    fn decode_from(b: &[u8]) -> Option<Self> {
        Some(ConsentEntry {
            scope: format::u32_at(b, 0)?,
            id: format::u32_at(b, 4)?,
            rec: b.get(8..Self::LEN)?.try_into().ok()?,
        })
    }
}

/// Every (brand, purpose)'s consent list, collected in any order in bounded memory
/// (sorted runs spilled next to the snapshot being built, see
/// [`crate::store::sorted_runs`]) and written sorted by id: the lists of a large store
/// never sit in memory whole (at 50 M consents they would take 1.2 GB and more).
pub struct ConsentLists {
    /// (brand, purpose, entries) per scope, in order of first entry.
    heads: Vec<(u32, u32, u64)>,
    index: std::collections::HashMap<(u32, u32), u32>,
    entries: SortedRuns<ConsentEntry>,
}

impl ConsentLists {
    /// Collects lists, spilling runs named after `base` beyond `limit` entries in memory.
    pub fn new(base: &Path, limit: usize) -> ConsentLists {
        ConsentLists {
            heads: Vec::new(),
            index: std::collections::HashMap::new(),
            entries: SortedRuns::new(base, limit),
        }
    }

    /// Adds the consent `rec` of number `id` to the list of (`brand`, `purpose`); a
    /// number is added to a list at most once.
    ///
    /// # Errors
    /// I/O errors writing a run.
    pub fn push(
        &mut self,
        brand: u32,
        purpose: u32,
        id: u32,
        rec: [u8; format::CONSENT_LEN],
    ) -> Result<(), StoreError> {
        let heads = &mut self.heads;
        let scope = *self.index.entry((brand, purpose)).or_insert_with(|| {
            heads.push((brand, purpose, 0));
            (heads.len() - 1) as u32
        });
        heads[scope as usize].2 += 1;
        self.entries.push(ConsentEntry { scope, id, rec })
    }

    /// Number of (brand, purpose) lists.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// True when there is no list.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }
}

/// One brand's lists (`*` included): stops and customer relationships, ids unique.
pub struct BrandLists {
    /// Brand string id.
    pub brand: u32,
    /// (id, newest stopped_at), in any order.
    pub stops: Vec<(u32, u32)>,
    /// (id, newest relationship), in any order.
    pub rels: Vec<(u32, RelRec)>,
}

/// Everything after the evidence, handed to [`Builder::finish`].
pub struct Parts<'a> {
    /// Generation of the new snapshot.
    pub generation: u64,
    /// Last journal sequence folded in.
    pub last_seq: u64,
    /// `info` counts as JSON.
    pub stats_json: &'a [u8],
    /// Interned strings; ids are indices.
    pub strings: &'a [String],
    /// The number table the lists' ids refer to.
    pub numbers: NumberTable,
    /// Per-brand lists.
    pub brands: Vec<BrandLists>,
    /// Per-(brand, purpose) consent lists.
    pub scopes: ConsentLists,
    /// Suppression entries (erased numbers by keyed hash), sorted.
    pub suppressed: Vec<crate::store::suppress::Entry>,
}

/// Writes a new snapshot file.
pub struct Builder {
    w: BlockWriter,
    evidence: u64,
    /// Consent text tuples: ids in order of first use.
    tuples: std::collections::HashMap<[u32; 4], u32>,
    /// Number → first evidence record, streamed to a file beside the snapshot (at tens
    /// of millions of numbers it is hundreds of megabytes).
    /// (`None` once [`Builder::finish`] took it.)
    index: Option<fst::MapBuilder<BufWriter<File>>>,
    index_path: RemovedOnDrop,
    last_number: Option<u64>,
}

fn index_error(path: &Path, e: fst::Error) -> StoreError {
    io("building the number index of", path)(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        e,
    ))
}

impl Builder {
    /// Creates (truncates) `path`, 0600, and reserves the header.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn create(path: &Path) -> Result<Builder, StoreError> {
        let file = crate::store::durable::create_private(path)?;
        // Large writes: the page cache then keeps the file in large (up to 2 MiB) folios,
        // which readers can map with huge pages (see `map_snapshot`).
        let mut out = BufWriter::with_capacity(8 << 20, file);
        out.write_all(&[0u8; HEADER_LEN]).map_err(io("writing", path))?;
        let mut index_path = path.as_os_str().to_os_string();
        index_path.push(format!("{}I", crate::store::sorted_runs::RUN_SUFFIX));
        let index_path = PathBuf::from(index_path);
        // Read back by `finish`; numbers are personal data: owner-only.
        let index_file = crate::store::durable::create_private_rw(&index_path)?;
        let index = fst::MapBuilder::new(BufWriter::with_capacity(1 << 20, index_file))
            .map_err(|e| index_error(&index_path, e))?;
        let w = BlockWriter {
            path: path.to_path_buf(),
            out,
            pos: HEADER_LEN as u64,
            hasher: Xxh3::new(),
            in_block: 0,
            sums: Vec::new(),
        };
        Ok(Builder {
            w,
            evidence: 0,
            tuples: std::collections::HashMap::new(),
            index: Some(index),
            index_path: RemovedOnDrop(index_path),
            last_number: None,
        })
    }

    /// Appends one evidence record; records must come sorted by (number, seq).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn evidence(&mut self, rec: &EvidenceRec) -> Result<(), StoreError> {
        if self.last_number != Some(rec.number)
            && let Some(index) = &mut self.index
        {
            index
                .insert(rec.number.to_be_bytes(), self.evidence)
                .map_err(|e| index_error(&self.w.path, e))?;
            self.last_number = Some(rec.number);
        }
        if rec.seq >= format::MAX_SEQ {
            return Err(io("writing", &self.w.path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "journal sequence beyond 2^56",
            )));
        }
        let tuple = if rec.kind == format::KIND_CONSENT {
            let next = self.tuples.len() as u32;
            *self.tuples.entry(rec.tuple()).or_insert(next)
        } else {
            0
        };
        self.evidence += 1;
        self.w.write(&rec.encode_packed(tuple))
    }

    /// Writes the hot sections, checksums and header, then fsyncs. Returns the file length.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn finish(mut self, parts: Parts<'_>) -> Result<u64, StoreError> {
        let Parts {
            generation,
            last_seq,
            stats_json,
            strings,
            numbers,
            mut brands,
            scopes,
            suppressed,
        } = parts;
        let w = &mut self.w;
        let mut h = Header([0u8; HEADER_LEN]);
        h.put(field::EVIDENCE, HEADER_LEN as u64);
        h.put(field::EVIDENCE + 8, self.evidence);
        let Some(index) = self.index.take() else {
            return Err(index_error(
                &self.index_path.0,
                fst::Error::from(std::io::Error::other("finished twice")),
            ));
        };
        write_index(w, &mut h, index, &self.index_path.0)?;
        write_tuples(w, &mut h, std::mem::take(&mut self.tuples))?;
        h.put(field::HOT_START, w.pos);
        write_stats(w, &mut h, stats_json)?;
        write_strings(w, &mut h, strings)?;
        write_names(w, &mut h, strings)?;
        write_suppressed(w, &mut h, &suppressed)?;
        write_numbers(w, &mut h, numbers)?;
        write_directories(w, &mut h, &mut brands, &scopes)?;
        write_brand_lists(w, &mut brands)?;
        write_consent_lists(w, scopes)?;
        let file_len = write_sums(w, &mut h)?;
        h.finish(generation, last_seq, file_len);

        let path = w.path.clone();
        let mut file = self.w.out.into_inner().map_err(|e| io("writing", &path)(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io("seeking in", &path))?;
        file.write_all(&h.0).map_err(io("writing", &path))?;
        file.sync_all().map_err(io("fsync of", &path))?;
        Ok(file_len)
    }
}

/// The header being filled in as sections are written; written last, at offset 0.
struct Header([u8; HEADER_LEN]);

impl Header {
    /// Sets the little-endian `u64` field at `at`.
    fn put(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes())
    }

    /// Sets magic, version, block size, generation, last sequence and file length, then
    /// the checksum over everything before it: the header is complete.
    fn finish(&mut self, generation: u64, last_seq: u64, file_len: u64) {
        let h = &mut self.0;
        h[..8].copy_from_slice(&format::MAGIC);
        h[field::VERSION..field::VERSION + 4].copy_from_slice(&format::VERSION.to_le_bytes());
        h[field::BLOCK_SIZE..field::BLOCK_SIZE + 4]
            .copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        self.put(field::GENERATION, generation);
        self.put(field::LAST_SEQ, last_seq);
        self.put(field::FILE_LEN, file_len);
        let sum = xxh3_64(&self.0[..field::HEADER_CHECKSUM]);
        self.put(field::HEADER_CHECKSUM, sum);
    }
}

/// Finishes the number → evidence index streamed beside the snapshot and copies it in
/// (in 1 MiB chunks: at tens of millions of numbers it is hundreds of megabytes).
fn write_index(
    w: &mut BlockWriter,
    h: &mut Header,
    index: fst::MapBuilder<BufWriter<File>>,
    index_path: &Path,
) -> Result<(), StoreError> {
    let index = index.into_inner().map_err(|e| index_error(index_path, e))?;
    let mut index = index.into_inner().map_err(|e| io("writing", index_path)(e.into_error()))?;
    let index_len = index.stream_position().map_err(io("reading", index_path))?;
    index.seek(SeekFrom::Start(0)).map_err(io("reading", index_path))?;
    h.put(field::INDEX, w.pos);
    h.put(field::INDEX + 8, index_len);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = index_len;
    while left > 0 {
        let n = (chunk.len() as u64).min(left) as usize;
        index.read_exact(&mut chunk[..n]).map_err(io("reading", index_path))?;
        w.write(&chunk[..n])?;
        left -= n as u64;
    }
    drop(index);
    w.align()
}

/// Writes the consent text tuples in id order (ids were given in order of first use).
fn write_tuples(
    w: &mut BlockWriter,
    h: &mut Header,
    by_tuple: std::collections::HashMap<[u32; 4], u32>,
) -> Result<(), StoreError> {
    let mut tuples = vec![[0u32; 4]; by_tuple.len()];
    for (t, i) in by_tuple {
        tuples[i as usize] = t;
    }
    h.put(field::TUPLES, w.pos);
    h.put(field::TUPLES + 8, tuples.len() as u64);
    let bytes: Vec<u8> = tuples.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    w.write(&bytes)?;
    drop(bytes);
    w.align()
}

/// Writes the `info` counts as JSON (the first hot section).
fn write_stats(w: &mut BlockWriter, h: &mut Header, stats_json: &[u8]) -> Result<(), StoreError> {
    h.put(field::STATS, w.pos);
    h.put(field::STATS + 8, stats_json.len() as u64);
    w.write(stats_json)?;
    w.align()
}

/// Writes the suppression entries (erased numbers by keyed hash), sorted; an empty
/// list writes no section and leaves its header fields zero.
fn write_suppressed(
    w: &mut BlockWriter,
    h: &mut Header,
    suppressed: &[crate::store::suppress::Entry],
) -> Result<(), StoreError> {
    if suppressed.is_empty() {
        return Ok(());
    }
    h.put(field::SUPPRESS, w.pos);
    h.put(field::SUPPRESS + 8, suppressed.len() as u64);
    let bytes: Vec<u8> = suppressed.iter().flat_map(|e| e.encode()).collect();
    w.write(&bytes)?;
    w.align()
}

/// Writes the strings section: count, offsets, bytes.
fn write_strings(w: &mut BlockWriter, h: &mut Header, all: &[String]) -> Result<(), StoreError> {
    let mut strings = Vec::new();
    strings.extend_from_slice(&(all.len() as u32).to_le_bytes());
    let mut at = 0u32;
    strings.extend_from_slice(&at.to_le_bytes());
    for s in all {
        at += s.len() as u32;
        strings.extend_from_slice(&at.to_le_bytes());
    }
    for s in all {
        strings.extend_from_slice(s.as_bytes());
    }
    h.put(field::STRINGS, w.pos);
    h.put(field::STRINGS + 8, strings.len() as u64);
    w.write(&strings)?;
    drop(strings);
    w.align()
}

/// Writes the names section: an fst from string to id, sorted by bytes (fst needs
/// sorted, unique keys); the empty string has no name.
fn write_names(w: &mut BlockWriter, h: &mut Header, all: &[String]) -> Result<(), StoreError> {
    let mut names: Vec<(&str, u32)> = all
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    names.sort_unstable();
    names.dedup_by(|a, b| a.0 == b.0);
    let mut fst_names = fst::MapBuilder::memory();
    for (s, id) in names {
        fst_names.insert(s, u64::from(id)).map_err(|e| index_error(&w.path, e))?;
    }
    let fst_names = fst_names.into_inner().map_err(|e| index_error(&w.path, e))?;
    h.put(field::NAMES, w.pos);
    h.put(field::NAMES + 8, fst_names.len() as u64);
    w.write(&fst_names)?;
    w.align()
}

/// Writes the number table: keys, then tags.
fn write_numbers(
    w: &mut BlockWriter,
    h: &mut Header,
    numbers: NumberTable,
) -> Result<(), StoreError> {
    let cap = numbers.keys.len() as u64;
    h.put(field::NUMBERS, w.pos);
    h.put(field::NUMBERS + 8, cap);
    h.put(field::NUMBER_COUNT, numbers.len);
    for chunk in numbers.keys.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|k| k.to_le_bytes()).collect();
        w.write(&bytes)?;
    }
    w.align()?;
    w.write(&numbers.tags)?;
    drop(numbers);
    w.align()
}

/// Writes the brand and scope directories (brands sorted by id first). Their list
/// offsets are known up front: the lists follow in the order brands (stops, then
/// relationships), then consent lists in order of first use.
fn write_directories(
    w: &mut BlockWriter,
    h: &mut Header,
    brands: &mut [BrandLists],
    scopes: &ConsentLists,
) -> Result<(), StoreError> {
    brands.sort_unstable_by_key(|b| b.brand);
    let brands_len = (brands.len() * format::BRAND_LEN) as u64;
    let scopes_at = format::align64(w.pos + brands_len);
    let scopes_len = (scopes.len() * format::SCOPE_LEN) as u64;
    let lists_at = format::align64(scopes_at + scopes_len);
    let mut next = lists_at;
    let mut take = |count: usize, rec: usize| {
        let at = next;
        let len = format::list_len(at, count as u64, rec as u64).unwrap_or(0);
        next = format::align64(at + len);
        at
    };
    let mut dir = Vec::with_capacity(brands_len as usize);
    for b in brands.iter() {
        let stops = take(b.stops.len(), 4);
        let rels = take(b.rels.len(), format::REL_LEN);
        dir.extend_from_slice(&b.brand.to_le_bytes());
        dir.extend_from_slice(&0u32.to_le_bytes());
        for v in [stops, b.stops.len() as u64, rels, b.rels.len() as u64] {
            dir.extend_from_slice(&v.to_le_bytes());
        }
    }
    h.put(field::BRANDS, w.pos);
    h.put(field::BRANDS + 8, brands.len() as u64);
    w.write(&dir)?;
    w.align()?;
    // Consent lists go to the file in the order they were first seen; the directory
    // is sorted by (brand, purpose) and points at them.
    let heads = &scopes.heads;
    let offsets: Vec<u64> =
        heads.iter().map(|&(_, _, n)| take(n as usize, format::CONSENT_LEN)).collect();
    let mut order: Vec<usize> = (0..heads.len()).collect();
    order.sort_unstable_by_key(|&i| (heads[i].0, heads[i].1));
    let mut dir = Vec::with_capacity(scopes_len as usize);
    for i in order {
        let (brand, purpose, count) = heads[i];
        dir.extend_from_slice(&brand.to_le_bytes());
        dir.extend_from_slice(&purpose.to_le_bytes());
        for v in [offsets[i], count, 0] {
            dir.extend_from_slice(&v.to_le_bytes());
        }
    }
    h.put(field::SCOPES, w.pos);
    h.put(field::SCOPES + 8, scopes.len() as u64);
    w.write(&dir)?;
    w.align()?;
    h.put(field::LISTS, w.pos);
    debug_assert_eq!(w.pos, lists_at);
    Ok(())
}

/// Writes each brand's stop and relationship lists, sorted by id, at the offsets
/// [`write_directories`] gave them.
fn write_brand_lists(w: &mut BlockWriter, brands: &mut [BrandLists]) -> Result<(), StoreError> {
    let mut list = Vec::new();
    for b in brands {
        b.stops.sort_unstable_by_key(|e| e.0);
        write_list(w, &mut list, &b.stops, |t, out| out.extend_from_slice(&t.to_le_bytes()))?;
        b.rels.sort_unstable_by_key(|e| e.0);
        write_list(w, &mut list, &b.rels, |r, out| out.extend_from_slice(&r.encode()))?;
    }
    Ok(())
}

/// Writes the consent lists merged from their sorted runs, one scope at a time in memory
/// (the largest scope's, never all of them), checking each has the entries its directory
/// entry counted.
fn write_consent_lists(w: &mut BlockWriter, mut lists: ConsentLists) -> Result<(), StoreError> {
    let mut list = Vec::new();
    lists.entries.finish();
    let mut merge = lists.entries.iter()?;
    let mut one: Vec<(u32, [u8; format::CONSENT_LEN])> = Vec::new();
    let mut pending = merge.next();
    for (scope, &(_, _, count)) in lists.heads.iter().enumerate() {
        one.clear();
        while let Some(e) = pending.filter(|e| e.scope as usize == scope) {
            one.push((e.id, e.rec));
            pending = merge.next();
        }
        if let Some(e) = merge.take_error() {
            return Err(e);
        }
        if one.len() as u64 != count {
            return Err(io("writing", &w.path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a consent list lost entries on its way to the file",
            )));
        }
        write_list(w, &mut list, &one, |c, out| out.extend_from_slice(c))?;
    }
    Ok(())
}

/// Writes the block checksums (the last, partial block's included) after the sections
/// and returns the file length.
fn write_sums(w: &mut BlockWriter, h: &mut Header) -> Result<u64, StoreError> {
    if w.in_block > 0 {
        w.sums.push(w.hasher.digest());
    }
    let sums: Vec<u8> = w.sums.iter().flat_map(|s| s.to_le_bytes()).collect();
    h.put(field::SUMS, w.pos);
    h.put(field::SUMS + 8, w.sums.len() as u64);
    h.put(field::SUMS_CHECKSUM, xxh3_64(&sums));
    w.out.write_all(&sums).map_err(io("writing", &w.path))?;
    Ok(w.pos + sums.len() as u64)
}

/// A file removed when this is dropped: the index file holds personal data (numbers)
/// and is never left behind (after a crash, [`crate::store::Store::open`] removes it).
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes one list (ids, then records from `enc`) at the writer's position, 64-byte
/// aligned after it; `buf` is scratch (written out in chunks: it stays small).
fn write_list<T>(
    w: &mut BlockWriter,
    buf: &mut Vec<u8>,
    entries: &[(u32, T)],
    enc: impl Fn(&T, &mut Vec<u8>),
) -> Result<(), StoreError> {
    const CHUNK: usize = 1 << 16;
    for part in entries.chunks(CHUNK) {
        buf.clear();
        for (id, _) in part {
            buf.extend_from_slice(&id.to_le_bytes());
        }
        w.write(buf)?;
    }
    let ids_len = entries.len() as u64 * 4;
    let pad = (format::align8(ids_len) - ids_len) as usize;
    w.write(&[0u8; 8][..pad])?;
    for part in entries.chunks(CHUNK) {
        buf.clear();
        for (_, r) in part {
            enc(r, buf);
        }
        w.write(buf)?;
    }
    w.align()
}
