//! What [`Snapshot::new`](super::Snapshot::new) reads: the frame (magic, header checksum,
//! version, length, block sums), the section directory, and for a version-4 snapshot the
//! shared part (strings, number table, brand and scope directories). Structure only: block
//! checksums are checked later, on first use.
//!
//! Each step checks the bounds the next one relies on, in the order the file is read, so
//! that a damaged file is reported at the first bad structure with its offset.

use std::collections::HashMap;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::format::{
    self, BLOCK_SIZE, EVIDENCE_LEN, FULL_EVIDENCE_LEN, HEADER_LEN, TUPLE_LEN, field,
};
use super::{BrandInfo, Parsed, ScopeInfo, legacy_strings};
use crate::store::error::{Corruption, StoreError};

/// Scope position by (brand, purpose).
type ScopeIndex = HashMap<(u32, u32), usize>;

/// The checked frame of a snapshot: its bytes, where the block sums start and how many
/// blocks they cover. Every later bound is checked against `sums_off`.
pub(super) struct Frame<'a> {
    b: &'a [u8],
    path: &'a Path,
    /// The format version (current or legacy).
    pub(super) version: u32,
    /// Offset of the block checksums; every section ends at or before it.
    pub(super) sums_off: usize,
    /// Checksum blocks.
    pub(super) n_blocks: usize,
}

/// The section directory every version has.
pub(super) struct Sections {
    /// Evidence offset and bytes.
    pub(super) evidence: (usize, usize),
    /// Bytes per evidence record.
    pub(super) rec_len: usize,
    /// Consent text tuples (offset, bytes); (0, 0) in a legacy snapshot.
    pub(super) tuples: (usize, usize),
    pub(super) stats: (usize, usize),
    pub(super) index: (usize, usize),
    /// Strings section (offset, bytes).
    pub(super) strings: (usize, usize),
    pub(super) hot_start: usize,
    /// Suppression entries (offset, bytes); (0, 0) when nothing was ever erased.
    pub(super) suppress: (usize, usize),
}

