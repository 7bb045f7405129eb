//! Retention: drop the evidence of consents that ended longer ago than a period.

use serde::Serialize;

use super::RightsError;
use crate::Timestamp;
use crate::store::event::Relationship;
use crate::store::{CompactOptions, Event, Store};
use crate::timefmt::format_rfc3339;

/// Parses a retention period in the one duration syntax of [`crate::duration`] (`30d`,
/// `2w`, `24mo`, `1y`, …; a bare `m` is refused as ambiguous); returns seconds (months and
/// years as Gregorian averages: a month is 30.436875 days).
///
/// ```
/// assert_eq!(sendfilter::rights::parse_period("2w").unwrap(), 14 * 86_400);
/// assert!(sendfilter::rights::parse_period("24").is_err());
/// assert!(sendfilter::rights::parse_period("24m").is_err());
/// ```
///
/// # Errors
/// [`RightsError::BadPeriod`] for anything else (no unit, `m`, zero, overflow).
pub fn parse_period(s: &str) -> Result<i64, RightsError> {
    s.parse::<crate::duration::Duration>()
        .map(crate::duration::Duration::seconds)
        .map_err(RightsError::BadPeriod)
}

/// Proof of a retention purge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurgeReceipt {
    /// Consents that ended before this time were purged.
    pub cutoff: String,
    /// When the purge ran.
    pub ran_at: String,
    /// Consents whose evidence was dropped.
    pub consents_purged: u64,
    /// Corrections dropped with them.
    pub corrections_purged: u64,
    /// Customer-relationship records dropped (relationships over before the cutoff).
    pub relationships_purged: u64,
    /// Numbers that lost evidence (no numbers are listed).
    pub numbers_affected: u64,
    /// The snapshot generation written without the purged evidence.
    pub generation: u64,
    /// True when that generation was read back and holds no consent the purge should
    /// have dropped.
    pub verified: bool,
    /// What is kept.
    pub kept: &'static str,
}

/// Purges, by compacting now, the evidence of consents that expired or were withdrawn
/// (stopped, or the number moved) more than `older_than` seconds before `now`, and the
/// customer relationships that were over by then (not a lasting one still open; started,
/// last purchase and end all before the cutoff). Decisions do not change as long as the
/// soft opt-in window (`--soft-opt-in-months`) is no longer than `older_than`.
///
/// # Errors
/// Store errors (the previous generation then stays).
pub fn purge(
    store: &mut Store,
    older_than: i64,
    now: Timestamp,
) -> Result<PurgeReceipt, RightsError> {
    let cutoff = now.saturating_sub(older_than);
    let c =
        store.compact_with(CompactOptions { purge_before: Some(cutoff), ..Default::default() })?;
    let left = match store.snapshot() {
        Some(s) => crate::store::compact::purgeable_left(&s, cutoff)?,
        None => 0,
    };
    if left > 0 {
        return Err(RightsError::NotPurged { left });
    }
    Ok(PurgeReceipt {
        cutoff: format_rfc3339(cutoff),
        ran_at: format_rfc3339(now),
        consents_purged: c.purged_consents,
        corrections_purged: c.purged_corrections,
        relationships_purged: c.purged_relationships,
        numbers_affected: c.purged_numbers,
        generation: c.generation,
        verified: true,
        kept: "Stops are kept: they are the list of people who must not be contacted. \
               Consents still in force, and the newest consent of each (brand, purpose) \
               while an older one is still in force, are kept, as are customer \
               relationships still open or active after the cutoff.",
    })
}

/// A live decision a purge would change: soft opt-in allows the number now, through a
/// customer relationship the purge would drop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangedDecision {
    /// The number, masked.
    pub number: String,
    /// The brand.
    pub brand: String,
    /// The decision now (with soft opt-in): `ALLOWED`.
    pub now: &'static str,
    /// The decision after the purge.
    pub after: &'static str,
}

/// What a purge with a period would drop, and which live decisions it would change
/// (`purge --dry-run`; the guard of [`purge_guarded`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurgePlan {
    /// Evidence that ended before this time goes.
    pub cutoff: String,
    /// The soft opt-in window the plan was checked against, in months.
    pub soft_opt_in_months: u32,
    /// True when the period is shorter than that window: a relationship soft opt-in
    /// still allows could go.
    pub shorter_than_soft_opt_in_window: bool,
    /// Consents and relationship records of the snapshot that would go (events written
    /// since the last compaction are counted by the purge itself).
    pub records_going: u64,
    /// Customer relationships (number and brand) that would go.
    pub relationships_going: u64,
    /// Live decisions that would change.
    pub decisions_changed: u64,
    /// The first of them (at most 100; numbers masked).
    pub changed: Vec<ChangedDecision>,
}

/// The newest relationship record (sequence, record) by (number, brand).
type Newest = std::collections::HashMap<(u64, String), (u64, Relationship)>;

/// Most changed decisions listed in a plan.
const MAX_LISTED: usize = 100;

