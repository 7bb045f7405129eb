//! Retention: drop the evidence of consents that ended longer ago than a period.

use serde::Serialize;

use super::RightsError;
use super::purge_plan::{PurgePlan, plan};
use crate::Timestamp;
use crate::store::retention::Retention;
use crate::store::{CompactOptions, Store};
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
    purge_with(store, &Retention::uniform(older_than), now)
}

/// [`purge`] with retention periods per brand and category (a brand's own retention from
/// its record of processing: [`Retention::from_records`]); brands and categories without
/// one keep their evidence.
///
/// # Errors
/// As [`purge`].
pub fn purge_with(
    store: &mut Store,
    retention: &Retention,
    now: Timestamp,
) -> Result<PurgeReceipt, RightsError> {
    let cutoffs = retention.cutoffs(now);
    let c = store.compact_with(CompactOptions {
        purge_cutoffs: Some(cutoffs.clone()),
        ..Default::default()
    })?;
    let left = match store.snapshot() {
        Some(s) => crate::store::compact::purgeable_left_with(&s, &cutoffs)?,
        None => 0,
    };
    if left > 0 {
        return Err(RightsError::NotPurged { left });
    }
    let one = (cutoffs.brands.is_empty()
        && cutoffs.default.consents == cutoffs.default.relationships)
        .then_some(cutoffs.default.consents)
        .flatten();
    Ok(PurgeReceipt {
        cutoff: one.map_or_else(|| "per brand and category".into(), format_rfc3339),
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

/// [`purge_with`], refused ([`RightsError::WouldChangeDecisions`]) when a relationship
/// retention is shorter than the soft opt-in window or the purge would change a live
/// decision (see [`plan`]), unless `force`. Returns the plan checked and the receipt.
///
/// # Errors
/// [`RightsError::WouldChangeDecisions`]; as [`purge`].
pub fn purge_guarded(
    store: &mut Store,
    retention: &Retention,
    now: Timestamp,
    soft_opt_in_months: u32,
    force: bool,
) -> Result<(PurgePlan, PurgeReceipt), RightsError> {
    let p = plan(store, retention, now, soft_opt_in_months)?;
    if !force && (p.shorter_than_soft_opt_in_window || p.decisions_changed > 0) {
        return Err(RightsError::WouldChangeDecisions {
            count: p.decisions_changed,
            months: soft_opt_in_months,
            shorter: p.shorter_than_soft_opt_in_window,
        });
    }
    let r = purge_with(store, retention, now)?;
    Ok((p, r))
}
