//! The suppression list of erased numbers: a keyed hash per number, never the number.
//!
//! When a person asks for erasure, their consents, evidence and relationships are dropped
//! at the next compaction, but the store must still honour their opt-out forever. It keeps
//! one *suppression entry* per erased number: `(keyed hash of the number, erasure time)`.
//!
//! * The key is 32 random bytes (from the OS random source, `getrandom`) in the file [`KEY_FILE`] in the store
//!   directory, created `0600` on the first erasure. The file has a magic, a version and a
//!   checksum like every file the store writes.
//! * The hash is SipHash-2-4 (a keyed pseudo-random function) computed twice with the two
//!   halves of the key, giving 128 bits: [`SubjectKey`]. SipHash comes from the
//!   `siphasher` crate (the function `std`'s deprecated `SipHasher` computes: entries and
//!   receipts written with either match, see the test `sip_is_siphash_2_4_as_stored`).
//! * What this does and does not protect, honestly: the number's digits are not in any
//!   file once compacted, and the entry cannot be read back into a number *without the
//!   key*. Whoever holds both the store and its key can test a guessed number — that is
//!   exactly what suppression needs — and, since national numbering plans are small
//!   (10⁸ numbers in Norway), can test them all in minutes. Keep the key file with the
//!   same care as the store; a copy of the store without the key reveals nothing but the
//!   count and times of erasures.
//! * Failing closed: a store with suppression entries but no readable key cannot tell
//!   whom they suppress, so opening a view fails ([`StoreError::KeyMissing`]) instead of
//!   sending to erased numbers, and no new key is ever made while entries exist (a new
//!   key would recognise none of them: [`load_or_create_key`]); the key file must be
//!   restored from a backup.
//! * The same file format holds the store's *receipt* key ([`RECEIPT_KEY_FILE`], see
//!   [`crate::filter::receipts`]), a separate secret made by the first run that writes
//!   decision receipts.
//!
//! The set is small (erasures are rare) and sorted by the hash's first 64 bits, so a
//! lookup is one SipHash and a binary search over a few cache lines; the filter asks only
//! for numbers that would otherwise be allowed (see [`crate::store::StoreView`]).

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::phone::E164;
use crate::standing::Timestamp;
use crate::store::error::{StoreError, io};

/// Name of the key file inside the store directory.
pub const KEY_FILE: &str = "suppress.key";
const KEY_MAGIC: [u8; 8] = *b"SFKEY\r\n\x01";
const KEY_LEN: usize = 32;
const KEY_FILE_LEN: usize = 8 + KEY_LEN + 8;

/// The keyed 128-bit hash of one erased number: what a suppression entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubjectKey(pub u128);

impl SubjectKey {
    /// The first 64 bits (the sort and search key).
    pub fn lo(self) -> u64 {
        self.0 as u64
    }

    /// Lower-case hex, for receipts.
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// The per-store secret key of the suppression hash.
#[derive(Clone)]
pub struct Keyer {
    k: [u64; 4],
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyer(..)") // never print the key
    }
}

/// SipHash-2-4 of `v` (little-endian) under the key `(k0, k1)`.
pub(crate) fn sip(k0: u64, k1: u64, v: u64) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
    h.write(&v.to_le_bytes());
    h.finish()
}

impl Keyer {
    /// A separate 32-byte key for another use of the store's secret (`purpose` names
    /// it): SHA-256 of `purpose` and the key. Knowing it reveals nothing of the key.
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(purpose);
        h.update([0u8]);
        for k in self.k {
            h.update(k.to_le_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize()); // SHA-256: 32 bytes
        out
    }

