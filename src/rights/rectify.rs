//! Rectification: corrections of consent evidence and number moves, both as new journal
//! events (history kept, never rewritten).

use serde::Serialize;

use super::{RightsError, erased_error, held_evidence};
use crate::store::event::Relationship;
use crate::store::{Consent, Correction, Event, Move, Stop, Store};
use crate::{E164, Timestamp};

/// New values for a consent's evidence fields; `None` = unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceFix {
    /// How it was collected.
    pub method: Option<String>,
    /// Id/version of the consent text shown.
    pub text_ref: Option<String>,
    /// Where it was collected.
    pub source: Option<String>,
}

/// A recorded correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rectified {
    /// Journal sequence of the correction (for an identical repeat: of the correction
    /// that already made the evidence read so, or of the consent when it was recorded so).
    pub seq: u64,
    /// Sequence of the corrected consent.
    pub corrects: u64,
    /// True when the evidence already read as asked: nothing was recorded.
    pub unchanged: bool,
}

/// A recorded number move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// Journal sequence of the move event.
    pub seq: u64,
    /// Old number, masked.
    pub from: String,
    /// New number, masked.
    pub to: String,
    /// Consents copied to the new number.
    pub consents_copied: u64,
    /// Stops copied to the new number (they also stay on the old one).
    pub stops_copied: u64,
    /// Consents whose confirmation is dated before their grant (recorded before such
    /// consents were refused), copied without it: the new number's consent counts as
    /// unconfirmed, the safe reading of an impossible date.
    pub confirmations_dropped: u64,
    /// Consents and customer relationships under a brand spelled in a non-canonical form
    /// (recorded by an older version, `" ACME "`: they count for no run) that are not
    /// copied, since the copy would have to be canonical and would then count. They stay
    /// with the old number as evidence. (Stops under such a spelling are copied under the
    /// canonical brand: that only stops more.)
    pub not_copied_brand_not_canonical: u64,
}

/// Corrects the evidence of the consent recorded under sequence `seq` for `number`: a
/// correction event referencing it (the consent itself is kept as recorded).
///
/// # Errors
/// [`RightsError::NotAConsent`] when `seq` is not a consent of `number`;
/// [`RightsError::Erased`] when it was one recorded before an erasure of `number`; an invalid
/// correction (no field changed, control characters) as a store error; I/O errors.
pub fn rectify_consent(
    store: &mut Store,
    number: E164,
    seq: u64,
    fix: EvidenceFix,
    at: Timestamp,
) -> Result<Rectified, RightsError> {
    let (held, erased) = held_evidence(store, number)?;
    let is_consent = held
        .iter()
        .any(|r| r.seq == seq && matches!(&r.event, Event::Consent(c) if c.number == number));
    if !is_consent {
        // A consent from before an erasure is erased data, even while the compaction that
        // drops it is still to run: a correction would keep the number in the store.
        if let Some(e) = erased.filter(|e| seq < e.seq) {
            return Err(erased_error(number, e));
        }
        return Err(RightsError::NotAConsent { seq, number: number.masked() });
    }
    // An identical repeat (every field given already reads so) is a no-op.
    if let Some(already) = already_reads(&held, seq, &fix) {
        return Ok(Rectified { seq: already, corrects: seq, unchanged: true });
    }
    let c = Correction {
        number,
        corrects: seq,
        corrected_at: at,
        method: fix.method.unwrap_or_default(),
        text_ref: fix.text_ref.unwrap_or_default(),
        source: fix.source.unwrap_or_default(),
    };
    let s = store.append(&Event::Correct(c))?;
    Ok(Rectified { seq: s, corrects: seq, unchanged: false })
}

