//! Erasure with proof: an erasure event per number (keyed hash only), a compaction that
//! drops the number's events, and a receipt saying what went, when, and which generation
//! no longer holds it.

use serde::Serialize;

use super::{KEPT_AFTER_ERASURE, RightsError};
use crate::store::event::EVERY_BRAND;
use crate::store::suppress::load_or_create_key;
use crate::store::{Erase, Event, Recorded, Stop, Store};
use crate::timefmt::format_rfc3339;
use crate::{E164, Timestamp};

/// Most numbers erased together (a chain of moves); more is refused as implausible.
const MAX_CHAIN: usize = 64;

/// Counts of what an erasure removes for one number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Stops (replaced by the suppression entry, a stop for every brand).
    pub stops: u64,
    /// Consents with their evidence.
    pub consents: u64,
    /// Evidence corrections.
    pub corrections: u64,
    /// Move records.
    pub moves: u64,
    /// Other events (e.g. customer relationships).
    pub other: u64,
}

/// One erased number in a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErasedNumber {
    /// The number, masked (receipts are kept; they must not hold the number).
    pub number: String,
    /// The suppression entry kept: keyed hash, hex.
    pub suppression_key: String,
    /// Journal sequence of the erasure event.
    pub erase_seq: u64,
    /// What is removed.
    pub removed: Removed,
}

/// Proof of an erasure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErasureReceipt {
    /// When the erasure was recorded.
    pub erased_at: String,
    /// The numbers erased: the one asked for, then any linked to it by moves.
    pub erased: Vec<ErasedNumber>,
    /// The snapshot generation written without the erased data (`None`: compaction not
    /// run yet; the data goes at the next one).
    pub generation: Option<u64>,
    /// Events dropped by that compaction.
    pub events_dropped: u64,
    /// True when, after the compaction, the store was read back and holds no event of
    /// the erased numbers recorded before the erasure, and each is suppressed.
    pub verified: bool,
    /// What is kept, and why.
    pub kept: &'static str,
    /// What becomes of decision receipt files (`filter --receipts`).
    pub receipt_files: &'static str,
}

/// What an erasure does to decision receipt files, for the receipt.
pub const RECEIPT_FILES: &str = "Decision receipts written by `filter --receipts` are files \
    outside the store; an erasure does not change them. They never hold the number: each line \
    holds a hash of it keyed with the store's receipt key (receipt.key), which cannot be \
    linked to the number without that key. The key is kept (replacing it would make every \
    other person's receipts unfindable), so whoever holds the store can still find this \
    number's earlier receipt lines by its hash: delete receipt files when their retention \
    period ends, as with backups.";

fn count(held: &[Recorded], before: u64) -> Removed {
    let mut r = Removed::default();
    for h in held.iter().filter(|h| h.seq < before) {
        #[allow(unreachable_patterns)]
        match h.event {
            Event::Stop(_) => r.stops += 1,
            Event::Consent(_) => r.consents += 1,
            Event::Correct(_) => r.corrections += 1,
            Event::Move(_) => r.moves += 1,
            Event::Erase(_) => {}
            _ => r.other += 1,
        }
    }
    r
}

/// Erases `number` (and every number linked to it by a move) at `at`: records a stop for
/// every brand and an erasure event per number (durable on return; the stop makes running
/// filters honour the erasure at once, and when a compaction purges it before their next
/// poll they find the erasure in the new snapshot's suppression list, see
/// [`crate::store::live`]), then, when `compact` is set, compacts
/// and verifies that the store no longer holds their events.
///
/// # Errors
/// Store errors; [`RightsError::NotErased`] when verification finds data left (the
/// erasure events are durable and the next compaction retries); a move chain longer
/// than 64 numbers.
pub fn erase(
    store: &mut Store,
    number: E164,
    at: Timestamp,
    compact: bool,
) -> Result<ErasureReceipt, RightsError> {
    // Never a new key while erasures are held under a lost one (see `load_or_create_key`).
    let keyer = load_or_create_key(store.dir(), store.suppression_entries()?)?;
    // The person's numbers: this one and any linked by moves, transitively.
    let mut chain = vec![number];
    let mut held = Vec::new();
    let mut i = 0;
    while let Some(&n) = chain.get(i) {
        let ev = store.evidence(n)?;
        for r in &ev {
            if let Event::Move(m) = &r.event {
                for other in [m.from, m.to] {
                    if !chain.contains(&other) {
                        chain.push(other);
                    }
                }
            }
        }
        if chain.len() > MAX_CHAIN {
            return Err(RightsError::BadMove(format!(
                "{} is linked by moves to more than {MAX_CHAIN} numbers; erase them one by one",
                number.masked()
            )));
        }
        held.push(ev);
        i += 1;
    }
    let mut batch = store.batch();
    let mut seqs = Vec::with_capacity(chain.len());
    for &n in &chain {
        // A stop for every brand first: a filter running now watches the journal for
        // stops (an erasure holds no number it could match), so it stops sending to the
        // number at once. Recorded before the erasure, it goes with the number's other
        // events at the compaction; the suppression entry stands in for it after that.
        let stop = Stop { number: n, brand: EVERY_BRAND.to_string(), stopped_at: at };
        batch.push(&Event::Stop(stop))?;
        seqs.push(batch.push(&Event::Erase(Erase { subject: keyer.hash(n), erased_at: at }))?);
    }
    batch.commit()?;
    let mut erased: Vec<ErasedNumber> = chain
        .iter()
        .zip(&seqs)
        .zip(&held)
        .map(|((n, &seq), held)| ErasedNumber {
            number: n.masked(),
            suppression_key: keyer.hash(*n).hex(),
            erase_seq: seq,
            removed: count(held, seq),
        })
        .collect();
    let mut receipt = ErasureReceipt {
        erased_at: format_rfc3339(at),
        erased: Vec::new(),
        generation: None,
        events_dropped: 0,
        verified: false,
        kept: KEPT_AFTER_ERASURE,
        receipt_files: RECEIPT_FILES,
    };
    if compact {
        let c = store.compact()?;
        receipt.generation = Some(c.generation);
        // Not counting the stops recorded just above (they only bridged until now).
        receipt.events_dropped = c.erased_events.saturating_sub(chain.len() as u64);
        let view = store.view()?;
        for (&n, &seq) in chain.iter().zip(&seqs) {
            let left = store.evidence(n)?.iter().filter(|r| r.seq < seq).count();
            if left > 0 || view.suppression().erased_at(n).is_none() {
                return Err(RightsError::NotErased {
                    number: n.masked(),
                    what: format!("{left} event(s) still held, or no suppression entry"),
                });
            }
        }
        receipt.verified = true;
    }
    receipt.erased = std::mem::take(&mut erased);
    Ok(receipt)
}
