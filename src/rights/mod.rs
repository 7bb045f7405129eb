//! Data-subject rights (GDPR art. 15–17, 20): access and portability, rectification,
//! erasure with proof, and retention purges. The CLI (`sendfilter subject …`,
//! `sendfilter purge`) is a thin shell over these functions.
//!
//! Every right is exercised through the journal, never by rewriting history:
//!
//! | right | function | what is recorded |
//! |---|---|---|
//! | access / portability | [`export`], [`letter`] | nothing; returns every event held for the number, the current verdict per (brand, purpose) and what is kept after erasure; [`letter`] turns it into the answer sent to the person (text or HTML, five languages, with the brands' records of processing) |
//! | rectification (evidence) | [`rectify_consent`] | a correction event referencing the consent's journal sequence; the export shows both |
//! | rectification (new number) | [`rectify_number`] | a move event, then copies of the old number's consents and stops under the new number |
//! | erasure | [`erase`] | an erasure event holding only a keyed hash of the number; compaction drops the earlier events |
//! | retention | [`purge`], [`purge_guarded`], [`plan`] | nothing; a compaction that drops consents ended longer ago than the period ([`purge_guarded`] refuses one that would change a live decision) |
//!
//! ## Erasure, and what is kept
//! The erasure event carries the keyed hash of the number (see [`crate::store::suppress`])
//! and the time; it never holds the digits. At the next compaction (run at once by
//! [`erase`] unless asked not to) every event of the number recorded before the erasure
//! is dropped, the journal is rotated, and unreferenced strings are blanked, so that no
//! file of the store directory holds the number in any form. What remains is one
//! *suppression entry* (keyed hash, erasure time). It acts as a stop for every brand: a
//! marketing message is refused unless a consent granted *and* confirmed after the
//! erasure exists (the person came back). Whoever holds the store *and* its key file can
//! test a guessed number — that is what suppression needs — but cannot read a number out.
//!
//! Until that compaction, events recorded before the erasure still count where they
//! refuse (a consent recorded before it never lifts it, see [`crate::store::StoreView`]);
//! afterwards the rule above is exact.
//!
//! A number linked by a move (old ↔ new) belongs to the same person and holds the other
//! number in its move record, so [`erase`] erases the whole chain.
//!
//! ## Moves and stops (fail safe)
//! After a move, the old number keeps its stops and additionally acts as stopped for
//! every brand from the move on (the number may be reassigned to someone who never
//! consented); the person's consents and stops are copied to the new number, where a
//! stop recorded earlier for the new number (its previous holder's) stays in force.
//!
//! ## Retention
//! [`purge`] drops, at a compaction, the evidence of consents that expired or were
//! withdrawn (a stop for their brand or `*`, or a move) longer ago than the period, with
//! their corrections. Stops are kept: they are the suppression list. A purge never turns
//! a refusal into an allowance (the newest consent of a (brand, purpose) goes only with
//! all older ones).

mod answer;
mod erase;
mod export;
mod letter;
mod purge;
mod purge_plan;
mod rectify;
#[cfg(test)]
mod tests;

pub use self::answer::{AccessAnswer, BrandAnswer, PurposeAnswer, access_answer};
pub use self::erase::{ErasedNumber, ErasureReceipt, Removed, erase};
pub use self::export::{ConsentRecord, Evidence, Export, ExportEvent, ExportVerdict, export};
pub use self::letter::{Form, Lang, Words, letter, words};
pub use self::purge::{PurgeReceipt, parse_period, purge, purge_guarded, purge_with};
pub use self::purge_plan::{BrandCutoff, ChangeCount, ChangedDecision, Going, PurgePlan, plan};
pub use self::rectify::{EvidenceFix, Moved, Rectified, rectify_consent, rectify_number};

use crate::store::StoreError;

/// What is kept after erasure and why: the plain statement the export and the receipts
/// carry.
pub const KEPT_AFTER_ERASURE: &str = "After erasure sendfilter keeps no consent, evidence, \
    stop or relationship for the number. It keeps one suppression entry: a keyed hash of \
    the number (the number itself cannot be read from it) and the time of erasure, so that \
    the opt-out is honoured forever and no marketing is sent to the number again, unless \
    a new consent is given and confirmed after the erasure. Consents that expired or were \
    withdrawn are deleted after the retention period; stops are kept while the store \
    exists, because they are the list of people who must not be contacted.";

/// Errors of the rights functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RightsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A correction names a sequence that is not a consent of the number.
    #[error("journal sequence {seq} is not a consent of {number}")]
    NotAConsent {
        /// The sequence given.
        seq: u64,
        /// The masked number.
        number: String,
    },
    /// The erasure could not be verified after compaction.
    #[error("erasure of {number} not verified: {what}")]
    NotErased {
        /// The masked number.
        number: String,
        /// What was still found.
        what: String,
    },
    /// The purge could not be verified: the new generation still holds consents it
    /// should have dropped.
    #[error("purge not verified: {left} consent(s) past retention still held")]
    NotPurged {
        /// How many.
        left: u64,
    },
    /// A purge refused: it would change live decisions, or its period is shorter than
    /// the soft opt-in window (`--force` overrides, and is audited).
    #[error(
        "refused: the purge would change {count} live decision(s) (evidence a decision \
         depends on: a customer relationship soft opt-in still allows, or an ended consent \
         that keeps a number blocked){}; see `purge --dry-run`, or pass --force",
        if *shorter { format!(" and its period is shorter than the soft opt-in window of {months} months") } else { String::new() }
    )]
    WouldChangeDecisions {
        /// Decisions that would change now.
        count: u64,
        /// The soft opt-in window, in months.
        months: u32,
        /// Whether the period is shorter than the window.
        shorter: bool,
    },
    /// A retention period that does not parse.
    #[error("bad period: {0}")]
    BadPeriod(crate::duration::DurationError),
    /// A move between numbers that is refused.
    #[error("{0}")]
    BadMove(String),
    /// The data asked for was erased (the compaction that removes it may not have run
    /// yet): it can be neither corrected nor moved, or the erased number would be
    /// written to the store again.
    #[error("{number} was erased at {erased_at}; its data from before then is gone")]
    Erased {
        /// The masked number.
        number: String,
        /// When it was erased (RFC 3339).
        erased_at: String,
    },
}

/// The number's evidence still held as its own: everything recorded after its newest
/// erasure (all of it when it was never erased), and that erasure.
fn held_evidence(
    store: &crate::store::Store,
    number: crate::E164,
) -> Result<(Vec<crate::store::Recorded>, Option<crate::store::suppress::Entry>), StoreError> {
    let erased = store.erasure(number)?;
    let mut held = store.evidence(number)?;
    if let Some(e) = erased {
        held.retain(|r| r.seq > e.seq);
    }
    Ok((held, erased))
}

/// [`RightsError::Erased`] for `number` erased by `entry`.
fn erased_error(number: crate::E164, entry: crate::store::suppress::Entry) -> RightsError {
    RightsError::Erased {
        number: number.masked(),
        erased_at: crate::timefmt::format_rfc3339(entry.erased_at),
    }
}