/// The customer relationships of the store, newest record per (number, brand):
/// snapshot evidence and the journal tail.
fn newest_relationships(store: &Store) -> Result<Newest, RightsError> {
    use crate::store::snapshot::format::KIND_RELATIONSHIP;
    let mut out = Newest::new();
    let mut keep = |seq: u64, r: Relationship| {
        let key = (r.number.as_u64(), r.brand.clone());
        if out.get(&key).is_none_or(|(s, _)| *s < seq) {
            out.insert(key, (seq, r));
        }
    };
    let snap = store.snapshot();
    let folded = snap.as_ref().map_or(0, |s| s.last_seq());
    if let Some(s) = &snap {
        for r in s.all_evidence()?.filter(|r| r.kind == KIND_RELATIONSHIP) {
            let Some(n) = crate::E164::from_u64(r.number) else { continue };
            if let Event::Relationship(rel) = crate::store::event_of(s, &r, n) {
                keep(r.seq, rel);
            }
        }
    }
    crate::store::journal::scan_file(store.journal_path(), |seq, ev| {
        if seq > folded
            && let Event::Relationship(rel) = ev.to_owned()
        {
            keep(seq, rel);
        }
        Ok(())
    })?;
    Ok(out)
}

/// What a purge of evidence ended more than `older_than` seconds before `now` would drop
/// and which decisions it would change for runs with soft opt-in over
/// `soft_opt_in_months` (the brand's informed grace from the store's policy applies).
///
/// # Errors
/// Store errors.
pub fn plan(
    store: &Store,
    older_than: i64,
    now: Timestamp,
    soft_opt_in_months: u32,
) -> Result<PurgePlan, RightsError> {
    use crate::decision::{Class, Reason, Rules, decide_full};
    use crate::standing::StandingSource;
    let cutoff = now.saturating_sub(older_than);
    let window = i64::from(soft_opt_in_months) * crate::duration::MONTH_SECONDS;
    let view = store.view()?;
    let policy = crate::store::policy::read(store.dir())?;
    let mut p = PurgePlan {
        cutoff: format_rfc3339(cutoff),
        soft_opt_in_months,
        shorter_than_soft_opt_in_window: older_than < window,
        records_going: match store.snapshot() {
            Some(s) => crate::store::compact::purgeable_left(&s, cutoff)?,
            None => 0,
        },
        relationships_going: 0,
        decisions_changed: 0,
        changed: Vec::new(),
    };
    let mut rels: Vec<_> = newest_relationships(store)?.into_iter().collect();
    rels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for ((number, brand), (_, r)) in rels {
        let lasting = crate::store::event::LASTING_RELATIONSHIPS.contains(&r.relationship.as_str());
        let open = lasting && r.ends_at.is_none();
        let before = |t: Option<Timestamp>| t.is_none_or(|t| t < cutoff);
        if open || r.started_at >= cutoff || !before(r.last_purchase_at) || !before(r.ends_at) {
            continue;
        }
        p.relationships_going += 1;
        let Some(n) = crate::E164::from_u64(number) else { continue };
        let scope = view.scope(&brand, "");
        let st = view.standing(&scope, n);
        let bp = policy.brand(&brand);
        let rules = Rules {
            soft_opt_in_months: Some(soft_opt_in_months),
            informed_grace: bp
                .informed_grace_days
                .map_or(crate::decision::DEFAULT_INFORMED_GRACE, |d| i64::from(d) * 86_400),
            ..Rules::new(Class::Marketing, now)
        };
        let d = decide_full(&rules, &st, || view.relationship(&scope, n));
        if d.reason == Reason::Allowed {
            p.decisions_changed += 1;
            if p.changed.len() < MAX_LISTED {
                p.changed.push(ChangedDecision {
                    number: n.masked(),
                    brand,
                    now: Reason::Allowed.as_str(),
                    after: Reason::NoConsent.as_str(),
                });
            }
        }
    }
    Ok(p)
}

/// [`purge`], refused ([`RightsError::WouldChangeDecisions`]) when the period is shorter
/// than the soft opt-in window or the purge would change a live decision (see [`plan`]),
/// unless `force`. Returns the plan checked and the receipt.
///
/// # Errors
/// [`RightsError::WouldChangeDecisions`]; as [`purge`].
pub fn purge_guarded(
    store: &mut Store,
    older_than: i64,
    now: Timestamp,
    soft_opt_in_months: u32,
    force: bool,
) -> Result<(PurgePlan, PurgeReceipt), RightsError> {
    let p = plan(store, older_than, now, soft_opt_in_months)?;
    if !force && (p.shorter_than_soft_opt_in_window || p.decisions_changed > 0) {
        return Err(RightsError::WouldChangeDecisions {
            count: p.decisions_changed,
            months: soft_opt_in_months,
            shorter: p.shorter_than_soft_opt_in_window,
        });
    }
    let r = purge(store, older_than, now)?;
    Ok((p, r))
}
