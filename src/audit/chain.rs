//! The audit trail's file: one JSON object per line, hash-chained.
//!
//! ```text
//! {"n":1,"prev":"99aa…","time":"2026-12-06T23:20:00Z","actor":"alice",…,"hash":"5be0…"}
//! {"n":2,"prev":"5be0…",…,"hash":"0c1d…"}
//! ```
//! `hash` is the xxh3-128 (hex) of the line with its `,"hash":"…"` part taken out (the
//! object then closes right after the last other field), so it covers `n`, `prev` and
//! every field. `prev` is the hash of the record before; for record 1 it is the hash of
//! every byte before it in the file (nothing, or lines of the unchained format of older
//! versions, which are thereby covered too).
//!
//! **Keyed chain (version 2).** When the store has its key (the suppression key, see
//! [`crate::store::suppress`]), records carry `"v":2` first and their `hash` is the
//! HMAC-SHA256 (hex) of the same text under a key derived from the store's: whoever edits
//! the file without the key cannot compute a hash `audit verify` accepts. Records without
//! `v` (version 1, written before the store had its key) keep their xxh3 hash and stay
//! verifiable; an unkeyed record after a keyed one is reported (a rewrite without the key).
//!
//! Appends hold an exclusive `flock` on the file for the read of the last record, the
//! write of the new line (one `write`) and the index entry.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{AuditRecord, FILE, INDEX, index};
use crate::store::error::{StoreError, io};

/// How far back from the end an append looks for the last record.
const TAIL: u64 = 64 * 1024;
const HASH_KEY: &str = ",\"hash\":\"";

/// One line of the trail: a record with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chained {
    /// The hash's version: absent for xxh3 (1), 2 for HMAC-SHA256 under the store's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// Its number: 1, 2, 3, … in file order.
    pub n: u64,
    /// The hash of the record before (for record 1: of the bytes before it).
    pub prev: String,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
    /// Its own hash (see the module docs).
    #[serde(default)]
    pub hash: String,
}

/// The xxh3-128 of `bytes`, as 32 hex digits.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// The key a keyed chain's hashes use: derived from the store's suppression key.
pub type ChainKey = [u8; 32];

/// The chain key of the store in `dir`: `None` while the store has no key yet.
///
/// # Errors
/// I/O errors, a damaged key file.
pub fn chain_key(dir: &Path) -> Result<Option<ChainKey>, StoreError> {
    Ok(crate::store::suppress::load_key(dir)?.map(|k| k.derive(b"sendfilter audit chain v2")))
}

/// The HMAC-SHA256 of `bytes` under `key`, as 64 hex digits.
pub fn hmac_hex(key: &ChainKey, bytes: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        return String::from("-"); // never: HMAC takes a key of any length
    };
    mac.update(bytes);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of a record's text for its version (`None` for a version this build does
/// not know, or a keyed record without the key).
fn hash_for(v: Option<u32>, key: Option<&ChainKey>, body: &[u8]) -> Option<String> {
    match v {
        None => Some(hash_hex(body)),
        Some(2) => key.map(|k| hmac_hex(k, body)),
        Some(_) => None,
    }
}

/// The line for record `n` after `prev` (with its newline), and its hash (version 1:
/// unkeyed, as records were before the store had its key).
#[cfg(test)]
pub(crate) fn line(n: u64, prev: &str, rec: &AuditRecord) -> (String, String) {
    line_keyed(n, prev, rec, None)
}

/// [`line`], keyed (version 2) when `key` is given.
pub(crate) fn line_keyed(
    n: u64,
    prev: &str,
    rec: &AuditRecord,
    key: Option<&ChainKey>,
) -> (String, String) {
    let v = key.map(|_| 2);
    let c = Chained { v, n, prev: prev.to_string(), record: rec.clone(), hash: String::new() };
    // A struct of strings, integers and maps of them always serialises.
    let mut json = serde_json::to_string(&c).unwrap_or_default();
    // Take out the empty hash field, hash what is left, put the hash back in.
    if let Some(at) = json.rfind(HASH_KEY) {
        json.truncate(at);
        json.push('}');
    }
    let hash = hash_for(v, key, json.as_bytes()).unwrap_or_default();
    json.pop();
    let line = format!("{json}{HASH_KEY}{hash}\"}}\n");
    (line, hash)
}