    /// A keyer from 32 key bytes.
    pub fn from_bytes(b: &[u8; KEY_LEN]) -> Keyer {
        let mut k = [0u64; 4];
        for (i, k) in k.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *k = u64::from_le_bytes(w);
        }
        Keyer { k }
    }

    /// The first 64 bits of the keyed hash (enough to search; confirm with [`Keyer::hash`]).
    #[inline]
    pub fn lo(&self, number: E164) -> u64 {
        sip(self.k[0], self.k[1], number.as_u64())
    }

    /// The full keyed 128-bit hash of `number`.
    pub fn hash(&self, number: E164) -> SubjectKey {
        let hi = sip(self.k[2], self.k[3], number.as_u64());
        SubjectKey((u128::from(hi) << 64) | u128::from(self.lo(number)))
    }
}

/// The 32 key bytes of a key file's contents `b` with magic `magic`.
fn parse_key_bytes(path: &Path, b: &[u8], magic: &[u8; 8]) -> Result<[u8; KEY_LEN], StoreError> {
    let bad = |reason: &str| StoreError::Config { path: path.into(), reason: reason.into() };
    if b.len() != KEY_FILE_LEN || b[..8] != magic[..] {
        return Err(bad("not a sendfilter key file of this kind (bad length or magic)"));
    }
    let sum = u64::from_le_bytes(b[8 + KEY_LEN..].try_into().map_err(|_| bad("bad length"))?);
    if xxh3_64(&b[..8 + KEY_LEN]) != sum {
        return Err(bad("checksum mismatch: the key file is damaged; restore it from backup"));
    }
    let mut k = [0u8; KEY_LEN];
    k.copy_from_slice(&b[8..8 + KEY_LEN]);
    Ok(k)
}

/// Reads key file `name` in `dir`: `None` when absent.
fn read_key_file(
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
) -> Result<Option<[u8; KEY_LEN]>, StoreError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(b) => parse_key_bytes(&path, &b, magic).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

/// Creates key file `name` in `dir` with 32 bytes from the OS random source (`0600`, fsynced,
/// directory fsynced), never replacing an existing one (a concurrent creator wins), and
/// returns the key the file then holds.
fn create_key_file(dir: &Path, name: &str, magic: &[u8; 8]) -> Result<[u8; KEY_LEN], StoreError> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| {
        io("generating random bytes for", &dir.join(name))(std::io::Error::other(e.to_string()))
    })?;
    let mut b = Vec::with_capacity(KEY_FILE_LEN);
    b.extend_from_slice(magic);
    b.extend_from_slice(&key);
    b.extend_from_slice(&xxh3_64(&b).to_le_bytes());
    // Creators that hold no lock (a `filter` making the receipt key) never write into each
    // other's temporary file, and never replace an existing key.
    crate::store::durable::create_once(dir, name, &b)?;
    let path = dir.join(name);
    read_key_file(dir, name, magic)?.ok_or(StoreError::KeyMissing { path })
}

/// Name of the receipt key file inside the store directory (see
/// [`crate::filter::receipts`]).
pub const RECEIPT_KEY_FILE: &str = "receipt.key";
const RECEIPT_KEY_MAGIC: [u8; 8] = *b"SFRKEY\n\x01";

/// The store's receipt key bytes; `None` when no receipts were written yet.
///
/// # Errors
/// I/O errors other than absence, [`StoreError::Config`] for a damaged file.
pub fn load_receipt_key(dir: &Path) -> Result<Option<[u8; KEY_LEN]>, StoreError> {
    read_key_file(dir, RECEIPT_KEY_FILE, &RECEIPT_KEY_MAGIC)
}

/// The store's receipt key bytes, created (`0600`) on first need. Independent of the
/// suppression key: it is made by the first `filter --receipts`, kept across erasures
/// (receipts of everyone else stay findable), and losing it only makes older receipts
/// unfindable (a new one is then made; the receipts' header names the key they used).
///
/// # Errors
/// I/O errors naming the file, [`StoreError::Config`] for a damaged file.
pub fn load_or_create_receipt_key(dir: &Path) -> Result<[u8; KEY_LEN], StoreError> {
    match load_receipt_key(dir)? {
        Some(k) => Ok(k),
        None => create_key_file(dir, RECEIPT_KEY_FILE, &RECEIPT_KEY_MAGIC),
    }
}