impl<'a> Frame<'a> {
    /// Checks magic, header checksum, version, file length, block size and the block-sum
    /// table: what must hold before any offset in the header can be trusted.
    pub(super) fn check(b: &'a [u8], path: &'a Path) -> Result<Frame<'a>, StoreError> {
        let mut f = Frame { b, path, version: 0, sums_off: 0, n_blocks: 0 };
        if b.len() < HEADER_LEN || b[..8] != format::MAGIC {
            return Err(f.bad(0, Corruption::BadMagic));
        }
        if xxh3_64(&b[..field::HEADER_CHECKSUM]) != f.h64(field::HEADER_CHECKSUM) {
            return Err(f.bad(0, Corruption::HeaderChecksum));
        }
        let version = format::u32_at(b, field::VERSION).unwrap_or(0);
        if version != format::VERSION && version != format::LEGACY_VERSION {
            let supported = format::VERSION;
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                found: version,
                supported,
            });
        }
        f.version = version;
        if f.h64(field::FILE_LEN) != b.len() as u64 {
            return Err(f.bad(field::FILE_LEN, Corruption::Truncated));
        }
        if format::u32_at(b, field::BLOCK_SIZE) != Some(BLOCK_SIZE as u32) {
            return Err(f.bad(field::BLOCK_SIZE, Corruption::BadStructure));
        }
        let sums_off = f.to_usize(f.h64(field::SUMS), field::SUMS)?;
        let n_blocks = f.to_usize(f.h64(field::SUMS + 8), field::SUMS)?;
        if sums_off < HEADER_LEN
            || n_blocks != (sums_off - HEADER_LEN).div_ceil(BLOCK_SIZE)
            || n_blocks.checked_mul(8).and_then(|n| n.checked_add(sums_off)) != Some(b.len())
        {
            return Err(f.bad(field::SUMS, Corruption::BadStructure));
        }
        if xxh3_64(&b[sums_off..]) != f.h64(field::SUMS_CHECKSUM) {
            return Err(f.bad(sums_off, Corruption::BlockChecksum));
        }
        f.sums_off = sums_off;
        f.n_blocks = n_blocks;
        Ok(f)
    }

    /// True for a version-3 snapshot.
    pub(super) fn legacy(&self) -> bool {
        self.version == format::LEGACY_VERSION
    }

    /// The header field at `at`, `u64::MAX` past the end (then caught by a bound check).
    pub(super) fn h64(&self, at: usize) -> u64 {
        format::u64_at(self.b, at).unwrap_or(u64::MAX)
    }

    /// The corruption error at `offset`.
    fn bad(&self, offset: usize, what: Corruption) -> StoreError {
        StoreError::SnapshotCorrupt { path: self.path.to_path_buf(), offset: offset as u64, what }
    }

    /// `v` as an offset, a bad structure at `at` if it does not fit.
    fn to_usize(&self, v: u64, at: usize) -> Result<usize, StoreError> {
        usize::try_from(v).map_err(|_| self.bad(at, Corruption::BadStructure))
    }

    /// The section whose (offset, count) is at `at`, with `unit` bytes per entry, as
    /// (offset, bytes): every section lies in `[HEADER_LEN, sums_off)`.
    fn section(&self, at: usize, unit: u64) -> Result<(usize, usize), StoreError> {
        let off = self.h64(at);
        let len =
            self.h64(at + 8).checked_mul(unit).ok_or(self.bad(at, Corruption::BadStructure))?;
        match off.checked_add(len) {
            Some(end) if off >= HEADER_LEN as u64 && end <= self.sums_off as u64 => {
                Ok((off as usize, len as usize))
            }
            _ => Err(self.bad(at, Corruption::BadStructure)),
        }
    }

    /// Reads the section directory and checks that the sections every version has sit on
    /// the right side of `hot_start` (evidence and index before it, the shared part after).
    pub(super) fn sections(&self) -> Result<Sections, StoreError> {
        let legacy = self.legacy();
        let rec_len = if legacy { FULL_EVIDENCE_LEN } else { EVIDENCE_LEN };
        let evidence = self.section(field::EVIDENCE, rec_len as u64)?;
        let tuples = if legacy { (0, 0) } else { self.section(field::TUPLES, TUPLE_LEN as u64)? };
        let stats = self.section(field::STATS, 1)?;
        let index = self.section(field::INDEX, 1)?;
        let strings = self.section(field::STRINGS, 1)?;
        let hot_start = self.to_usize(self.h64(field::HOT_START), field::HOT_START)?;
        // Absent (0, 0) when nothing was ever erased.
        let suppress = if self.h64(field::SUPPRESS + 8) == 0 {
            (0, 0)
        } else {
            let s = self.section(field::SUPPRESS, crate::store::suppress::ENTRY_LEN as u64)?;
            if s.0 < hot_start {
                return Err(self.bad(field::SUPPRESS, Corruption::BadStructure));
            }
            s
        };
        if hot_start < evidence.0 + evidence.1
            || hot_start < tuples.0 + tuples.1
            || hot_start > stats.0
            || index.0 + index.1 > hot_start
            || strings.0 < hot_start
        {
            return Err(self.bad(field::HOT_START, Corruption::BadStructure));
        }
        Ok(Sections { evidence, rec_len, tuples, stats, index, strings, hot_start, suppress })
    }

    /// Reads the shared part: the parsed strings of a legacy snapshot (which has nothing
    /// else), or the strings, names, number table and brand and scope directories of a
    /// version-4 one.
    pub(super) fn shared(&self, s: &Sections) -> Result<Parsed, StoreError> {
        let (strings_off, strings_len) = s.strings;
        let mut p = Parsed {
            strings: (strings_off, 0),
            legacy_strings: Vec::new(),
            names: (0, 0),
            numbers: (0, 0, 0, 0),
            brands: Vec::new(),
            scopes: Vec::new(),
            scope_index: HashMap::new(),
            lists_start: self.sums_off,
        };
        if self.legacy() {
            p.legacy_strings = legacy_strings(&self.b[strings_off..strings_off + strings_len])
                .ok_or(self.bad(strings_off, Corruption::BadStructure))?;
            return Ok(p);
        }
        let count = self.string_count(s.strings)?;
        p.strings = (strings_off, count);
        p.names = self.section(field::NAMES, 1)?;
        let lists_start = self.to_usize(self.h64(field::LISTS), field::LISTS)?;
        let (num_off, _) = self.section(field::NUMBERS, 8)?;
        let cap = self.h64(field::NUMBERS + 8);
        let tags = format::tags_offset(num_off as u64, cap);
        let held = self.h64(field::NUMBER_COUNT);
        let brands = self.section(field::BRANDS, format::BRAND_LEN as u64)?;
        let scopes = self.section(field::SCOPES, format::SCOPE_LEN as u64)?;
        // The number table lies after the hot start and, like every directory, before
        // the lists.
        if cap == 0
            || held >= cap
            || num_off < s.hot_start
            || tags.checked_add(cap).is_none_or(|e| e > lists_start as u64)
            || lists_start > self.sums_off
            || brands.0 + brands.1 > lists_start
            || scopes.0 + scopes.1 > lists_start
            || p.names.0 + p.names.1 > lists_start
            || (s.suppress.1 > 0 && s.suppress.0 + s.suppress.1 > lists_start)
            || strings_off + strings_len > lists_start
        {
            return Err(self.bad(field::NUMBERS, Corruption::BadStructure));
        }
        p.numbers = (num_off, cap, tags as usize, held);
        p.lists_start = lists_start;
        p.brands = self.brands(brands, count, lists_start)?;
        (p.scopes, p.scope_index) = self.scopes(scopes, count, lists_start)?;
        Ok(p)
    }

    /// The string count of a version-4 strings section (count, offsets, bytes), checking
    /// that the offsets fit and the last one ends the section.
    fn string_count(&self, (off, len): (usize, usize)) -> Result<usize, StoreError> {
        let count =
            format::u32_at(self.b, off).ok_or(self.bad(off, Corruption::BadStructure))? as usize;
        let head = count.checked_add(2).and_then(|n| n.checked_mul(4));
        let Some(head) = head.filter(|&h| h <= len) else {
            return Err(self.bad(off, Corruption::BadStructure));
        };
        let last = format::u32_at(self.b, off + 4 + 4 * count).unwrap_or(u32::MAX) as usize;
        if last != len - head {
            return Err(self.bad(off, Corruption::BadStructure));
        }
        Ok(count)
    }

    /// The list (offset, count) of a directory entry at `at`, with `rec` bytes per entry:
    /// a list is 8-aligned and lies in `[lists_start, sums_off)`.
    fn list(
        &self,
        at: usize,
        (off, count): (u64, u64),
        rec: u64,
        lists_start: usize,
    ) -> Result<(usize, u64), StoreError> {
        let ok = format::list_len(off, count, rec)
            .and_then(|l| l.checked_add(off))
            .is_some_and(|end| end <= self.sums_off as u64)
            && off >= lists_start as u64
            && off.is_multiple_of(8);
        if ok { Ok((off as usize, count)) } else { Err(self.bad(at, Corruption::BadStructure)) }
    }

    /// The brand directory: brands strictly ascending, each a known string, with its stop
    /// and relationship lists.
    fn brands(
        &self,
        (off, len): (usize, usize),
        strings: usize,
        lists_start: usize,
    ) -> Result<Vec<BrandInfo>, StoreError> {
        let mut out = Vec::new();
        let mut prev = None;
        for i in 0..len / format::BRAND_LEN {
            let at = off + i * format::BRAND_LEN;
            let brand = format::u32_at(self.b, at).unwrap_or(u32::MAX);
            if brand as usize >= strings || prev.is_some_and(|p| p >= brand) {
                return Err(self.bad(at, Corruption::BadStructure));
            }
            prev = Some(brand);
            let stops = self.list(at, (self.h64(at + 8), self.h64(at + 16)), 4, lists_start)?;
            let rels = self.list(
                at,
                (self.h64(at + 24), self.h64(at + 32)),
                format::REL_LEN as u64,
                lists_start,
            )?;
            out.push(BrandInfo { brand, stops, rels });
        }
        Ok(out)
    }

    /// The scope directory: each (brand, purpose) a pair of known strings with its consent
    /// list, and the index from the pair to its position.
    fn scopes(
        &self,
        (off, len): (usize, usize),
        strings: usize,
        lists_start: usize,
    ) -> Result<(Vec<ScopeInfo>, ScopeIndex), StoreError> {
        let mut scopes = Vec::new();
        let mut index = HashMap::new();
        for i in 0..len / format::SCOPE_LEN {
            let at = off + i * format::SCOPE_LEN;
            let brand = format::u32_at(self.b, at).unwrap_or(u32::MAX);
            let purpose = format::u32_at(self.b, at + 4).unwrap_or(u32::MAX);
            if brand as usize >= strings || purpose as usize >= strings {
                return Err(self.bad(at, Corruption::BadStructure));
            }
            let (list_off, n) = self.list(
                at,
                (self.h64(at + 8), self.h64(at + 16)),
                format::CONSENT_LEN as u64,
                lists_start,
            )?;
            index.insert((brand, purpose), scopes.len());
            scopes.push(ScopeInfo { brand, purpose, off: list_off, count: n });
        }
        Ok((scopes, index))
    }
}
