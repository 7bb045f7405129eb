//! The snapshot file format: bytes only. The reader ([`super::Snapshot`]) and the writer
//! ([`super::build`]) agree through this module.
//!
//! ```text
//! header   HEADER_LEN bytes, fields below, ends with xxh3 of the bytes before it
//! evidence EVIDENCE_LEN-byte records sorted by (number, seq): every event, in full
//! index    fst map: number as 8 big-endian bytes → index of its first evidence record
//!          (byte order = numeric order, so number ranges and digit prefixes are range
//!          queries)
//! stats    JSON (counts for `info`)
//! strings  count u32, then (len u16, UTF-8 bytes)*: brands, purposes, channels, methods, …
//! scopes   SCOPE_LEN-byte entries: brand u32, purpose u32, table offset u64, capacity u64,
//!          entries u64
//! tables   per scope, `capacity` SLOT_LEN-byte slots, 64-byte aligned (see `Slot`); with
//!          header field TAGS = 1, each table is followed (64-byte aligned) by `capacity`
//!          tag bytes: the slot's [`tag`] (0 = empty slot). A lookup scans the tags, which
//!          are 32 times smaller than the slots and mostly in cache, and reads only slots
//!          whose tag matches: a number not in the table reads no slot at all
//! stops    STOP_SLOT_LEN-byte slots keyed by (number, brand): every stop, folded
//! rels     REL_SLOT_LEN-byte slots keyed by (number, brand): the newest customer
//!          relationship (soft opt-in); optional: header offset 0 = no section (snapshots
//!          written before relationships existed read as having none)
//! suppress suppression entries (erased numbers), `suppress::ENTRY_LEN` bytes each:
//!          keyed hash u128, erased_at i64; sorted; no number digits (header field
//!          SUPPRESS; offset and count 0 = none, as in snapshots written before it)
//! sums     xxh3 of every BLOCK_SIZE block of [HEADER_LEN, sums offset)
//! ```
//! Times are `u32` Unix seconds, 0 = none (the event layer refuses times outside that).
//! Hash tables use linear probing from `xxh3(number) × capacity >> 64`; number 0 = empty.

/// Magic number at the start of a snapshot.
pub const MAGIC: [u8; 8] = *b"SFSNAP\r\n";
/// Snapshot format version this build reads and writes. Version 3 (256-byte header with the
/// relationships and suppression sections) replaced 1 and 2 before any release: older
/// snapshots are refused (fail closed), rebuild them from the source CSVs.
pub const VERSION: u32 = 3;
/// Header length.
pub const HEADER_LEN: usize = 256;
/// Checksum block size.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Bytes per evidence record.
pub const EVIDENCE_LEN: usize = 64;
/// Bytes per scope directory entry.
pub const SCOPE_LEN: usize = 32;
/// Bytes per scope-table slot: two slots per cache line, so one probe is one line.
pub const SLOT_LEN: usize = 32;
/// Bytes per stops-table slot.
pub const STOP_SLOT_LEN: usize = 16;
/// Evidence kind: stop.
pub const KIND_STOP: u32 = 1;
/// Evidence kind: consent.
pub const KIND_CONSENT: u32 = 2;
/// Evidence kind: customer relationship (text: brand, kind; t0 started_at, expires
/// ends_at, confirmed informed_at, t3 last_purchase_at).
pub const KIND_RELATIONSHIP: u32 = 3;
/// Bytes per relationships-table slot.
pub const REL_SLOT_LEN: usize = 40;
/// Evidence kind: consent-evidence correction. `text[0..3]` = method, text_ref, source
/// (`u32::MAX` = unchanged), `t0` = corrected_at, `expires | confirmed << 32` = the
/// corrected consent's sequence.
pub const KIND_CORRECT: u32 = 5;
/// Evidence kind: number move, recorded under both numbers. `text[0] | text[1] << 32` =
/// the other number, `t0` = moved_at, `expires` = 0 under the old number, 1 under the new.
pub const KIND_MOVE: u32 = 6;
/// Target load factor of the hash tables, as a fraction (entries × DEN / NUM = capacity).
pub const LOAD_NUM: u64 = 3;
/// See [`LOAD_NUM`]: load ≤ 3/5 keeps misses to a few slots.
pub const LOAD_DEN: u64 = 5;

