//! Writing a snapshot: evidence streamed in order, then the hot sections, block
//! checksums, and finally the header. The caller publishes the file (rename).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::format::{self, BLOCK_SIZE, EvidenceRec, HEADER_LEN, RelRec, field};
use crate::store::error::{StoreError, io};

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

/// One (brand, purpose)'s consent list: (id, newest sms consent), ids unique.
pub struct ScopeList {
    /// Brand string id.
    pub brand: u32,
    /// Purpose string id.
    pub purpose: u32,
    /// Entries (id, encoded [`ConsentRec`]: 24 bytes in memory), in any order (sorted by
    /// id when written).
    pub consents: Vec<(u32, [u8; format::CONSENT_LEN])>,
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
    pub scopes: Vec<ScopeList>,
    /// Suppression entries (erased numbers by keyed hash), sorted.
    pub suppressed: Vec<crate::store::suppress::Entry>,
}

/// Writes a new snapshot file.
pub struct Builder {
    w: BlockWriter,
    evidence: u64,
    /// Consent text tuples: ids in order of first use.
    tuples: std::collections::HashMap<[u32; 4], u32>,
    index: fst::MapBuilder<Vec<u8>>,
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
        let file = crate::store::journal::create_private(path)?;
        // Large writes: the page cache then keeps the file in large (up to 2 MiB) folios,
        // which readers can map with huge pages (see `map_snapshot`).
        let mut out = BufWriter::with_capacity(8 << 20, file);
        out.write_all(&[0u8; HEADER_LEN]).map_err(io("writing", path))?;
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
            index: fst::MapBuilder::memory(),
            last_number: None,
        })
    }

    /// Appends one evidence record; records must come sorted by (number, seq).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn evidence(&mut self, rec: &EvidenceRec) -> Result<(), StoreError> {
        if self.last_number != Some(rec.number) {
            self.index
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
    pub fn finish(mut self, mut parts: Parts<'_>) -> Result<u64, StoreError> {
        let w = &mut self.w;
        let mut h = [0u8; HEADER_LEN];
        let put = |h: &mut [u8; HEADER_LEN], at: usize, v: u64| {
            h[at..at + 8].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut h, field::EVIDENCE, HEADER_LEN as u64);
        put(&mut h, field::EVIDENCE + 8, self.evidence);
        let index = self.index.into_inner().map_err(|e| index_error(&w.path, e))?;
        put(&mut h, field::INDEX, w.pos);
        put(&mut h, field::INDEX + 8, index.len() as u64);
        w.write(&index)?;
        drop(index);
        w.align()?;
        let mut tuples = vec![[0u32; 4]; self.tuples.len()];
        for (t, i) in std::mem::take(&mut self.tuples) {
            tuples[i as usize] = t;
        }
        put(&mut h, field::TUPLES, w.pos);
        put(&mut h, field::TUPLES + 8, tuples.len() as u64);
        let bytes: Vec<u8> = tuples.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        w.write(&bytes)?;
        drop(bytes);
        w.align()?;
        let hot_start = w.pos;
        put(&mut h, field::HOT_START, hot_start);
        put(&mut h, field::STATS, w.pos);
        put(&mut h, field::STATS + 8, parts.stats_json.len() as u64);
        w.write(parts.stats_json)?;
        w.align()?;

        // Strings: count, offsets, bytes.
        let mut strings = Vec::new();
        strings.extend_from_slice(&(parts.strings.len() as u32).to_le_bytes());
        let mut at = 0u32;
        strings.extend_from_slice(&at.to_le_bytes());
        for s in parts.strings {
            at += s.len() as u32;
            strings.extend_from_slice(&at.to_le_bytes());
        }
        for s in parts.strings {
            strings.extend_from_slice(s.as_bytes());
        }
        put(&mut h, field::STRINGS, w.pos);
        put(&mut h, field::STRINGS + 8, strings.len() as u64);
        w.write(&strings)?;
        drop(strings);
        w.align()?;

        // Names: string → id, sorted by bytes (fst needs sorted, unique keys).
        let mut names: Vec<(&str, u32)> = parts
            .strings
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
        put(&mut h, field::NAMES, w.pos);
        put(&mut h, field::NAMES + 8, fst_names.len() as u64);
        w.write(&fst_names)?;
        w.align()?;

        if !parts.suppressed.is_empty() {
            put(&mut h, field::SUPPRESS, w.pos);
            put(&mut h, field::SUPPRESS + 8, parts.suppressed.len() as u64);
            let bytes: Vec<u8> = parts.suppressed.iter().flat_map(|e| e.encode()).collect();
            w.write(&bytes)?;
            w.align()?;
        }

        // The number table: keys, then tags.
        let numbers = std::mem::replace(&mut parts.numbers, NumberTable::with_capacity(0));
        let cap = numbers.keys.len() as u64;
        put(&mut h, field::NUMBERS, w.pos);
        put(&mut h, field::NUMBERS + 8, cap);
        put(&mut h, field::NUMBER_COUNT, numbers.len);
        for chunk in numbers.keys.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|k| k.to_le_bytes()).collect();
            w.write(&bytes)?;
        }
        w.align()?;
        w.write(&numbers.tags)?;
        drop(numbers);
        w.align()?;

        // Directories (their list offsets are known up front), then the lists.
        parts.brands.sort_unstable_by_key(|b| b.brand);
        parts.scopes.sort_unstable_by_key(|s| (s.brand, s.purpose));
        let brands_len = (parts.brands.len() * format::BRAND_LEN) as u64;
        let scopes_at = format::align64(w.pos + brands_len);
        let scopes_len = (parts.scopes.len() * format::SCOPE_LEN) as u64;
        let lists_at = format::align64(scopes_at + scopes_len);
        let mut next = lists_at;
        let mut take = |count: usize, rec: usize| {
            let at = next;
            let len = format::list_len(at, count as u64, rec as u64).unwrap_or(0);
            next = format::align64(at + len);
            at
        };
        let mut dir = Vec::with_capacity(brands_len as usize);
        for b in &parts.brands {
            let stops = take(b.stops.len(), 4);
            let rels = take(b.rels.len(), format::REL_LEN);
            dir.extend_from_slice(&b.brand.to_le_bytes());
            dir.extend_from_slice(&0u32.to_le_bytes());
            for v in [stops, b.stops.len() as u64, rels, b.rels.len() as u64] {
                dir.extend_from_slice(&v.to_le_bytes());
            }
        }
        put(&mut h, field::BRANDS, w.pos);
        put(&mut h, field::BRANDS + 8, parts.brands.len() as u64);
        w.write(&dir)?;
        w.align()?;
        let mut dir = Vec::with_capacity(scopes_len as usize);
        for s in &parts.scopes {
            let at = take(s.consents.len(), format::CONSENT_LEN);
            dir.extend_from_slice(&s.brand.to_le_bytes());
            dir.extend_from_slice(&s.purpose.to_le_bytes());
            for v in [at, s.consents.len() as u64, 0] {
                dir.extend_from_slice(&v.to_le_bytes());
            }
        }
        put(&mut h, field::SCOPES, w.pos);
        put(&mut h, field::SCOPES + 8, parts.scopes.len() as u64);
        w.write(&dir)?;
        w.align()?;
        put(&mut h, field::LISTS, w.pos);
        debug_assert_eq!(w.pos, lists_at);

        let mut list = Vec::new();
        for b in &mut parts.brands {
            b.stops.sort_unstable_by_key(|e| e.0);
            write_list(w, &mut list, &b.stops, |t, out| out.extend_from_slice(&t.to_le_bytes()))?;
            b.rels.sort_unstable_by_key(|e| e.0);
            write_list(w, &mut list, &b.rels, |r, out| out.extend_from_slice(&r.encode()))?;
        }
        for s in &mut parts.scopes {
            s.consents.sort_unstable_by_key(|e| e.0);
            write_list(w, &mut list, &s.consents, |c, out| out.extend_from_slice(c))?;
        }

        if w.in_block > 0 {
            w.sums.push(w.hasher.digest());
        }
        let sums: Vec<u8> = w.sums.iter().flat_map(|s| s.to_le_bytes()).collect();
        put(&mut h, field::SUMS, w.pos);
        put(&mut h, field::SUMS + 8, w.sums.len() as u64);
        put(&mut h, field::SUMS_CHECKSUM, xxh3_64(&sums));
        w.out.write_all(&sums).map_err(io("writing", &w.path))?;
        let file_len = w.pos + sums.len() as u64;

        h[..8].copy_from_slice(&format::MAGIC);
        h[field::VERSION..field::VERSION + 4].copy_from_slice(&format::VERSION.to_le_bytes());
        h[field::BLOCK_SIZE..field::BLOCK_SIZE + 4]
            .copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        put(&mut h, field::GENERATION, parts.generation);
        put(&mut h, field::LAST_SEQ, parts.last_seq);
        put(&mut h, field::FILE_LEN, file_len);
        let sum = xxh3_64(&h[..field::HEADER_CHECKSUM]);
        put(&mut h, field::HEADER_CHECKSUM, sum);

        let path = w.path.clone();
        let mut file = self.w.out.into_inner().map_err(|e| io("writing", &path)(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io("seeking in", &path))?;
        file.write_all(&h).map_err(io("writing", &path))?;
        file.sync_all().map_err(io("fsync of", &path))?;
        Ok(file_len)
    }
}

/// Writes one list (ids, then records from `enc`) at the writer's position, 64-byte
/// aligned after it; `buf` is scratch.
fn write_list<T>(
    w: &mut BlockWriter,
    buf: &mut Vec<u8>,
    entries: &[(u32, T)],
    enc: impl Fn(&T, &mut Vec<u8>),
) -> Result<(), StoreError> {
    buf.clear();
    for (id, _) in entries {
        buf.extend_from_slice(&id.to_le_bytes());
    }
    buf.resize(format::align8(buf.len() as u64) as usize, 0);
    for (_, r) in entries {
        enc(r, buf);
    }
    w.write(buf)?;
    w.align()
}
