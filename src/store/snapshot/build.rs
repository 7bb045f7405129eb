//! Writing a snapshot: evidence streamed in order, then the hot sections, block
//! checksums, and finally the header. The caller publishes the file (rename).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::format::{self, BLOCK_SIZE, EvidenceRec, HEADER_LEN, RelSlot, Slot, field};
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

/// One scope's entries: (brand id, purpose id, folded slots, one per number).
pub struct ScopeTable {
    /// Brand string id.
    pub brand: u32,
    /// Purpose string id.
    pub purpose: u32,
    /// Slots to insert (numbers unique).
    pub slots: Vec<Slot>,
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
    /// Scope tables.
    pub scopes: Vec<ScopeTable>,
    /// Folded stops: (number, brand id, newest stopped_at), keys unique.
    pub stops: Vec<(u64, u32, u32)>,
    /// Newest customer relationship per (number, brand), keys unique. Empty: the section
    /// is left out (header offset 0).
    pub relationships: Vec<RelSlot>,
    /// Suppression entries (erased numbers by keyed hash), sorted.
    pub suppressed: Vec<crate::store::suppress::Entry>,
}

/// Writes a new snapshot file.
pub struct Builder {
    w: BlockWriter,
    evidence: u64,
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
        Ok(Builder { w, evidence: 0, index: fst::MapBuilder::memory(), last_number: None })
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
        self.evidence += 1;
        self.w.write(&rec.encode())
    }

    /// Writes the hot sections, checksums and header, then fsyncs. Returns the file length.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn finish(mut self, parts: Parts<'_>) -> Result<u64, StoreError> {
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
        let hot_start = w.pos;
        put(&mut h, field::HOT_START, hot_start);
        put(&mut h, field::STATS, w.pos);
        put(&mut h, field::STATS + 8, parts.stats_json.len() as u64);
        w.write(parts.stats_json)?;
        w.align()?;

        let mut strings = Vec::new();
        strings.extend_from_slice(&(parts.strings.len() as u32).to_le_bytes());
        for s in parts.strings {
            let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            strings.extend_from_slice(&(b.len() as u16).to_le_bytes());
            strings.extend_from_slice(b);
        }
        put(&mut h, field::STRINGS, w.pos);
        put(&mut h, field::STRINGS + 8, strings.len() as u64);
        w.write(&strings)?;
        w.align()?;

        // Scope directory first (its offsets are known up front), then the tables.
        let dir_len = (parts.scopes.len() * format::SCOPE_LEN) as u64;
        let mut table_off = format::align64(w.pos + dir_len);
        put(&mut h, field::SCOPES, w.pos);
        put(&mut h, field::SCOPES + 8, parts.scopes.len() as u64);
        let mut dir = Vec::with_capacity(dir_len as usize);
        for s in &parts.scopes {
            let cap = format::capacity(s.slots.len() as u64);
            dir.extend_from_slice(&s.brand.to_le_bytes());
            dir.extend_from_slice(&s.purpose.to_le_bytes());
            dir.extend_from_slice(&table_off.to_le_bytes());
            dir.extend_from_slice(&cap.to_le_bytes());
            dir.extend_from_slice(&(s.slots.len() as u64).to_le_bytes());
            table_off = format::align64(format::tags_offset(table_off, cap) + cap);
        }
        put(&mut h, field::TAGS, 1);
        w.write(&dir)?;
        for s in parts.scopes {
            w.align()?;
            let cap = format::capacity(s.slots.len() as u64);
            let mut table = vec![0u8; cap as usize * format::SLOT_LEN];
            let mut tags = vec![0u8; cap as usize];
            for slot in &s.slots {
                let hash = format::hash_number(slot.number);
                let mut i = format::home(hash, cap) as usize;
                // Load < 1 guarantees a free slot; numbers are unique by construction.
                while tags[i] != 0 {
                    i = if i + 1 == cap as usize { 0 } else { i + 1 };
                }
                table[i * format::SLOT_LEN..(i + 1) * format::SLOT_LEN]
                    .copy_from_slice(&slot.encode());
                tags[i] = format::tag(hash);
            }
            w.write(&table)?;
            drop(table);
            w.align()?;
            w.write(&tags)?;
        }
        w.align()?;

        let cap = format::capacity(parts.stops.len() as u64);
        put(&mut h, field::STOPS, w.pos);
        put(&mut h, field::STOPS + 8, cap);
        let mut table = vec![0u8; cap as usize * format::STOP_SLOT_LEN];
        for &(number, brand, at) in &parts.stops {
            let mut i = format::home(format::hash_stop(number, brand), cap) as usize;
            while table[i * 16..i * 16 + 8] != [0u8; 8] {
                i = if i + 1 == cap as usize { 0 } else { i + 1 };
            }
            table[i * 16..i * 16 + 8].copy_from_slice(&number.to_le_bytes());
            table[i * 16 + 8..i * 16 + 12].copy_from_slice(&brand.to_le_bytes());
            table[i * 16 + 12..i * 16 + 16].copy_from_slice(&at.to_le_bytes());
        }
        w.write(&table)?;
        w.align()?;

        if !parts.relationships.is_empty() {
            let cap = format::capacity(parts.relationships.len() as u64);
            put(&mut h, field::RELATIONSHIPS, w.pos);
            put(&mut h, field::RELATIONSHIPS + 8, cap);
            let len = format::REL_SLOT_LEN;
            let mut table = vec![0u8; cap as usize * len];
            for r in &parts.relationships {
                let mut i =
                    format::home(format::hash_relationship(r.number, r.brand), cap) as usize;
                while table[i * len..i * len + 8] != [0u8; 8] {
                    i = if i + 1 == cap as usize { 0 } else { i + 1 };
                }
                table[i * len..(i + 1) * len].copy_from_slice(&r.encode());
            }
            w.write(&table)?;
            w.align()?;
        }
        if !parts.suppressed.is_empty() {
            put(&mut h, field::SUPPRESS, w.pos);
            put(&mut h, field::SUPPRESS + 8, parts.suppressed.len() as u64);
            let bytes: Vec<u8> = parts.suppressed.iter().flat_map(|e| e.encode()).collect();
            w.write(&bytes)?;
            w.align()?;
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