/// Header field offsets.
pub mod field {
    /// Format version (u32).
    pub const VERSION: usize = 8;
    /// Checksum block size (u32).
    pub const BLOCK_SIZE: usize = 12;
    /// Generation (u64).
    pub const GENERATION: usize = 16;
    /// Last journal sequence folded in (u64).
    pub const LAST_SEQ: usize = 24;
    /// Total file length (u64).
    pub const FILE_LEN: usize = 32;
    /// Strings section offset, length.
    pub const STRINGS: usize = 40;
    /// Scope directory offset, count.
    pub const SCOPES: usize = 56;
    /// Stops table offset, capacity.
    pub const STOPS: usize = 72;
    /// Evidence offset, count.
    pub const EVIDENCE: usize = 88;
    /// Stats offset, length.
    pub const STATS: usize = 104;
    /// Block checksum table offset, number of blocks.
    pub const SUMS: usize = 120;
    /// xxh3 of the block checksum table.
    pub const SUMS_CHECKSUM: usize = 136;
    /// Start of the region the hot path reads (verified at open).
    pub const HOT_START: usize = 144;
    /// Number index (an `fst` map: big-endian number → first evidence record) offset,
    /// length.
    pub const INDEX: usize = 152;
    /// Relationships table offset, capacity (both 0 when absent).
    pub const RELATIONSHIPS: usize = 168;
    /// Suppression entries (erased numbers' keyed hashes) offset, count; 0, 0 = none.
    pub const SUPPRESS: usize = 184;
    /// 1 when every scope table is followed by its tag bytes; 0 in snapshots written
    /// before tags existed (they read the same, probing slots only).
    pub const TAGS: usize = 200;
    /// xxh3 of the header bytes before this field.
    pub const HEADER_CHECKSUM: usize = super::HEADER_LEN - 8;
}

/// Reads a little-endian u32 at `at`; `None` past the end.
#[inline]
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes)
}

/// Reads a little-endian u64 at `at`; `None` past the end.
#[inline]
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes)
}

/// The slot index a key hash starts probing at, for a table of `cap` slots.
#[inline]
pub fn home(hash: u64, cap: u64) -> u64 {
    ((u128::from(hash) * u128::from(cap)) >> 64) as u64
}

/// Hash of a number for the scope tables.
#[inline]
pub fn hash_number(number: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&number.to_le_bytes())
}

/// The tag of a number in a scope table: a byte of its hash the home slot does not use,
/// never 0 (0 marks an empty slot).
#[inline]
pub fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// Offset of the tag bytes of a scope table at `off` with `cap` slots.
#[inline]
pub fn tags_offset(off: u64, cap: u64) -> u64 {
    align64(off + cap * SLOT_LEN as u64)
}

/// Hash of a (number, brand) key for the stops table.
#[inline]
pub fn hash_stop(number: u64, brand: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&number.to_le_bytes(), u64::from(brand) + 1)
}

/// Hash of a (number, brand) key for the relationships table.
#[inline]
pub fn hash_relationship(number: u64, brand: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&number.to_le_bytes(), (1 << 32) | u64::from(brand))
}

/// Capacity for `entries` keys at the target load (at least 1, so probing terminates).
pub fn capacity(entries: u64) -> u64 {
    (entries * LOAD_DEN).div_ceil(LOAD_NUM).max(1) + 1
}

/// Rounds `n` up to a multiple of 64.
pub fn align64(n: u64) -> u64 {
    n.div_ceil(64) * 64
}

/// One scope-table slot, decoded: the folded state of one number under one (brand, purpose).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// E.164 digits; 0 = empty slot.
    pub number: u64,
    /// Newest stop for the brand or `*`; 0 = none.
    pub stop: u32,
    /// Newest sms consent's granted_at; 0 = no consent.
    pub granted: u32,
    /// Its confirmed_at; 0 = none.
    pub confirmed: u32,
    /// Its expires_at; 0 = none.
    pub expires: u32,
    /// Its journal sequence.
    pub seq: u64,
}

impl Slot {
    /// Encodes into 32 bytes.
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        let mut b = [0u8; SLOT_LEN];
        b[0..8].copy_from_slice(&self.number.to_le_bytes());
        b[8..12].copy_from_slice(&self.stop.to_le_bytes());
        b[12..16].copy_from_slice(&self.granted.to_le_bytes());
        b[16..20].copy_from_slice(&self.confirmed.to_le_bytes());
        b[20..24].copy_from_slice(&self.expires.to_le_bytes());
        b[24..32].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes 32 bytes.
    #[inline]
    pub fn decode(b: &[u8; SLOT_LEN]) -> Slot {
        let u32s = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[0..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[24..32]);
        Slot {
            number: u64::from_le_bytes(n),
            stop: u32s(8),
            granted: u32s(12),
            confirmed: u32s(16),
            expires: u32s(20),
            seq: u64::from_le_bytes(s),
        }
    }
}

