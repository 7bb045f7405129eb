//! The audit trail: who read or changed personal data, when, and what it touched, in a
//! hash-chained file that answers per person (GDPR art. 5(2): the controller must be able
//! to *demonstrate* compliance).
//!
//! Every command on a store writes one [`AuditRecord`] to the file [`FILE`] (0600) in the
//! store directory, whether or not roles are set up: who (actor and role), when, which
//! command, the outcome, and where it applies the brand and purpose, counts, the output
//! files named, for subject-level actions a keyed **subject reference** (the store's
//! suppression key, see [`subject_ref`]: never the number) and the journal sequences
//! touched (a list, or a range for bulk imports).
//!
//! **One entry point.** Anything that reads or changes personal data outside the CLI (a
//! service) writes its record with [`record`]`(dir, &rec)`: it fills in the time when
//! empty, masks digit runs in free text, appends under an exclusive lock and syncs the
//! file. A record that cannot be written is an error: the caller must then not answer
//! (fail closed).
//!
//! ```
//! use sendfilter::audit::{self, AuditRecord};
//! let dir = tempfile::tempdir()?;
//! let mut store = sendfilter::Store::open(dir.path())?;
//! let n = sendfilter::E164::from_u64(4791234567).unwrap();
//! let seq = store.append_stop(n, "ACME", 1_700_000_000)?;
//! let rec = AuditRecord {
//!     actor: "svc-api".into(),
//!     role: "operator".into(),
//!     action: "stop".into(),
//!     command: "POST /stops".into(),
//!     outcome: "ok".into(),
//!     brand: Some("ACME".into()),
//!     subject: Some(audit::subject_ref(&store, n)?),
//!     seqs: vec![seq],
//!     ..AuditRecord::default()
//! };
//! audit::record(store.dir(), &rec)?;
//! let found = audit::find(store.dir(), Some(audit::subject_ref(&store, n)?), &[seq], None)?;
//! assert_eq!(found.len(), 1);
//! assert!(audit::verify(store.dir())?.problems.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **The chain** ([`chain`]): each line is one JSON object carrying its number `n`, the
//! hash of the record before it (`prev`) and its own `hash` (xxh3-128 of the line without
//! the hash), so [`verify`] names an edited, removed or reordered record. Lines written by
//! older versions (before the chain) may stand at the start: the first record's `prev` is
//! the hash of everything before it, so they cannot be changed unseen either. What this
//! does not do: someone who may write the file can rewrite the whole chain from the point
//! of an edit. Against that, keep the head hash that `sendfilter audit verify` prints
//! somewhere else (a ticket, a mail to the DPO) and compare.
//!
//! **The index** ([`index`]): `audit.idx` holds 32 bytes per record (subject reference's
//! first 64 bits, offset, journal sequence range), so [`find`] reads 32 MB for a million
//! records instead of the whole log (BENCHMARKS.md). It is derived data: rebuilt from the
//! log when it falls behind (a crash between the two writes); records past its end are
//! read from the log.

pub mod chain;
pub mod index;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::phone::E164;
use crate::store::Store;
use crate::store::error::StoreError;
use crate::store::suppress::{self, SubjectKey};

pub use self::chain::{Chained, Problem, Verified, verify, verify_with_head};
pub use self::index::find;

/// The audit trail in the store directory.
pub const FILE: &str = "audit";
/// Its index (derived; rebuilt when behind).
pub const INDEX: &str = "audit.idx";
/// Longest free-text field kept in a record (longer text is cut).
const MAX_TEXT: usize = 512;
/// Most output files named in one record.
const MAX_OUTPUTS: usize = 16;

/// One audit record: what a command or API call did with personal data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When (RFC 3339, UTC); [`record`] fills it in when empty.
    #[serde(default)]
    pub time: String,
    /// Who: the user name roles are looked up for (`SUDO_USER`, else the account), or a
    /// service's client name.
    pub actor: String,
    /// Their role (`admin`, `privacy`, …), `owner` for the store's owner acting directly,
    /// `open` when the store has no roles.
    pub role: String,
    /// What, as far as access goes (`filter`, `export-subject`, …: see
    /// [`crate::store::access::Action`]).
    pub action: String,
    /// The command (`subject export`, `purge`, …) or API call.
    pub command: String,
    /// `ok`, `failed`, or `denied` (refused by the roles).
    pub outcome: String,
    /// The brand it applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The purpose it applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The person it was about: keyed hash of the number (see [`subject_ref`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Journal sequences read or written for that person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seqs: Vec<u64>,
    /// First and last journal sequence written in bulk (an import, a batch of replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_range: Option<[u64; 2]>,
    /// Counts (`allowed`, `rejected`, `consents_purged`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Output files named by the caller (`--rejects`, `--receipts`, `--report`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Anything else worth knowing (`older-than=24mo`, `forced`), never a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// True when the command decided as of another time than the clock (`--now`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

