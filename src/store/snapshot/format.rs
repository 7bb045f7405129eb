//! The snapshot file format: bytes only. The reader ([`super::Snapshot`]) and the writer
//! ([`super::build`]) agree through this module.
//!
//! Version 4 is sized by events, not by brands × stops: every number is stored once, in
//! one shared table that gives it a dense id (its slot), and each brand's stops, each
//! (brand, purpose)'s consents and each brand's customer relationships are sorted lists of
//! ids with the folded state beside them. A run reads the shared table and its own lists,
//! nothing of the other tenants.
//!
//! ```text
//! header   HEADER_LEN bytes, fields below, ends with xxh3 of the bytes before it
//! evidence EVIDENCE_LEN-byte records sorted by (number, seq): every event, in full (see
//!          [`EvidenceRec::encode_packed`]; a consent's channel, method, text_ref and source
//!          are one tuple id)
//! index    fst map: number as 8 big-endian bytes → index of its first evidence record
//!          (byte order = numeric order, so number ranges and digit prefixes are range
//!          queries)
//! tuples   TUPLE_LEN-byte entries: the consent text tuples (4 string ids each); imports
//!          repeat a handful, so a consent record holds one id instead of four
//! ── HOT_START: the shared part, verified when a snapshot is mapped ──
//! stats    JSON (counts for `info`)
//! strings  count u32, (count + 1) u32 offsets into the bytes that follow, then the UTF-8
//!          bytes: brands, purposes, channels, methods, … (read one at a time, never
//!          parsed whole: start-up does not grow with the evidence's free text)
//! names    fst map: string → id, for every non-empty string (ids of brand and purpose
//!          names without a scan)
//! suppress suppression entries (erased numbers), `suppress::ENTRY_LEN` bytes each:
//!          keyed hash u128, erased_at i64; sorted; no number digits (offset and count
//!          0 = none)
//! numbers  the number table: `capacity` u64 keys (E.164 digits, 0 = empty slot), linear
//!          probing from `home(hash_number(n))`, then (64-byte aligned) `capacity` tag
//!          bytes (`tag(hash)`, 0 = empty). A number's id is its slot
//! brands   BRAND_LEN-byte entries sorted by brand string id: the brand's stop list and
//!          relationship list (offset, count; `*` is a brand like the others)
//! scopes   SCOPE_LEN-byte entries sorted by (brand, purpose): the consent list
//! ── LISTS: per-tenant lists, verified by the runs that read them ──
//! lists    each: `count` u32 ids ascending, then (8-byte aligned) `count` records:
//!          stop lists u32 newest stopped_at; consent lists CONSENT_LEN-byte
//!          [`ConsentRec`]; relationship lists REL_LEN-byte [`RelRec`]
//! sums     xxh3 of every BLOCK_SIZE block of [HEADER_LEN, sums offset)
//! ```
//! Times are `u32` Unix seconds, 0 = none (the event layer refuses times outside that).
//!
//! Version 3 (scope tables holding every stop folded into every (brand, purpose): size
//! grew as brands × stops) is still read, evidence and strings only, so that the next
//! compaction migrates it; nothing decides from it.

/// Magic number at the start of a snapshot.
pub const MAGIC: [u8; 8] = *b"SFSNAP\r\n";
/// Snapshot format version this build writes.
pub const VERSION: u32 = 4;
/// The older version this build still reads for migration (evidence, strings and
/// suppression entries only: see the module docs).
pub const LEGACY_VERSION: u32 = 3;
/// Header length.
pub const HEADER_LEN: usize = 256;
/// Checksum block size.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Bytes per evidence record as stored (see [`EvidenceRec::encode_packed`]).
pub const EVIDENCE_LEN: usize = 48;
/// Bytes per evidence record in full ([`EvidenceRec::encode`]): version-3 snapshots and a
/// compaction's sorted runs.
pub const FULL_EVIDENCE_LEN: usize = 64;
/// Bytes per consent text tuple (channel, method, text_ref, source string ids).
pub const TUPLE_LEN: usize = 16;
/// Sequences must stay below this: the evidence record keeps the kind in the top byte.
pub const MAX_SEQ: u64 = 1 << 56;
/// Bytes per scope directory entry.
pub const SCOPE_LEN: usize = 32;
/// Bytes per brand directory entry.
pub const BRAND_LEN: usize = 40;
/// Bytes per consent record in a consent list.
pub const CONSENT_LEN: usize = 20;
/// Bytes per relationship record in a relationship list.
pub const REL_LEN: usize = 28;
/// Evidence kind: stop.
pub const KIND_STOP: u32 = 1;
/// Evidence kind: consent.
pub const KIND_CONSENT: u32 = 2;
/// Evidence kind: customer relationship (text: brand, kind; t0 started_at, expires
/// ends_at, confirmed informed_at, t3 last_purchase_at).
pub const KIND_RELATIONSHIP: u32 = 3;
/// Evidence kind: consent-evidence correction. `text[0..3]` = method, text_ref, source
/// (`u32::MAX` = unchanged), `t0` = corrected_at, `expires | confirmed << 32` = the
/// corrected consent's sequence.
pub const KIND_CORRECT: u32 = 5;
/// Evidence kind: number move, recorded under both numbers. `text[0] | text[1] << 32` =
/// the other number, `t0` = moved_at, `expires` = 0 under the old number, 1 under the new.
pub const KIND_MOVE: u32 = 6;
/// Target load factor of the number table, as a fraction (entries × DEN / NUM = capacity).
pub const LOAD_NUM: u64 = 3;
/// See [`LOAD_NUM`]: load ≤ 3/5 keeps misses to a few tag bytes.
pub const LOAD_DEN: u64 = 5;

