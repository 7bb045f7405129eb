//! Access and portability: every event held for one number, as JSON-ready types.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{KEPT_AFTER_ERASURE, RightsError};
use crate::decision::{Class, Reason, Rules, decide, decide_full};
use crate::standing::StandingSource;
use crate::store::policy::Policy;
use crate::store::{Consent, Correction, Event, Recorded, Store, StoreView};
use crate::timefmt::format_rfc3339;
use crate::{E164, Timestamp};

/// How a consent was collected: the evidence fields a correction may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// How (`web_form`, `sms_keyword`, …).
    pub method: String,
    /// Id/version of the consent text shown.
    pub text_ref: String,
    /// Where it was collected.
    pub source: String,
}

/// One event as exported, with its journal sequence. Times are RFC 3339 (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportEvent {
    /// An opt-out.
    Stop {
        /// Journal sequence.
        seq: u64,
        /// Brand, or `*` for every brand.
        brand: String,
        /// When.
        stopped_at: String,
    },
    /// A consent as recorded (see [`Export::consents`] for it with corrections applied).
    Consent {
        /// Journal sequence.
        seq: u64,
        /// Brand.
        brand: String,
        /// Purpose.
        purpose: String,
        /// Channel.
        channel: String,
        /// When granted.
        granted_at: String,
        /// When it ends.
        expires_at: Option<String>,
        /// When confirmed.
        confirmed_at: Option<String>,
        /// Evidence as recorded.
        #[serde(flatten)]
        evidence: Evidence,
    },
    /// A correction of a consent's evidence.
    Correction {
        /// Journal sequence.
        seq: u64,
        /// Sequence of the corrected consent.
        corrects: u64,
        /// When.
        corrected_at: String,
        /// New method, if changed.
        method: Option<String>,
        /// New text id, if changed.
        text_ref: Option<String>,
        /// New source, if changed.
        source: Option<String>,
        /// Who made it, with their role, from the audit trail (`None`: recorded without
        /// an audit record, e.g. by an older version).
        actor: Option<String>,
    },
    /// The person's number changed (both numbers are theirs).
    Move {
        /// Journal sequence.
        seq: u64,
        /// Old number.
        from: String,
        /// New number.
        to: String,
        /// When.
        moved_at: String,
    },
    /// A customer relationship (the basis for soft opt-in).
    Relationship {
        /// Journal sequence.
        seq: u64,
        /// Brand.
        brand: String,
        /// Kind (`purchase`, `subscription`, `membership`, …).
        relationship: String,
        /// When it started.
        started_at: String,
        /// The last purchase.
        last_purchase_at: Option<String>,
        /// When it ends or ended.
        ends_at: Option<String>,
        /// When the customer was informed and offered an opt-out.
        informed_at: Option<String>,
    },
    /// An event of a kind this export does not detail.
    Other {
        /// Journal sequence.
        seq: u64,
        /// Its contents.
        detail: String,
    },
}

/// A consent with its corrections applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentRecord {
    /// Journal sequence of the consent.
    pub seq: u64,
    /// Brand.
    pub brand: String,
    /// Purpose.
    pub purpose: String,
    /// Channel.
    pub channel: String,
    /// When granted.
    pub granted_at: String,
    /// When it ends.
    pub expires_at: Option<String>,
    /// When confirmed.
    pub confirmed_at: Option<String>,
    /// Evidence as it reads now (corrections applied in order).
    pub evidence: Evidence,
    /// Evidence as first recorded.
    pub recorded: Evidence,
    /// Sequences of the corrections applied.
    pub corrected_by: Vec<u64>,
}

/// The current decision for one (brand, purpose), marketing class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportVerdict {
    /// Brand (`*` = every brand).
    pub brand: String,
    /// Purpose (`*` when the number has only stops for the brand).
    pub purpose: String,
    /// Reason code now (`ALLOWED`, `STOPPED`, …).
    pub reason: &'static str,
    /// Reason code if the sender requires double opt-in confirmation.
    pub reason_if_confirmation_required: &'static str,
    /// Reason code for a run that allows soft opt-in (12-month window), when the number
    /// has a customer relationship with the brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_with_soft_opt_in: Option<&'static str>,
}

