//! What a retention purge would drop and which live decisions it would change: the
//! guard of [`super::purge_guarded`] and `purge --dry-run`.
//!
//! The plan reads every piece of evidence the purge would see: the snapshot merged with
//! the journal tail (built into a private temporary file when the tail is not empty,
//! removed at once). For each number that would lose evidence it decides, before and
//! after, every (brand, purpose) the lost evidence belongs to — the purposes of the
//! number's consents for that brand, and any other purpose (no consent) — with soft opt-in
//! over the window and the brand's policy; a decision changes when whether the message
//! may be sent changes. A blocked number staying blocked for another reason
//! (`CONSENT_EXPIRED` becoming `NO_CONSENT`) is not a change: that is what retention does.

use std::collections::BTreeMap;
use std::sync::Arc;

use memmap2::Mmap;
use serde::Serialize;

use super::RightsError;
use crate::decision::{Class, Reason, Rules, decide_full};
use crate::standing::{ConsentState, RelationshipState, Standing};
use crate::store::policy::BrandPolicy;
use crate::store::retention::{Cutoffs, Retention};
use crate::store::snapshot::format::{
    EvidenceRec, KIND_CONSENT, KIND_MOVE, KIND_RELATIONSHIP, KIND_STOP,
};
use crate::store::{CompactOptions, Snapshot, Store, event::EVERY_BRAND};
use crate::timefmt::format_rfc3339;
use crate::{E164, Timestamp};

/// A live decision a purge would change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangedDecision {
    /// The number, masked.
    pub number: String,
    /// The brand.
    pub brand: String,
    /// The decision now (with soft opt-in).
    pub now: &'static str,
    /// The decision after the purge.
    pub after: &'static str,
}

/// How many decisions of a brand would change from one reason to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeCount {
    /// The brand.
    pub brand: String,
    /// The decision now.
    pub now: &'static str,
    /// The decision after the purge.
    pub after: &'static str,
    /// How many (number, purpose) decisions.
    pub count: u64,
}

/// What would go of one brand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Going {
    /// Consent records.
    pub consents: u64,
    /// Customer-relationship records.
    pub relationships: u64,
    /// Numbers that would lose evidence of this brand.
    pub numbers: u64,
}

/// A brand's cutoffs (RFC 3339; absent: that category is kept).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BrandCutoff {
    /// Consents that ended before this go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consents: Option<String>,
    /// Relationships over before this go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationships: Option<String>,
}

/// What a purge would drop, and which live decisions it would change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurgePlan {
    /// One cutoff for every brand and category (`--older-than`); absent when the
    /// cutoffs are per brand (`cutoffs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    /// The cutoffs per brand (`*`: brands not listed), when they are not one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cutoffs: BTreeMap<String, BrandCutoff>,
    /// The soft opt-in window the plan was checked against, in months.
    pub soft_opt_in_months: u32,
    /// True when a relationship retention is shorter than that window: a relationship
    /// soft opt-in still allows could go.
    pub shorter_than_soft_opt_in_window: bool,
    /// The brands (`*`: every brand) whose relationship retention is that short.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub short_brands: Vec<String>,
    /// Consent and relationship records that would go.
    pub records_going: u64,
    /// Customer relationships (number and brand) that would go.
    pub relationships_going: u64,
    /// What would go, per brand.
    pub going: BTreeMap<String, Going>,
    /// Live decisions that would change.
    pub decisions_changed: u64,
    /// Those decisions counted per brand and (now, after) reason.
    pub changes: Vec<ChangeCount>,
    /// The first of them (at most 100; numbers masked).
    pub changed: Vec<ChangedDecision>,
}

/// Most changed decisions listed in a plan.
const MAX_LISTED: usize = 100;

/// The temporary file a plan merges the journal tail into.
const PLAN_TMP: &str = "purge-plan.tmp";

/// The store's evidence as one snapshot: its own when the journal tail is empty, else
/// the snapshot and the tail merged into a temporary file, mapped and removed at once.
fn merged(store: &Store) -> Result<Option<Arc<Snapshot<Mmap>>>, RightsError> {
    let snap = store.snapshot();
    if snap.as_ref().map_or(0, |s| s.last_seq()) >= store.last_seq() {
        return Ok(snap);
    }
    let tmp = store.dir().join(PLAN_TMP);
    let opts = CompactOptions {
        keyer: crate::store::suppress::load_key(store.dir())?,
        key_path: store.dir().join(crate::store::suppress::KEY_FILE),
        ..CompactOptions::default()
    };
    let generation = snap.as_ref().map_or(0, |s| s.generation()) + 1;
    let built = crate::store::compact::build_with(
        snap.as_deref(),
        store.journal_path(),
        generation,
        &tmp,
        &opts,
    );
    // SAFETY: the file is ours, fully written; nobody writes it, and it is removed
    // (the mapping stays valid) before anyone could.
    let mapped = built.and_then(|_| unsafe { crate::store::map_snapshot(&tmp) });
    let _ = std::fs::remove_file(&tmp);
    Ok(Some(Arc::new(mapped?)))
}