/// Loads the store's suppression key; `None` when the store has none yet.
///
/// # Errors
/// I/O errors other than absence, [`StoreError::Config`] for a damaged file.
pub fn load_key(dir: &Path) -> Result<Option<Keyer>, StoreError> {
    Ok(read_key_file(dir, KEY_FILE, &KEY_MAGIC)?.map(|k| Keyer::from_bytes(&k)))
}

/// Loads the store's suppression key, creating it (32 bytes from the OS random source, file
/// `0600`, fsynced, directory fsynced) when missing and the store holds no suppression
/// entry yet (`entries_held`: entries in the snapshot plus erasures in the journal tail,
/// see [`crate::store::Store::suppression_entries`]).
///
/// A key is never minted while suppression entries exist: the entries are hashes under
/// the lost key, and a new key would recognise none of them, so every erased number whose
/// old consent is re-imported would be allowed again. The store stays closed
/// ([`StoreError::KeyMissing`], saying how to restore the key) until the key file is back.
///
/// # Errors
/// [`StoreError::KeyMissing`] (see above), I/O errors naming the file,
/// [`StoreError::Config`] for a damaged file.
pub fn load_or_create_key(dir: &Path, entries_held: usize) -> Result<Keyer, StoreError> {
    if let Some(k) = load_key(dir)? {
        return Ok(k);
    }
    if entries_held > 0 {
        return Err(StoreError::KeyMissing { path: dir.join(KEY_FILE) });
    }
    create_key_file(dir, KEY_FILE, &KEY_MAGIC).map(|k| Keyer::from_bytes(&k))
}

/// One suppression entry: the keyed hash of an erased number and when it was erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Keyed hash of the number.
    pub key: SubjectKey,
    /// When the number was erased (acts as a stop for every brand from then on).
    pub erased_at: Timestamp,
    /// Journal sequence of the erasure: consents recorded before it never lift it,
    /// whatever times they carry.
    pub seq: u64,
}

/// Bytes per entry in the snapshot's suppression section: key u128, erased_at i64,
/// seq u64 (LE).
pub const ENTRY_LEN: usize = 32;

impl Entry {
    /// Encodes into [`ENTRY_LEN`] bytes.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[..16].copy_from_slice(&self.key.0.to_le_bytes());
        b[16..24].copy_from_slice(&self.erased_at.to_le_bytes());
        b[24..32].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes [`ENTRY_LEN`] bytes; `None` for a short slice.
    pub fn decode(b: &[u8]) -> Option<Entry> {
        let key = u128::from_le_bytes(b.get(..16)?.try_into().ok()?);
        let at = i64::from_le_bytes(b.get(16..24)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(24..32)?.try_into().ok()?);
        Some(Entry { key: SubjectKey(key), erased_at: at, seq })
    }
}

/// The set of erased numbers a view honours: entries sorted by hash, plus the key.
#[derive(Clone, Debug, Default)]
pub struct Suppression {
    keyer: Option<Keyer>,
    /// Sorted by `key.lo()`; one entry per key (newest erasure).
    entries: Vec<Entry>,
}

impl Suppression {
    /// Builds the set from `entries` (any order, duplicates allowed: the newest erasure
    /// per key is kept).
    ///
    /// # Errors
    /// [`StoreError::KeyMissing`] when there are entries but no key: fail closed.
    pub fn new(
        keyer: Option<Keyer>,
        mut entries: Vec<Entry>,
        key_path: &Path,
    ) -> Result<Suppression, StoreError> {
        if entries.is_empty() {
            return Ok(Suppression { keyer, entries });
        }
        let Some(keyer) = keyer else {
            return Err(StoreError::KeyMissing { path: key_path.to_path_buf() });
        };
        entries.sort_unstable_by_key(|e| (e.key.lo(), e.key, std::cmp::Reverse(e.seq)));
        entries.dedup_by_key(|e| e.key);
        Ok(Suppression { keyer: Some(keyer), entries })
    }

