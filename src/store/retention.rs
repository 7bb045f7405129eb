//! Retention cutoffs of a purge, per brand and per category (`consents`,
//! `relationships`): evidence of a brand that ended before its category's cutoff goes
//! (see [`crate::store::compact`] for what "ended" means and what is always kept).
//!
//! A cutoff is a time; a period (the records of processing say `consents=24mo`) becomes
//! one by subtracting it from now ([`Retention::cutoffs`]).

use std::collections::{BTreeMap, HashMap};

use crate::Timestamp;
use crate::store::processing::Records;

/// Something per purged category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerCategory<T> {
    /// Consents (with their corrections).
    pub consents: Option<T>,
    /// Customer relationships.
    pub relationships: Option<T>,
}

/// Retention periods in seconds: a default for every brand and per brand (`None`: that
/// category of that brand is kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Brands not in `brands`.
    pub default: PerCategory<i64>,
    /// By brand name (canonical form).
    pub brands: BTreeMap<String, PerCategory<i64>>,
}

/// Cutoff times: evidence that ended before its brand's cutoff for its category goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cutoffs {
    /// Brands not in `brands`.
    pub default: PerCategory<Timestamp>,
    /// By brand name (canonical form).
    pub brands: BTreeMap<String, PerCategory<Timestamp>>,
}

impl Retention {
    /// One period for every brand and category (`purge --older-than`).
    pub fn uniform(secs: i64) -> Retention {
        Retention {
            default: PerCategory { consents: Some(secs), relationships: Some(secs) },
            brands: BTreeMap::new(),
        }
    }

    /// Each brand's own retention of `consents` and `relationships` from its record of
    /// processing; brands without a record, or without that category, keep it.
    pub fn from_records(records: &Records) -> Retention {
        let period = |r: &BTreeMap<String, String>, c: &str| {
            r.get(c).and_then(|d| d.parse::<crate::duration::Duration>().ok()).map(|d| d.seconds())
        };
        Retention {
            default: PerCategory::default(),
            brands: records
                .brands
                .iter()
                .map(|(b, r)| {
                    let p = PerCategory {
                        consents: period(&r.retention, "consents"),
                        relationships: period(&r.retention, "relationships"),
                    };
                    (b.clone(), p)
                })
                .filter(|(_, p)| p.consents.is_some() || p.relationships.is_some())
                .collect(),
        }
    }

    /// True when nothing would be purged.
    pub fn is_empty(&self) -> bool {
        let none = |p: &PerCategory<i64>| p.consents.is_none() && p.relationships.is_none();
        none(&self.default) && self.brands.values().all(none)
    }

    /// The brands (`*` for the default) whose relationships are kept for less than
    /// `window` seconds: soft opt-in could still allow what such a purge drops.
    pub fn relationships_shorter_than(&self, window: i64) -> Vec<String> {
        let short = |p: &PerCategory<i64>| p.relationships.is_some_and(|s| s < window);
        let mut out: Vec<String> =
            self.brands.iter().filter(|(_, p)| short(p)).map(|(b, _)| b.clone()).collect();
        if short(&self.default) {
            out.push(crate::store::event::EVERY_BRAND.into());
        }
        out
    }

    /// The cutoffs as of `now`.
    pub fn cutoffs(&self, now: Timestamp) -> Cutoffs {
        let at = |p: &PerCategory<i64>| PerCategory {
            consents: p.consents.map(|s| now.saturating_sub(s)),
            relationships: p.relationships.map(|s| now.saturating_sub(s)),
        };
        Cutoffs {
            default: at(&self.default),
            brands: self.brands.iter().map(|(b, p)| (b.clone(), at(p))).collect(),
        }
    }
}

impl Cutoffs {
    /// One cutoff for every brand and category.
    pub fn uniform(t: Timestamp) -> Cutoffs {
        Cutoffs {
            default: PerCategory { consents: Some(t), relationships: Some(t) },
            brands: BTreeMap::new(),
        }
    }

    /// Resolved to string ids with `id` (a snapshot's or a compaction's strings).
    pub(crate) fn resolve(&self, id: impl Fn(&str) -> Option<u32>) -> Cut {
        let secs = |p: &PerCategory<Timestamp>| {
            let t = |o: Option<Timestamp>| o.map_or(0, |t| t.clamp(0, i64::from(u32::MAX)) as u32);
            [t(p.consents), t(p.relationships)]
        };
        Cut {
            default: secs(&self.default),
            brands: self.brands.iter().filter_map(|(b, p)| Some((id(b)?, secs(p)))).collect(),
        }
    }
}

/// [`Cutoffs`] by brand string id, in the snapshot's u32 times; 0 keeps everything
/// (nothing ends before time 0).
#[derive(Clone, Debug, Default)]
pub(crate) struct Cut {
    default: [u32; 2],
    brands: HashMap<u32, [u32; 2]>,
}

impl Cut {
    /// The consent cutoff of brand id `b`.
    #[inline]
    pub(crate) fn consents(&self, b: u32) -> u32 {
        self.brands.get(&b).unwrap_or(&self.default)[0]
    }

    /// The relationship cutoff of brand id `b`.
    #[inline]
    pub(crate) fn relationships(&self, b: u32) -> u32 {
        self.brands.get(&b).unwrap_or(&self.default)[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::processing::BrandRecord;

    #[test]
    fn per_brand_periods_from_the_records_and_their_cutoffs() {
        let mut recs = Records::default();
        let mut a = BrandRecord::default();
        a.retention.insert("consents".into(), "2w".into());
        a.retention.insert("relationships".into(), "24mo".into());
        a.retention.insert("stops".into(), "1y".into());
        recs.brands.insert("A".into(), a);
        recs.brands.insert("B".into(), BrandRecord::default());
        let r = Retention::from_records(&recs);
        assert_eq!(r.brands.len(), 1, "a brand without retention is not purged");
        assert_eq!(r.brands["A"].consents, Some(14 * 86_400));
        assert!(r.default.consents.is_none() && r.default.relationships.is_none());
        assert_eq!(r.relationships_shorter_than(12 * crate::duration::MONTH_SECONDS), [""; 0]);
        assert_eq!(Retention::uniform(86_400).relationships_shorter_than(2 * 86_400), ["*"]);
        let c = r.cutoffs(100 * 86_400);
        assert_eq!(c.brands["A"].consents, Some(86 * 86_400));
        let cut = c.resolve(|s| (s == "A").then_some(7));
        assert_eq!(cut.consents(7), 86 * 86_400);
        assert_eq!(cut.consents(8), 0, "other brands keep everything");
        assert!(Retention::default().is_empty() && !r.is_empty());
    }
}