/// One evidence record, decoded: one event with its strings as ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceRec {
    /// E.164 digits.
    pub number: u64,
    /// Journal sequence.
    pub seq: u64,
    /// [`KIND_STOP`] or [`KIND_CONSENT`].
    pub kind: u32,
    /// String ids: brand, purpose, channel, method, text_ref, source (stops use brand only).
    pub text: [u32; 6],
    /// stopped_at or granted_at.
    pub t0: u32,
    /// expires_at (0 = none).
    pub expires: u32,
    /// confirmed_at (0 = none).
    pub confirmed: u32,
    /// Relationships: last_purchase_at (0 = none); 0 for other kinds.
    pub t3: u32,
}

impl EvidenceRec {
    /// Encodes into 64 bytes.
    pub fn encode(&self) -> [u8; EVIDENCE_LEN] {
        let mut b = [0u8; EVIDENCE_LEN];
        b[0..8].copy_from_slice(&self.number.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.kind.to_le_bytes());
        for (i, t) in self.text.iter().enumerate() {
            b[20 + 4 * i..24 + 4 * i].copy_from_slice(&t.to_le_bytes());
        }
        b[48..52].copy_from_slice(&self.t0.to_le_bytes());
        b[52..56].copy_from_slice(&self.expires.to_le_bytes());
        b[56..60].copy_from_slice(&self.confirmed.to_le_bytes());
        b[60..64].copy_from_slice(&self.t3.to_le_bytes());
        b
    }

    /// Decodes 64 bytes (a slice of at least that length).
    pub fn decode(b: &[u8]) -> Option<EvidenceRec> {
        let mut text = [0u32; 6];
        for (i, t) in text.iter_mut().enumerate() {
            *t = u32_at(b, 20 + 4 * i)?;
        }
        Some(EvidenceRec {
            number: u64_at(b, 0)?,
            seq: u64_at(b, 8)?,
            kind: u32_at(b, 16)?,
            text,
            t0: u32_at(b, 48)?,
            expires: u32_at(b, 52)?,
            confirmed: u32_at(b, 56)?,
            t3: u32_at(b, 60)?,
        })
    }
}

/// One relationships-table slot: the newest relationship of a (number, brand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelSlot {
    /// E.164 digits; 0 = empty slot.
    pub number: u64,
    /// Brand string id.
    pub brand: u32,
    /// 1 for a lasting relationship (subscription, membership), else 0.
    pub lasting: u32,
    /// started_at.
    pub started: u32,
    /// last_purchase_at (0 = none).
    pub last_purchase: u32,
    /// ends_at (0 = none).
    pub ends: u32,
    /// informed_at (0 = never).
    pub informed: u32,
    /// Journal sequence of the relationship event.
    pub seq: u64,
}

impl RelSlot {
    /// Encodes into [`REL_SLOT_LEN`] bytes.
    pub fn encode(&self) -> [u8; REL_SLOT_LEN] {
        let mut b = [0u8; REL_SLOT_LEN];
        b[0..8].copy_from_slice(&self.number.to_le_bytes());
        let u32s =
            [self.brand, self.lasting, self.started, self.last_purchase, self.ends, self.informed];
        for (i, v) in u32s.iter().enumerate() {
            b[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[32..40].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes a slot (a slice of at least [`REL_SLOT_LEN`] bytes).
    pub fn decode(b: &[u8]) -> Option<RelSlot> {
        Some(RelSlot {
            number: u64_at(b, 0)?,
            brand: u32_at(b, 8)?,
            lasting: u32_at(b, 12)?,
            started: u32_at(b, 16)?,
            last_purchase: u32_at(b, 20)?,
            ends: u32_at(b, 24)?,
            informed: u32_at(b, 28)?,
            seq: u64_at(b, 32)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_and_evidence_round_trip() {
        let s = Slot { number: 4791234567, stop: 1, granted: 2, confirmed: 3, expires: 4, seq: 9 };
        assert_eq!(Slot::decode(&s.encode()), s);
        let e = EvidenceRec {
            number: 4791234567,
            seq: 7,
            kind: KIND_CONSENT,
            text: [1, 2, 3, 4, 5, 6],
            t0: 10,
            expires: 0,
            confirmed: 11,
            t3: 12,
        };
        assert_eq!(EvidenceRec::decode(&e.encode()), Some(e));
        let r = RelSlot {
            number: 4791234567,
            brand: 3,
            lasting: 1,
            started: 4,
            last_purchase: 5,
            ends: 6,
            informed: 7,
            seq: 8,
        };
        assert_eq!(RelSlot::decode(&r.encode()), Some(r));
    }

    #[test]
    fn home_is_in_range() {
        for cap in [1u64, 2, 7, 1000] {
            for n in 0..1000u64 {
                assert!(home(hash_number(n), cap) < cap);
            }
        }
    }
}