impl AuditRecord {
    /// The record as it is written: time filled in, free text cut to length and every run
    /// of six or more digits replaced by `#` (a number must never reach the trail, even
    /// inside a file name or a brand).
    pub fn cleaned(&self) -> AuditRecord {
        let mut r = self.clone();
        if r.time.is_empty() {
            r.time = crate::timefmt::format_rfc3339(crate::timefmt::now());
        }
        for s in [&mut r.actor, &mut r.role, &mut r.action, &mut r.command, &mut r.outcome] {
            *s = mask_digits(s);
        }
        for s in [&mut r.brand, &mut r.purpose, &mut r.detail].into_iter().flatten() {
            *s = mask_digits(s);
        }
        r.outputs.truncate(MAX_OUTPUTS);
        for o in &mut r.outputs {
            *o = mask_digits(o);
        }
        r.counts = r.counts.into_iter().map(|(k, v)| (mask_digits(&k), v)).collect();
        r
    }

    /// Whether the record names `subject` or touched one of `seqs` (sorted ascending).
    pub fn concerns(&self, subject: Option<&str>, seqs: &[u64]) -> bool {
        if subject.is_some() && self.subject.as_deref() == subject {
            return true;
        }
        let in_range = |s: u64| self.seq_range.is_some_and(|[lo, hi]| (lo..=hi).contains(&s));
        seqs.iter().any(|s| self.seqs.contains(s) || in_range(*s))
    }
}

/// `s` cut to [`MAX_TEXT`] characters, control characters as `?`, and the digits of
/// every run of six or more ASCII digits (single spaces between them count as part of the
/// run: `+47 912 34 567`) as `#`.
pub fn mask_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().take(MAX_TEXT).collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(if chars[i].is_control() { '?' } else { chars[i] });
            i += 1;
            continue;
        }
        let mut j = i;
        let mut digits = 0;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
            } else if chars[j] == ' ' && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
                j += 1;
            } else {
                break;
            }
        }
        for &c in &chars[i..j] {
            out.push(if digits >= 6 && c.is_ascii_digit() { '#' } else { c });
        }
        i = j;
    }
    out
}

/// Appends `rec` (as [`AuditRecord::cleaned`]) to the audit trail of the store in `dir`:
/// exclusive lock on the file, chained to the record before, synced, indexed. The one
/// entry point for anything that reads or changes personal data.
///
/// # Errors
/// I/O errors naming the file: the caller must not go on as if the action were recorded.
pub fn record(dir: &Path, rec: &AuditRecord) -> Result<u64, StoreError> {
    let mut log = chain::Appender::open(dir)?;
    let n = log.append(&rec.cleaned())?;
    log.sync()?;
    Ok(n)
}

/// The subject reference of `number` in `store`'s audit trail: the 128-bit keyed hash
/// under the store's suppression key (the key erasure uses, created `0600` on first need;
/// never while erasures are held without it), as hex. Without the key it links to nobody;
/// with it, whoever holds the store can test a number (as for erasures). An erased
/// number keeps its reference: the trail still shows what was done, and that it was erased.
///
/// # Errors
/// [`StoreError::KeyMissing`] when the store holds erasures but the key file is gone; I/O.
pub fn subject_ref(store: &Store, number: E164) -> Result<String, StoreError> {
    let k = suppress::load_or_create_key(store.dir(), store.suppression_entries()?)?;
    Ok(k.hash(number).hex())
}

/// The subject reference of `number` in the store in `dir` without creating a key: `None`
/// when the store has no key yet (then no record names anyone).
///
/// # Errors
/// I/O errors, a damaged key file.
pub fn existing_subject_ref(dir: &Path, number: E164) -> Result<Option<String>, StoreError> {
    Ok(suppress::load_key(dir)?.map(|k| k.hash(number).hex()))
}

/// The first 64 bits of a subject reference as the index keeps them (0 for none or a
/// reference that is not hex).
pub(crate) fn subject_lo(subject: Option<&str>) -> u64 {
    subject.and_then(|s| u128::from_str_radix(s, 16).ok()).map_or(0, |k| SubjectKey(k).lo())
}

#[cfg(test)]
mod tests;