/// Parses one line (without its newline) and checks its own hash (keyed records need
/// [`parse_keyed`]): `Ok((record, hash_ok))`, `Err(())` when the line is not a record.
pub(crate) fn parse(line: &[u8]) -> Parsed {
    parse_keyed(line, None)
}

/// [`parse`], checking keyed records with `key`.
pub(crate) fn parse_keyed(line: &[u8], key: Option<&ChainKey>) -> Parsed {
    let c: Chained = serde_json::from_slice(line).map_err(|_| ())?;
    let text = std::str::from_utf8(line).map_err(|_| ())?;
    let ok = text.rfind(HASH_KEY).is_some_and(|at| {
        let body = format!("{}}}", &text[..at]);
        text[at..] == format!("{HASH_KEY}{}\"}}", c.hash)
            && !c.hash.is_empty()
            && hash_for(c.v, key, body.as_bytes()).is_some_and(|h| h == c.hash)
    });
    Ok((c, ok))
}

/// A parsed line: the record and whether its hash matches, or not a record.
type Parsed = Result<(Chained, bool), ()>;

/// An open trail, locked for appending.
pub struct Appender {
    file: File,
    path: PathBuf,
    index: File,
    next_n: u64,
    prev: String,
    len: u64,
    key: Option<ChainKey>,
}

/// An exclusive lock on `f` (`flock(LOCK_EX)` on Linux), waiting for it; released when
/// `f` closes. A signal that interrupts the wait does not end it.
fn lock(f: &File, path: &Path) -> Result<(), StoreError> {
    loop {
        match f.lock() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("locking", path)(e)),
        }
    }
}

fn open_rw(path: &Path, append: bool) -> Result<File, StoreError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(!append)
        .append(append)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io("opening", path))
}

impl Appender {
    /// Opens (creating, 0600) and locks the trail of the store in `dir`, finds the last
    /// record, and brings the index up to date.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn open(dir: &Path) -> Result<Appender, StoreError> {
        let path = dir.join(FILE);
        let mut file = open_rw(&path, true)?;
        lock(&file, &path)?;
        let len = file.metadata().map_err(io("reading metadata of", &path))?.len();
        let (next_n, prev) = last_record(&mut file, &path, len)?;
        let ipath = dir.join(INDEX);
        let index = open_rw(&ipath, false)?;
        let have = index.metadata().map_err(io("reading metadata of", &ipath))?.len();
        if have != (next_n - 1) * index::ENTRY_LEN as u64 {
            index::rebuild(&path, &index, &ipath)?;
        }
        let key = chain_key(dir)?;
        Ok(Appender { file, path, index, next_n, prev, len, key })
    }

    /// Appends `rec` as it is (see [`AuditRecord::cleaned`]) and indexes it; returns its
    /// number.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn append(&mut self, rec: &AuditRecord) -> Result<u64, StoreError> {
        let n = self.next_n;
        let (text, hash) = line_keyed(n, &self.prev, rec, self.key.as_ref());
        let mut bytes = Vec::with_capacity(text.len() + 1);
        if self.len > 0 && !self.ends_with_newline()? {
            bytes.push(b'\n'); // a torn line stays a damaged line of its own
        }
        let offset = self.len + bytes.len() as u64;
        bytes.extend_from_slice(text.as_bytes());
        self.file.write_all(&bytes).map_err(io("writing", &self.path))?;
        self.len += bytes.len() as u64;
        let e = index::entry(rec, offset);
        let ipath = self.path.with_file_name(INDEX);
        self.index.seek(SeekFrom::End(0)).map_err(io("seeking", &ipath))?;
        self.index.write_all(&e).map_err(io("writing", &ipath))?;
        self.next_n += 1;
        self.prev = hash;
        Ok(n)
    }

    fn ends_with_newline(&self) -> Result<bool, StoreError> {
        let mut b = [0u8; 1];
        self.file.read_exact_at(&mut b, self.len - 1).map_err(io("reading", &self.path))?;
        Ok(b[0] == b'\n')
    }

    /// Syncs the trail to disk (the index is derived and rebuilt if lost).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io("fsync of", &self.path))
    }
}