    /// True when no number is suppressed (the filter then skips the check entirely).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of suppressed numbers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, sorted by hash.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// When `number` was erased, if it is suppressed.
    #[inline]
    pub fn erased_at(&self, number: E164) -> Option<Timestamp> {
        self.lookup(number).map(|e| e.erased_at)
    }

    /// The (newest) suppression entry of `number`, if it is suppressed.
    #[inline]
    pub fn lookup(&self, number: E164) -> Option<Entry> {
        let keyer = self.keyer.as_ref()?;
        let lo = keyer.lo(number);
        let i = self.entries.partition_point(|e| e.key.lo() < lo);
        let mut run = self.entries.get(i..)?.iter().take_while(|e| e.key.lo() == lo).peekable();
        run.peek()?;
        // Full 128-bit check only on a 64-bit match (practically never a false one).
        let key = keyer.hash(number);
        run.find(|e| e.key == key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Suppression entries and receipts already written must keep matching: the keyed
    /// hash is SipHash-2-4, pinned to values computed with `std`'s implementation.
    #[test]
    fn sip_is_siphash_2_4_as_stored() {
        assert_eq!(sip(1, 2, 3), 0x4215_0b83_f052_1c35);
        let (k0, k1) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        assert_eq!(sip(k0, k1, 4791234567), 0x20c4_6d5f_2b74_5e29);
    }

    fn n(v: u64) -> E164 {
        E164::from_u64(v).unwrap()
    }

    #[test]
    fn key_file_round_trip_and_private() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_key(dir.path()).unwrap().is_none());
        let k1 = load_or_create_key(dir.path(), 0).unwrap();
        let k2 = load_or_create_key(dir.path(), 1).unwrap();
        assert_eq!(k1.hash(n(4791234567)), k2.hash(n(4791234567)));
        assert_ne!(k1.hash(n(4791234567)), k1.hash(n(4791234568)));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Another store gets another key.
        let other = tempfile::tempdir().unwrap();
        let k3 = load_or_create_key(other.path(), 0).unwrap();
        assert_ne!(k1.hash(n(4791234567)), k3.hash(n(4791234567)));
    }

    #[test]
    fn damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create_key(dir.path(), 0).unwrap();
        let p = dir.path().join(KEY_FILE);
        let mut b = std::fs::read(&p).unwrap();
        b[10] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(load_key(dir.path()), Err(StoreError::Config { .. })));
        std::fs::write(&p, b"short").unwrap();
        assert!(matches!(load_key(dir.path()), Err(StoreError::Config { .. })));
    }

    #[test]
    fn a_lost_key_is_never_replaced_while_entries_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create_key(dir.path(), 1).unwrap_err();
        assert!(matches!(err, StoreError::KeyMissing { .. }), "{err}");
        assert!(err.to_string().contains("backup"), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists(), "no key minted");
    }

    #[test]
    fn set_lookup_and_fail_closed() {
        let k = Keyer::from_bytes(&[7u8; 32]);
        let entries = vec![
            Entry { key: k.hash(n(4791234567)), erased_at: 10, seq: 1 },
            Entry { key: k.hash(n(4791234567)), erased_at: 20, seq: 2 },
            Entry { key: k.hash(n(46701234567)), erased_at: 5, seq: 3 },
        ];
        let s = Suppression::new(Some(k.clone()), entries.clone(), Path::new("k")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.erased_at(n(4791234567)), Some(20));
        assert_eq!(s.erased_at(n(46701234567)), Some(5));
        assert_eq!(s.erased_at(n(4791234568)), None);
        assert!(matches!(
            Suppression::new(None, entries, Path::new("k")),
            Err(StoreError::KeyMissing { .. })
        ));
        assert!(Suppression::new(None, Vec::new(), Path::new("k")).unwrap().is_empty());
        let e = Entry { key: SubjectKey(u128::MAX - 3), erased_at: 99, seq: 7 };
        assert_eq!(Entry::decode(&e.encode()), Some(e));
        assert_eq!(Entry::decode(&[0u8; 10]), None);
    }
}