/// Header field offsets. Fields a version-3 snapshot also has keep their offsets.
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
    /// Number table offset, capacity.
    pub const NUMBERS: usize = 72;
    /// Evidence offset, count.
    pub const EVIDENCE: usize = 88;
    /// Stats offset, length.
    pub const STATS: usize = 104;
    /// Block checksum table offset, number of blocks.
    pub const SUMS: usize = 120;
    /// xxh3 of the block checksum table.
    pub const SUMS_CHECKSUM: usize = 136;
    /// Start of the shared part (verified at open).
    pub const HOT_START: usize = 144;
    /// Number index (an `fst` map: big-endian number → first evidence record) offset,
    /// length.
    pub const INDEX: usize = 152;
    /// Brand directory offset, count.
    pub const BRANDS: usize = 168;
    /// Suppression entries (erased numbers' keyed hashes) offset, count; 0, 0 = none.
    pub const SUPPRESS: usize = 184;
    /// Names (fst: string → id) offset, length.
    pub const NAMES: usize = 200;
    /// Numbers in the number table (u64).
    pub const NUMBER_COUNT: usize = 216;
    /// Start of the per-tenant lists (u64); everything before it from HOT_START on is
    /// the shared part.
    pub const LISTS: usize = 224;
    /// Consent text tuples offset, count.
    pub const TUPLES: usize = 232;
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

/// Hash of a number for the number table.
#[inline]
pub fn hash_number(number: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&number.to_le_bytes())
}

/// The tag of a number in the number table: a byte of its hash the home slot does not
/// use, never 0 (0 marks an empty slot).
#[inline]
pub fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// Offset of the tag bytes of a number table at `off` with `cap` slots.
#[inline]
pub fn tags_offset(off: u64, cap: u64) -> u64 {
    align64(off + cap * 8)
}

/// Capacity of the number table for `entries` numbers at the target load (at least 1, so
/// probing terminates).
pub fn capacity(entries: u64) -> u64 {
    (entries * LOAD_DEN).div_ceil(LOAD_NUM).max(1) + 1
}

/// Rounds `n` up to a multiple of 64.
pub fn align64(n: u64) -> u64 {
    n.div_ceil(64) * 64
}

/// Rounds `n` up to a multiple of 8.
pub fn align8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

/// Offset of the records of a list at `off` with `count` ids.
#[inline]
pub fn records_offset(off: u64, count: u64) -> u64 {
    count.checked_mul(4).and_then(|l| l.checked_add(off)).map_or(!7, align8)
}

/// Length of a list at `off` with `count` ids and `rec`-byte records, from `off`.
pub fn list_len(off: u64, count: u64, rec: u64) -> Option<u64> {
    let ids = off.checked_add(count.checked_mul(4)?)?.checked_add(7)? / 8 * 8;
    ids.checked_add(count.checked_mul(rec)?)?.checked_sub(off)
}

/// The folded state of one (number, brand, purpose): its newest sms consent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsentRec {
    /// granted_at.
    pub granted: u32,
    /// confirmed_at; 0 = none.
    pub confirmed: u32,
    /// expires_at; 0 = none.
    pub expires: u32,
    /// Journal sequence of the consent event.
    pub seq: u64,
}