/// When the consent `seq` in `held`, corrections applied, already has every field `fix`
/// sets (and `fix` sets one): the sequence of the event that made it so (the last
/// correction that changed any field, else the consent).
fn already_reads(held: &[crate::store::Recorded], seq: u64, fix: &EvidenceFix) -> Option<u64> {
    let mut cur = held.iter().find_map(|r| match &r.event {
        Event::Consent(c) if r.seq == seq => {
            Some([c.method.clone(), c.text_ref.clone(), c.source.clone()])
        }
        _ => None,
    })?;
    let mut last = seq;
    for r in held {
        if let Event::Correct(k) = &r.event
            && k.corrects == seq
        {
            for (field, new) in cur.iter_mut().zip([&k.method, &k.text_ref, &k.source]) {
                if !new.is_empty() {
                    field.clone_from(new);
                }
            }
            last = r.seq;
        }
    }
    let wanted = [&fix.method, &fix.text_ref, &fix.source];
    let any = wanted.iter().any(|w| w.is_some());
    let same = cur.iter().zip(wanted).all(|(c, w)| w.as_ref().is_none_or(|w| w == c));
    (any && same).then_some(last)
}

/// Moves a person from number `from` to `to` at `at`, in one durable batch: a move event
/// (from then on `from` is stopped for every brand: it may be reassigned), then a copy
/// of each of `from`'s consents (evidence as corrected) and stops under `to`.
///
/// Only what `from` holds since its newest erasure (if it was erased) is copied.
///
/// # Errors
/// [`RightsError::BadMove`] for `from == to`; [`RightsError::Erased`] when `from` was
/// erased and holds nothing recorded since; store and I/O errors.
pub fn rectify_number(
    store: &mut Store,
    from: E164,
    to: E164,
    at: Timestamp,
) -> Result<Moved, RightsError> {
    if from == to {
        return Err(RightsError::BadMove("old and new number are the same".into()));
    }
    // What was recorded before an erasure of `from` is erased data: not copied, and a
    // number with nothing recorded since is not moved at all (the move event would hold
    // the erased number).
    let (held, erased) = held_evidence(store, from)?;
    if let Some(e) = erased
        && held.is_empty()
    {
        return Err(erased_error(from, e));
    }
    let mut copies: Vec<Event> = Vec::new();
    let (mut dropped, mut not_canonical) = (0, 0);
    for r in &held {
        match &r.event {
            Event::Consent(c) if c.number == from && !crate::brand::is_canonical(&c.brand) => {
                not_canonical += 1;
            }
            Event::Relationship(rel)
                if rel.number == from && !crate::brand::is_canonical(&rel.brand) =>
            {
                not_canonical += 1;
            }
            Event::Consent(c) if c.number == from => {
                let mut c: Consent = c.clone();
                for k in held.iter().filter_map(|k| match &k.event {
                    Event::Correct(k) if k.corrects == r.seq => Some(k),
                    _ => None,
                }) {
                    for (field, new) in [
                        (&mut c.method, &k.method),
                        (&mut c.text_ref, &k.text_ref),
                        (&mut c.source, &k.source),
                    ] {
                        if !new.is_empty() {
                            field.clone_from(new);
                        }
                    }
                }
                c.number = to;
                if c.confirmed_at.is_some_and(|t| t < c.granted_at) {
                    c.confirmed_at = None;
                    dropped += 1;
                }
                copies.push(Event::Consent(c));
            }
            Event::Stop(s) => {
                // Legacy spellings are stopped under the canonical name (fail safe).
                let brand = crate::brand::canonical_stop(&s.brand)
                    .map_or_else(|_| crate::brand::EVERY_BRAND.to_string(), |b| b.into_owned());
                copies.push(Event::Stop(Stop { number: to, brand, ..s.clone() }));
            }
            // The customer relationship is the person's, so it moves with them.
            Event::Relationship(rel) if rel.number == from => {
                copies.push(Event::Relationship(Relationship { number: to, ..rel.clone() }));
            }
            _ => {}
        }
    }
    let mut batch = store.batch();
    let seq = batch.push(&Event::Move(Move { from, to, moved_at: at }))?;
    for e in &copies {
        batch.push(e)?;
    }
    batch.commit()?;
    let stops = copies.iter().filter(|e| matches!(e, Event::Stop(_))).count() as u64;
    Ok(Moved {
        seq,
        from: from.masked(),
        to: to.masked(),
        consents_copied: copies.iter().filter(|e| matches!(e, Event::Consent(_))).count() as u64,
        stops_copied: stops,
        confirmations_dropped: dropped,
        not_copied_brand_not_canonical: not_canonical,
    })
}