/// Everything held for one number: the answer to an access request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Export {
    /// The number, E.164 (this document is for its holder).
    pub number: String,
    /// When the export was made.
    pub generated_at: String,
    /// Snapshot generation read.
    pub generation: u64,
    /// Last journal sequence included.
    pub journal_seq: u64,
    /// Every event held, in journal order.
    pub events: Vec<ExportEvent>,
    /// The consents, corrections applied.
    pub consents: Vec<ConsentRecord>,
    /// The current verdict per (brand, purpose) the number has events for.
    pub verdicts: Vec<ExportVerdict>,
    /// When the number was erased, if it was (its older events are dropped at the next
    /// compaction).
    pub erased_at: Option<String>,
    /// What is kept after erasure, and why.
    pub kept_after_erasure: &'static str,
}

fn t(ts: Timestamp) -> String {
    format_rfc3339(ts)
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Exports every event held for `number`, its consents with corrections applied, the
/// verdict per (brand, purpose) at `now`, and the statement of what erasure keeps.
/// Nothing about other numbers (a move names the person's own other number).
///
/// # Errors
/// Store corruption or I/O errors.
pub fn export(store: &Store, number: E164, now: Timestamp) -> Result<Export, RightsError> {
    let held: Vec<Recorded> = store.evidence(number)?;
    let view = store.view()?;
    let policy = crate::store::policy::read(store.dir())?;
    let mut found = Held::default();
    for Recorded { seq, event } in &held {
        found.add(*seq, event);
    }
    let Held { mut events, consents, mut scopes, stop_brands, rel_brands } = found;
    fill_actors(store.dir(), &mut events)?;
    for b in stop_brands.into_iter().chain(rel_brands.iter().cloned()) {
        if !scopes.iter().any(|(sb, _)| *sb == b) {
            scopes.insert((b, "*".to_string()));
        }
    }
    let verdicts = scopes
        .into_iter()
        .map(|(brand, purpose)| verdict(&view, &policy, &rel_brands, number, now, (brand, purpose)))
        .collect();
    Ok(Export {
        number: number.to_string(),
        generated_at: t(now),
        generation: view.generation(),
        journal_seq: view.journal_seq(),
        events,
        consents,
        verdicts,
        erased_at: view.suppression().erased_at(number).map(t),
        kept_after_erasure: KEPT_AFTER_ERASURE,
    })
}

/// What the events held under a number say, gathered in journal order.
#[derive(Default)]
struct Held {
    /// Every event, as exported.
    events: Vec<ExportEvent>,
    /// The consents with their evidence as corrected.
    consents: Vec<ConsentRecord>,
    /// (brand, purpose) of every consent: the scopes to give a verdict for.
    scopes: BTreeSet<(String, String)>,
    /// Brands with a stop.
    stop_brands: BTreeSet<String>,
    /// Brands with a customer relationship.
    rel_brands: BTreeSet<String>,
}

impl Held {
    /// Adds event `seq`.
    fn add(&mut self, seq: u64, event: &Event) {
        #[allow(unreachable_patterns)] // event kinds added later land in `Other`
        let ev = match event {
            Event::Stop(s) => {
                self.stop_brands.insert(s.brand.clone());
                ExportEvent::Stop { seq, brand: s.brand.clone(), stopped_at: t(s.stopped_at) }
            }
            Event::Consent(c) => self.consent(seq, c),
            Event::Correct(k) => self.correction(seq, k),
            Event::Move(m) => ExportEvent::Move {
                seq,
                from: m.from.to_string(),
                to: m.to.to_string(),
                moved_at: t(m.moved_at),
            },
            Event::Relationship(r) => {
                self.rel_brands.insert(r.brand.clone());
                ExportEvent::Relationship {
                    seq,
                    brand: r.brand.clone(),
                    relationship: r.relationship.clone(),
                    started_at: t(r.started_at),
                    last_purchase_at: r.last_purchase_at.map(t),
                    ends_at: r.ends_at.map(t),
                    informed_at: r.informed_at.map(t),
                }
            }
            Event::Erase(_) => return, // never held under a number
            other => ExportEvent::Other { seq, detail: format!("{other:?}") },
        };
        self.events.push(ev);
    }

    /// A consent: its record (evidence as recorded, to be corrected by later events) and
    /// its event.
    fn consent(&mut self, seq: u64, c: &Consent) -> ExportEvent {
        let evidence = Evidence {
            method: c.method.clone(),
            text_ref: c.text_ref.clone(),
            source: c.source.clone(),
        };
        self.scopes.insert((c.brand.clone(), c.purpose.clone()));
        self.consents.push(ConsentRecord {
            seq,
            brand: c.brand.clone(),
            purpose: c.purpose.clone(),
            channel: c.channel.clone(),
            granted_at: t(c.granted_at),
            expires_at: c.expires_at.map(t),
            confirmed_at: c.confirmed_at.map(t),
            evidence: evidence.clone(),
            recorded: evidence.clone(),
            corrected_by: Vec::new(),
        });
        ExportEvent::Consent {
            seq,
            brand: c.brand.clone(),
            purpose: c.purpose.clone(),
            channel: c.channel.clone(),
            granted_at: t(c.granted_at),
            expires_at: c.expires_at.map(t),
            confirmed_at: c.confirmed_at.map(t),
            evidence,
        }
    }

    /// A correction: applied to the consent it corrects, and its event.
    fn correction(&mut self, seq: u64, k: &Correction) -> ExportEvent {
        if let Some(c) = self.consents.iter_mut().find(|c| c.seq == k.corrects) {
            let e = &mut c.evidence;
            for (field, new) in [(&mut e.method, &k.method), (&mut e.text_ref, &k.text_ref)]
                .into_iter()
                .chain([(&mut e.source, &k.source)])
            {
                if !new.is_empty() {
                    field.clone_from(new);
                }
            }
            c.corrected_by.push(seq);
        }
        ExportEvent::Correction {
            seq,
            corrects: k.corrects,
            corrected_at: t(k.corrected_at),
            method: nonempty(&k.method),
            text_ref: nonempty(&k.text_ref),
            source: nonempty(&k.source),
            actor: None,
        }
    }
}

/// The decision for `number` in one scope (purpose `*`: any), with the store's policy for
/// the brand as `sendfilter filter` applies it, and what it would be with confirmation
/// required or (for a brand with a customer relationship) soft opt-in.
fn verdict(
    view: &StoreView,
    policy: &Policy,
    rel_brands: &BTreeSet<String>,
    number: E164,
    now: Timestamp,
    (brand, purpose): (String, String),
) -> ExportVerdict {
    let scope = view.scope(&brand, if purpose == "*" { "" } else { &purpose });
    let st = view.standing(&scope, number);
    let bp = policy.brand(&brand);
    let rules = |require_confirmed: bool, soft: Option<u32>| Rules {
        require_confirmed: require_confirmed || bp.require_confirmed,
        consent_lifetime_months: bp.consent_lifetime_months,
        soft_opt_in_months: soft,
        ..Rules::new(Class::Marketing, now)
    };
    let rel = || view.relationship(&scope, number);
    let reason: Reason = decide(&rules(false, None), &st);
    ExportVerdict {
        reason: reason.as_str(),
        reason_if_confirmation_required: decide(&rules(true, None), &st).as_str(),
        reason_with_soft_opt_in: rel_brands
            .contains(&brand)
            .then(|| decide_full(&rules(false, Some(12)), &st, rel).reason.as_str()),
        brand,
        purpose,
    }
}

/// Fills in who made each correction, from the audit trail: the record whose first
/// journal sequence is the correction's.
fn fill_actors(dir: &std::path::Path, events: &mut [ExportEvent]) -> Result<(), RightsError> {
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ExportEvent::Correction { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    if seqs.is_empty() {
        return Ok(());
    }
    let found = crate::audit::find(dir, None, &seqs, None)?;
    for e in events {
        if let ExportEvent::Correction { seq, actor, .. } = e {
            *actor = found
                .iter()
                .filter(|c| c.record.seqs.first() == Some(seq) && c.record.outcome == "ok")
                .map(|c| format!("{} ({})", c.record.actor, c.record.role))
                .next_back();
        }
    }
    Ok(())
}

impl Export {
    /// The journal sequences of every event in the export (for its audit record).
    pub fn seqs(&self) -> Vec<u64> {
        self.events
            .iter()
            .map(|e| match e {
                ExportEvent::Stop { seq, .. }
                | ExportEvent::Consent { seq, .. }
                | ExportEvent::Correction { seq, .. }
                | ExportEvent::Move { seq, .. }
                | ExportEvent::Relationship { seq, .. }
                | ExportEvent::Other { seq, .. } => *seq,
            })
            .collect()
    }
}