/// String ids the simulation needs.
struct Ids {
    star: Option<u32>,
    sms: Option<u32>,
    lasting: Vec<u32>,
}

fn nz(t: u32) -> Option<Timestamp> {
    (t != 0).then_some(i64::from(t))
}

/// The standing and relationship of brand `b`, purpose `p` (`None`: a purpose without
/// consent) in one number's evidence, leaving out the sequences in `gone`.
fn standing(
    group: &[EvidenceRec],
    gone: &[u64],
    ids: &Ids,
    b: u32,
    p: Option<u32>,
) -> (Standing, Option<RelationshipState>) {
    let kept = || group.iter().filter(|r| !gone.contains(&r.seq));
    let stopped_at = kept()
        .filter(|r| {
            (r.kind == KIND_STOP && (r.brand() == b || Some(r.brand()) == ids.star))
                || (r.kind == KIND_MOVE && r.expires == 0)
        })
        .map(|r| i64::from(r.t0))
        .max();
    let consent = p.and_then(|p| {
        kept()
            .filter(|r| r.kind == KIND_CONSENT && r.brand() == b && r.purpose() == p)
            .filter(|r| Some(r.channel()) == ids.sms)
            .max_by_key(|r| (r.t0, r.seq))
            .map(|r| ConsentState {
                granted_at: i64::from(r.t0),
                confirmed_at: nz(r.confirmed),
                expires_at: nz(r.expires),
                event_seq: r.seq,
            })
    });
    let rel = kept().rfind(|r| r.kind == KIND_RELATIONSHIP && r.brand() == b).map(|r| {
        RelationshipState {
            lasting: ids.lasting.contains(&r.relationship()),
            started_at: i64::from(r.t0),
            last_purchase_at: nz(r.t3),
            ends_at: nz(r.expires),
            informed_at: nz(r.confirmed),
            event_seq: r.seq,
        }
    });
    (Standing { stopped_at, consent }, rel)
}

/// What a purge with `retention` as of `now` would drop, and which decisions it would
/// change for runs with soft opt-in over `soft_opt_in_months` (each brand's policy:
/// informed grace, consent lifetime, confirmation).
///
/// # Errors
/// Store errors.
pub fn plan(
    store: &Store,
    retention: &Retention,
    now: Timestamp,
    soft_opt_in_months: u32,
) -> Result<PurgePlan, RightsError> {
    let window = i64::from(soft_opt_in_months) * crate::duration::MONTH_SECONDS;
    let cutoffs = retention.cutoffs(now);
    let short_brands = retention.relationships_shorter_than(window);
    let mut p = PurgePlan::empty(&cutoffs, soft_opt_in_months, short_brands);
    let Some(snap) = merged(store)? else { return Ok(p) };
    let policy = crate::store::policy::read(store.dir())?;
    let ids = Ids::of(&snap);
    let mut counts: BTreeMap<(String, &'static str, &'static str), u64> = BTreeMap::new();
    crate::store::compact::purge_visit(&snap, &cutoffs, |group, gone| {
        for b in p.count_going(&snap, group, gone) {
            let brand = snap.string(b).to_string();
            let rel_goes = group
                .iter()
                .any(|r| r.kind == KIND_RELATIONSHIP && r.brand() == b && gone.contains(&r.seq));
            p.relationships_going += u64::from(rel_goes);
            let rules = brand_rules(&policy.brand(&brand), soft_opt_in_months, now);
            each_changed_decision(group, gone, &ids, b, &rules, |before, after| {
                p.decisions_changed += 1;
                *counts.entry((brand.clone(), before.as_str(), after.as_str())).or_default() += 1;
                p.list_changed(group, &brand, before, after);
            });
        }
    })?;
    p.changes = counts
        .into_iter()
        .map(|((brand, now, after), count)| ChangeCount { brand, now, after, count })
        .collect();
    Ok(p)
}