/// The number and hash the next record follows: from the last record in the file, or (a
/// file of unchained lines, or none) `(1, hash of all of it)`.
fn last_record(file: &mut File, path: &Path, len: u64) -> Result<(u64, String), StoreError> {
    let start = len.saturating_sub(TAIL);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start)).map_err(io("seeking", path))?;
    file.read_to_end(&mut tail).map_err(io("reading", path))?;
    // Complete lines only; the first may be cut by the window.
    let lines: Vec<&[u8]> = tail.split(|&b| b == b'\n').collect();
    let complete = lines.len().saturating_sub(1);
    for l in lines[..complete].iter().rev().take(2) {
        if let Ok((c, _)) = parse(l) {
            return Ok((c.n + 1, c.hash));
        }
    }
    // Unusual: no record among the last lines. Read it all: the last record anywhere,
    // else an unchained file whose bytes the first record's `prev` covers.
    let mut all = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io("seeking", path))?;
    file.read_to_end(&mut all).map_err(io("reading", path))?;
    for l in all.split(|&b| b == b'\n').rev() {
        if let Ok((c, _)) = parse(l) {
            return Ok((c.n + 1, c.hash));
        }
    }
    Ok((1, hash_hex(&all)))
}

/// One thing [`verify`] found wrong, with the line it is on (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A line that is not a record (cut, or changed so that it no longer parses).
    Unreadable {
        /// Line number.
        line: u64,
    },
    /// A record whose content does not match its hash: edited.
    Edited {
        /// Line number.
        line: u64,
        /// The record's number.
        n: u64,
    },
    /// Records missing before this one.
    Removed {
        /// Line number of the record after the gap.
        line: u64,
        /// First missing record.
        from: u64,
        /// Last missing record.
        to: u64,
    },
    /// A record out of its place.
    Reordered {
        /// Line number.
        line: u64,
        /// The record found there.
        n: u64,
        /// The record it stands after (0: it is first).
        after: u64,
    },
    /// A record that does not carry the hash of the one before it (the one before was
    /// changed and given a new hash, or the chain was spliced).
    Unchained {
        /// Line number.
        line: u64,
        /// The record's number.
        n: u64,
    },
    /// A keyed record (version 2) while the store's key file is missing: it cannot be
    /// checked.
    NoKey {
        /// Line number.
        line: u64,
        /// The record's number.
        n: u64,
    },
    /// An unkeyed record after a keyed one: written (or rewritten) without the key.
    Unkeyed {
        /// Line number.
        line: u64,
        /// The record's number.
        n: u64,
    },
    /// The head hash kept elsewhere is not in the trail: records at its end were removed
    /// or rewritten.
    HeadMissing {
        /// The hash looked for.
        head: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unreadable { line } => write!(f, "line {line}: not a readable record"),
            Problem::Edited { line, n } => {
                write!(f, "line {line}: record {n} was edited (its hash does not match)")
            }
            Problem::Removed { line, from, to } if from == to => {
                write!(f, "line {line}: record {from} was removed before it")
            }
            Problem::Removed { line, from, to } => {
                write!(f, "line {line}: records {from} to {to} were removed before it")
            }
            Problem::Reordered { line, n, after } => {
                write!(f, "line {line}: record {n} stands after record {after} (reordered)")
            }
            Problem::Unchained { line, n } => {
                write!(f, "line {line}: record {n} does not carry the hash of the record before it")
            }
            Problem::NoKey { line, n } => write!(
                f,
                "line {line}: record {n} is keyed and the store's key file is missing: it \
                 cannot be checked"
            ),
            Problem::Unkeyed { line, n } => write!(
                f,
                "line {line}: record {n} is not keyed although a record before it is \
                 (written or rewritten without the store's key)"
            ),
            Problem::HeadMissing { head } => write!(
                f,
                "the head hash {head} is not in the trail: records at its end were removed \
                 or rewritten"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Records read.
    pub records: u64,
    /// Lines of the unchained format of older versions before the first record.
    pub legacy_lines: u64,
    /// The last record's number and hash: keep them elsewhere, and a later
    /// `audit verify --head HASH` shows whether records were removed from the end.
    pub head: Option<(u64, String)>,
    /// Everything wrong, in file order (empty: the trail is intact).
    pub problems: Vec<Problem>,
}

/// Checks the trail of the store in `dir`: every line a record, every hash matching,
/// numbers consecutive, each record chained to the one before. A missing trail is an
/// empty, intact one.
///
/// # Errors
/// I/O errors other than absence.
pub fn verify(dir: &Path) -> Result<Verified, StoreError> {
    let path = dir.join(FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verified::default()),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    Ok(verify_bytes_keyed(&data, chain_key(dir)?.as_ref()))
}

/// [`verify`] on the trail's bytes, for a trail without keyed records.
pub fn verify_bytes(data: &[u8]) -> Verified {
    verify_bytes_keyed(data, None)
}

/// [`verify`] on the trail's bytes, checking keyed records with `key`.
pub fn verify_bytes_keyed(data: &[u8], key: Option<&ChainKey>) -> Verified {
    use std::collections::HashMap;
    let mut v = Verified::default();
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if body.is_empty() {
        return v;
    }
    // Every line: (line number, offset, parsed).
    let mut lines: Vec<(u64, usize, Parsed)> = Vec::new();
    let mut off = 0;
    for (i, l) in body.split(|&b| b == b'\n').enumerate() {
        lines.push((i as u64 + 1, off, parse_keyed(l, key)));
        off += l.len() + 1;
    }
    // Lines of the unchained format of older versions before the first record are
    // covered by record 1's `prev`.
    let first = lines.iter().position(|(_, _, p)| p.is_ok()).unwrap_or(lines.len());
    v.legacy_lines = first as u64;
    let before_first = hash_hex(lines.get(first).map_or(data, |&(_, o, _)| &data[..o]));
    let mut records: Vec<(u64, &Chained, bool)> = Vec::new();
    let mut problems: Vec<(u64, Problem)> = Vec::new();
    for (line, _, parsed) in &lines[first..] {
        match parsed {
            Ok((c, ok)) => records.push((*line, c, *ok)),
            Err(()) => problems.push((*line, Problem::Unreadable { line: *line })),
        }
    }
    v.records = records.len() as u64;
    let by_n: HashMap<u64, (&Chained, bool)> =
        records.iter().map(|&(_, c, ok)| (c.n, (c, ok))).collect();
    let mut max_seen = 0u64;
    let mut keyed_seen = false;
    for &(line, c, ok) in &records {
        if c.v.is_some() && key.is_none() {
            problems.push((line, Problem::NoKey { line, n: c.n }));
        } else if !ok {
            problems.push((line, Problem::Edited { line, n: c.n }));
        }
        if c.v.is_none() && keyed_seen {
            problems.push((line, Problem::Unkeyed { line, n: c.n }));
        }
        keyed_seen |= c.v.is_some();
        if c.n <= max_seen {
            problems.push((line, Problem::Reordered { line, n: c.n, after: max_seen }));
        } else {
            // Numbers skipped here and found nowhere else in the file were removed.
            let missing: Vec<u64> = (max_seen + 1..c.n).filter(|m| !by_n.contains_key(m)).collect();
            if let (Some(&from), Some(&to)) = (missing.first(), missing.last()) {
                problems.push((line, Problem::Removed { line, from, to }));
            }
            if missing.len() as u64 != c.n - max_seen - 1 {
                // Some of the skipped ones stand later: this one came too early.
                problems.push((line, Problem::Reordered { line, n: c.n, after: max_seen }));
            }
            max_seen = c.n;
        }
        // Chained to its predecessor by number, wherever that stands.
        let want = if c.n == 1 {
            Some(before_first.as_str())
        } else {
            by_n.get(&(c.n - 1)).filter(|(_, pok)| *pok).map(|(p, _)| p.hash.as_str())
        };
        if ok && want.is_some_and(|w| w != c.prev) {
            problems.push((line, Problem::Unchained { line, n: c.n }));
        }
    }
    if let Some(&(_, c, _)) = records.iter().max_by_key(|(_, c, _)| c.n) {
        v.head = Some((c.n, c.hash.clone()));
    }
    problems.sort_by_key(|(l, _)| *l);
    v.problems = problems.into_iter().map(|(_, p)| p).collect();
    v
}

/// [`verify`], then whether the record hashed `head` (kept from an earlier verify) is
/// still in the trail.
///
/// # Errors
/// As [`verify`].
pub fn verify_with_head(dir: &Path, head: &str) -> Result<Verified, StoreError> {
    let mut v = verify(dir)?;
    let path = dir.join(FILE);
    let data = std::fs::read(&path).unwrap_or_default();
    let key = chain_key(dir)?;
    let found = data
        .split(|&b| b == b'\n')
        .filter_map(|l| parse_keyed(l, key.as_ref()).ok())
        .any(|(c, ok)| ok && c.hash.eq_ignore_ascii_case(head.trim()));
    if !found {
        v.problems.push(Problem::HeadMissing { head: head.trim().to_string() });
    }
    Ok(v)
}