impl ConsentRec {
    /// Encodes into [`CONSENT_LEN`] bytes.
    pub fn encode(&self) -> [u8; CONSENT_LEN] {
        let mut b = [0u8; CONSENT_LEN];
        b[0..4].copy_from_slice(&self.granted.to_le_bytes());
        b[4..8].copy_from_slice(&self.confirmed.to_le_bytes());
        b[8..12].copy_from_slice(&self.expires.to_le_bytes());
        b[12..20].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes a record (a slice of at least [`CONSENT_LEN`] bytes).
    #[inline]
    pub fn decode(b: &[u8]) -> Option<ConsentRec> {
        Some(ConsentRec {
            granted: u32_at(b, 0)?,
            confirmed: u32_at(b, 4)?,
            expires: u32_at(b, 8)?,
            seq: u64_at(b, 12)?,
        })
    }
}

/// The newest customer relationship of one (number, brand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelRec {
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

impl RelRec {
    /// Encodes into [`REL_LEN`] bytes.
    pub fn encode(&self) -> [u8; REL_LEN] {
        let mut b = [0u8; REL_LEN];
        let u32s = [self.lasting, self.started, self.last_purchase, self.ends, self.informed];
        for (i, v) in u32s.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[20..28].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes a record (a slice of at least [`REL_LEN`] bytes).
    pub fn decode(b: &[u8]) -> Option<RelRec> {
        Some(RelRec {
            lasting: u32_at(b, 0)?,
            started: u32_at(b, 4)?,
            last_purchase: u32_at(b, 8)?,
            ends: u32_at(b, 12)?,
            informed: u32_at(b, 16)?,
            seq: u64_at(b, 20)?,
        })
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
    /// Encodes into [`EVIDENCE_LEN`] bytes as a snapshot stores it: number u64, seq | kind
    /// << 56 u64, t0, expires, confirmed, t3 (u32 each), three string ids, 4 zero bytes.
    /// The three ids are `text[0..3]`, except for a consent: brand, purpose and `tuple`,
    /// the id of its (channel, method, text_ref, source) in the tuples section. The other
    /// ids of other kinds are implied: `u32::MAX` for corrections, 0 otherwise.
    pub fn encode_packed(&self, tuple: u32) -> [u8; EVIDENCE_LEN] {
        let mut b = [0u8; EVIDENCE_LEN];
        b[0..8].copy_from_slice(&self.number.to_le_bytes());
        let sk = (self.seq & (MAX_SEQ - 1)) | (u64::from(self.kind as u8) << 56);
        b[8..16].copy_from_slice(&sk.to_le_bytes());
        for (i, t) in [self.t0, self.expires, self.confirmed, self.t3].iter().enumerate() {
            b[16 + 4 * i..20 + 4 * i].copy_from_slice(&t.to_le_bytes());
        }
        let ids = if self.kind == KIND_CONSENT {
            [self.text[0], self.text[1], tuple]
        } else {
            [self.text[0], self.text[1], self.text[2]]
        };
        for (i, t) in ids.iter().enumerate() {
            b[32 + 4 * i..36 + 4 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    /// The consent text tuple of a consent record (channel, method, text_ref, source).
    pub fn tuple(&self) -> [u32; 4] {
        [self.text[2], self.text[3], self.text[4], self.text[5]]
    }

    /// The brand's string id (stops, consents, relationships).
    #[inline]
    pub fn brand(&self) -> u32 {
        self.text[0]
    }

    /// The purpose's string id (consents).
    #[inline]
    pub fn purpose(&self) -> u32 {
        self.text[1]
    }

    /// The relationship kind's string id (relationships).
    #[inline]
    pub fn relationship(&self) -> u32 {
        self.text[1]
    }

    /// The channel's string id (consents).
    #[inline]
    pub fn channel(&self) -> u32 {
        self.text[2]
    }

    /// A consent's (brand, purpose, channel) string ids: what makes consents the same
    /// kind of permission.
    #[inline]
    pub fn consent_scope(&self) -> [u32; 3] {
        [self.text[0], self.text[1], self.text[2]]
    }

    /// The free-text string ids of a consent (`text[3..6]`) or a correction (`text[0..3]`,
    /// see [`KIND_CORRECT`]): method, text_ref, source, to be rewritten in place. Empty
    /// for other kinds.
    #[inline]
    pub fn free_text_mut(&mut self) -> &mut [u32] {
        match self.kind {
            KIND_CONSENT => &mut self.text[3..],
            KIND_CORRECT => &mut self.text[..3],
            _ => &mut [],
        }
    }

    /// The sequence of the consent a correction corrects (see [`KIND_CORRECT`]).
    #[inline]
    pub fn corrects(&self) -> u64 {
        u64::from(self.expires) | (u64::from(self.confirmed) << 32)
    }

    /// Sets the sequence of the consent a correction corrects (see [`KIND_CORRECT`]).
    pub fn set_corrects(&mut self, seq: u64) {
        (self.expires, self.confirmed) = (seq as u32, (seq >> 32) as u32);
    }

    /// The other number of a move (see [`KIND_MOVE`]).
    #[inline]
    pub fn moved_other(&self) -> u64 {
        u64::from(self.text[0]) | (u64::from(self.text[1]) << 32)
    }

    /// Decodes [`encode_packed`](Self::encode_packed) bytes; `tuple` resolves a consent's
    /// tuple id (`None`: a damaged record).
    pub fn decode_packed(b: &[u8], tuple: impl Fn(u32) -> Option<[u32; 4]>) -> Option<EvidenceRec> {
        let sk = u64_at(b, 8)?;
        let kind = (sk >> 56) as u32;
        let ids = [u32_at(b, 32)?, u32_at(b, 36)?, u32_at(b, 40)?];
        let text = if kind == KIND_CONSENT {
            let [c, m, t, s] = tuple(ids[2])?;
            [ids[0], ids[1], c, m, t, s]
        } else {
            let rest = if kind == KIND_CORRECT { u32::MAX } else { 0 };
            [ids[0], ids[1], ids[2], rest, rest, rest]
        };
        Some(EvidenceRec {
            number: u64_at(b, 0)?,
            seq: sk & (MAX_SEQ - 1),
            kind,
            text,
            t0: u32_at(b, 16)?,
            expires: u32_at(b, 20)?,
            confirmed: u32_at(b, 24)?,
            t3: u32_at(b, 28)?,
        })
    }

    /// Encodes into [`FULL_EVIDENCE_LEN`] bytes, every field (version 3's record).
    pub fn encode(&self) -> [u8; FULL_EVIDENCE_LEN] {
        let mut b = [0u8; FULL_EVIDENCE_LEN];
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

    /// Decodes [`FULL_EVIDENCE_LEN`] bytes (a slice of at least that length).
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

/// Evidence records sort by (number, seq) in a compaction's journal tail.
impl crate::store::sorted_runs::RunRecord for EvidenceRec {
    const LEN: usize = FULL_EVIDENCE_LEN;
    type Key = (u64, u64);
    #[inline]
    fn key(&self) -> (u64, u64) {
        (self.number, self.seq)
    }
    fn encode_into(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.encode());
    }
    fn decode_from(b: &[u8]) -> Option<Self> {
        EvidenceRec::decode(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let c = ConsentRec { granted: 2, confirmed: 3, expires: 4, seq: 9 };
        assert_eq!(ConsentRec::decode(&c.encode()), Some(c));
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
        let tuples = |i: u32| (i == 9).then_some([3, 4, 5, 6]);
        assert_eq!(EvidenceRec::decode_packed(&e.encode_packed(9), tuples), Some(e));
        assert_eq!(EvidenceRec::decode_packed(&e.encode_packed(8), tuples), None);
        for (kind, rest) in [(KIND_STOP, 0), (KIND_CORRECT, u32::MAX), (KIND_MOVE, 0)] {
            let r = EvidenceRec { kind, seq: MAX_SEQ - 1, text: [1, 2, 3, rest, rest, rest], ..e };
            assert_eq!(EvidenceRec::decode_packed(&r.encode_packed(0), tuples), Some(r));
        }
        let r = RelRec { lasting: 1, started: 4, last_purchase: 5, ends: 6, informed: 7, seq: 8 };
        assert_eq!(RelRec::decode(&r.encode()), Some(r));
        assert_eq!(ConsentRec::decode(&[0; 19]), None);
    }

    #[test]
    fn home_is_in_range() {
        for cap in [1u64, 2, 7, 1000] {
            for n in 0..1000u64 {
                assert!(home(hash_number(n), cap) < cap);
            }
        }
    }

    #[test]
    fn lists_are_aligned() {
        assert_eq!(records_offset(64, 3), 80);
        assert_eq!(list_len(64, 3, 4), Some(28));
        assert_eq!(list_len(64, u64::MAX, 4), None);
    }
}