impl PurgePlan {
    /// A plan that drops nothing yet, with its cutoffs shown: one when every brand and
    /// category shares it, else per brand.
    fn empty(cutoffs: &Cutoffs, soft_opt_in_months: u32, short_brands: Vec<String>) -> Self {
        let mut p = PurgePlan {
            cutoff: uniform(cutoffs),
            cutoffs: BTreeMap::new(),
            soft_opt_in_months,
            shorter_than_soft_opt_in_window: !short_brands.is_empty(),
            short_brands,
            records_going: 0,
            relationships_going: 0,
            going: BTreeMap::new(),
            decisions_changed: 0,
            changes: Vec::new(),
            changed: Vec::new(),
        };
        if p.cutoff.is_none() {
            let show = |c: &crate::store::retention::PerCategory<Timestamp>| BrandCutoff {
                consents: c.consents.map(format_rfc3339),
                relationships: c.relationships.map(format_rfc3339),
            };
            p.cutoffs = cutoffs.brands.iter().map(|(b, c)| (b.clone(), show(c))).collect();
            if cutoffs.default.consents.is_some() || cutoffs.default.relationships.is_some() {
                p.cutoffs.insert(EVERY_BRAND.into(), show(&cutoffs.default));
            }
        }
        p
    }

    /// Counts what goes of one number's evidence (`gone`: the sequences dropped) per
    /// brand; returns the brands (string ids) that lose something.
    fn count_going(
        &mut self,
        snap: &Snapshot<Mmap>,
        group: &[EvidenceRec],
        gone: &[u64],
    ) -> Vec<u32> {
        self.records_going += gone.len() as u64;
        let mut brands: Vec<u32> = Vec::new();
        for r in group.iter().filter(|r| gone.contains(&r.seq)) {
            let g = self.going.entry(snap.string(r.brand()).to_string()).or_default();
            if r.kind == KIND_RELATIONSHIP {
                g.relationships += 1;
            } else {
                g.consents += 1;
            }
            if !brands.contains(&r.brand()) {
                brands.push(r.brand());
                g.numbers += 1;
            }
        }
        brands
    }

    /// Lists a changed decision of the number of `group` for `brand` (while fewer than
    /// [`MAX_LISTED`] are).
    fn list_changed(&mut self, group: &[EvidenceRec], brand: &str, now: Reason, after: Reason) {
        if self.changed.len() < MAX_LISTED
            && let Some(n) = group.first().and_then(|r| E164::from_u64(r.number))
        {
            self.changed.push(ChangedDecision {
                number: n.masked(),
                brand: brand.to_string(),
                now: now.as_str(),
                after: after.as_str(),
            });
        }
    }
}

impl Ids {
    /// The ids in `snap` (absent when it holds no such string).
    fn of(snap: &Snapshot<Mmap>) -> Ids {
        Ids {
            star: snap.string_id(EVERY_BRAND),
            sms: snap.string_id("sms"),
            lasting: crate::store::event::LASTING_RELATIONSHIPS
                .iter()
                .filter_map(|k| snap.string_id(k))
                .collect(),
        }
    }
}

/// The marketing rules a run applies for a brand: soft opt-in over `soft_opt_in_months`
/// and the brand's policy (confirmation, consent lifetime, informed grace).
fn brand_rules(bp: &BrandPolicy, soft_opt_in_months: u32, now: Timestamp) -> Rules {
    Rules {
        soft_opt_in_months: Some(soft_opt_in_months),
        require_confirmed: bp.require_confirmed,
        consent_lifetime_months: bp.consent_lifetime_months,
        informed_grace: bp
            .informed_grace_days
            .map_or(crate::decision::DEFAULT_INFORMED_GRACE, |d| i64::from(d) * 86_400),
        ..Rules::new(Class::Marketing, now)
    }
}

/// Decides brand `b` for one number before and after `gone` goes, for every purpose of
/// its consents for `b` and for a purpose without consent, and calls `changed(before,
/// after)` for each decision whose "may send" changes.
fn each_changed_decision(
    group: &[EvidenceRec],
    gone: &[u64],
    ids: &Ids,
    b: u32,
    rules: &Rules,
    mut changed: impl FnMut(Reason, Reason),
) {
    let mut purposes: Vec<Option<u32>> = vec![None];
    for r in group.iter().filter(|r| r.kind == KIND_CONSENT && r.brand() == b) {
        if !purposes.contains(&Some(r.purpose())) {
            purposes.push(Some(r.purpose()));
        }
    }
    let decide = |gone: &[u64], purpose| {
        let (st, rel) = standing(group, gone, ids, b, purpose);
        decide_full(rules, &st, || rel).reason
    };
    for purpose in purposes {
        let (before, after) = (decide(&[], purpose), decide(gone, purpose));
        if (before == Reason::Allowed) != (after == Reason::Allowed) {
            changed(before, after);
        }
    }
}

/// The one cutoff of `c` when every brand and category shares it.
fn uniform(c: &Cutoffs) -> Option<String> {
    let d = c.default;
    (c.brands.is_empty() && d.consents.is_some() && d.consents == d.relationships)
        .then(|| d.consents.map(format_rfc3339))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rights::{purge_guarded, purge_with};
    use crate::store::event::Relationship;
    use crate::store::retention::PerCategory;
    use crate::store::{Consent, Event};

    const DAY: i64 = 86_400;
    const NOW: Timestamp = 1_767_225_600; // 2026-01-01

    fn n(v: u64) -> E164 {
        E164::from_u64(v).unwrap()
    }

    /// An sms consent of `brand`, purpose p, granted 500 days ago and expired 400 ago.
    fn expired(number: u64, brand: &str) -> Event {
        Event::Consent(Consent {
            number: n(number),
            brand: brand.into(),
            purpose: "p".into(),
            channel: "sms".into(),
            granted_at: NOW - 500 * DAY,
            method: "m".into(),
            text_ref: "t".into(),
            source: "s".into(),
            expires_at: Some(NOW - 400 * DAY),
            confirmed_at: None,
        })
    }

    fn consents_only(brand: &str, days: i64) -> Retention {
        let mut r = Retention::default();
        r.brands
            .insert(brand.into(), PerCategory { consents: Some(days * DAY), relationships: None });
        r
    }

    #[test]
    fn each_brand_keeps_its_own_retention() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.append(&expired(4791234567, "A")).unwrap();
        s.append(&expired(4791234567, "B")).unwrap();
        let r = consents_only("A", 30);
        // Planned from the journal tail (no snapshot yet): only A's consent goes.
        let p = plan(&s, &r, NOW, 12).unwrap();
        assert_eq!((p.records_going, p.decisions_changed), (1, 0));
        assert_eq!(p.going.keys().collect::<Vec<_>>(), ["A"]);
        assert!(p.cutoff.is_none() && p.cutoffs["A"].consents.is_some());
        assert!(p.cutoffs["A"].relationships.is_none() && !p.cutoffs.contains_key("*"));
        let rec = purge_with(&mut s, &r, NOW).unwrap();
        assert_eq!((rec.consents_purged, rec.verified), (1, true));
        assert_eq!(rec.cutoff, "per brand and category");
        let left = s.evidence(n(4791234567)).unwrap();
        assert!(
            matches!(&left[..], [r] if matches!(&r.event, Event::Consent(c) if c.brand == "B"))
        );
        // A brand whose retention is longer than the age of its evidence keeps it.
        let rec = purge_with(&mut s, &consents_only("B", 401), NOW).unwrap();
        assert_eq!(rec.consents_purged, 0);
        assert!(!std::fs::exists(d.path().join(PLAN_TMP)).unwrap());
    }

    #[test]
    fn dropping_an_ended_consent_that_keeps_a_number_blocked_is_refused_with_its_count() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.append(&expired(4791234567, "A")).unwrap();
        // A recent customer: soft opt-in would allow the number once the expired consent
        // (which blocks it now: CONSENT_EXPIRED) is gone.
        s.append(&Event::Relationship(Relationship {
            number: n(4791234567),
            brand: "A".into(),
            relationship: "purchase".into(),
            started_at: NOW - 60 * DAY,
            last_purchase_at: Some(NOW - 30 * DAY),
            ends_at: None,
            informed_at: Some(NOW - 60 * DAY),
        }))
        .unwrap();
        let r = consents_only("A", 30);
        for compacted in [false, true] {
            if compacted {
                s.compact().unwrap();
            }
            let p = plan(&s, &r, NOW, 12).unwrap();
            assert_eq!(p.decisions_changed, 1, "compacted: {compacted}");
            assert_eq!(
                p.changes,
                [ChangeCount {
                    brand: "A".into(),
                    now: "CONSENT_EXPIRED",
                    after: "ALLOWED",
                    count: 1
                }]
            );
            assert_eq!(p.changed[0].number, "+47*****567");
            let e = purge_guarded(&mut s, &r, NOW, 12, false).unwrap_err();
            assert!(
                matches!(e, RightsError::WouldChangeDecisions { count: 1, shorter: false, .. }),
                "{e}"
            );
            assert!(e.to_string().contains("would change 1 live decision(s)"), "{e}");
        }
        let (p, rec) = purge_guarded(&mut s, &r, NOW, 12, true).unwrap();
        assert_eq!((p.decisions_changed, rec.consents_purged), (1, 1));
    }
}
