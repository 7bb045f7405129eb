//! The run's opt-out routes: which countries' recipients can be told how to opt out, and
//! the footer each of them gets.
//!
//! Short codes are national (a Danish number cannot text the Norwegian 2401), so a brand
//! has one route per country (see [`crate::store::brands::Route`]). A recipient whose
//! country has no route is rejected with [`Reason::NoOptOutRoute`]. The per-record check
//! is one table lookup by the number's country calling code (known from the digits).

use crate::decision::Reason;
use crate::phone::{E164, Region};
use crate::sms::Footer;

/// Country calling codes are 1 to 3 digits.
const CODES: usize = 1000;

/// The opt-out routes of a run: per country, the route and its footer.
#[derive(Clone, Debug)]
pub struct Routes {
    /// By country calling code: 0 = no route, else the index in `entries` plus 1.
    slot: Box<[u8; CODES]>,
    entries: Vec<(Region, Footer)>,
}

impl Routes {
    /// Routes from `(country, footer)` pairs (the footer renders the country's route);
    /// the first pair for a country wins. At most 255 countries are kept.
    ///
    /// ```
    /// use sendfilter::filter::Routes;
    /// use sendfilter::sms::Footer;
    /// use sendfilter::{E164, Region};
    /// let no = Footer::new("Svar {brand} STOPP til {shortcode}", "ACME", Some("2401")).unwrap();
    /// let routes = Routes::new(vec![(Region::NO, no)]);
    /// let n = E164::from_u64(4791234567).unwrap();
    /// assert_eq!(routes.footer(n).map(|f| f.text()), Some("Svar ACME STOPP til 2401"));
    /// assert!(routes.footer(E164::from_u64(4540100011).unwrap()).is_none());
    /// ```
    pub fn new(list: Vec<(Region, Footer)>) -> Routes {
        let mut slot = Box::new([0u8; CODES]);
        let mut entries = Vec::new();
        for (region, footer) in list {
            let cc = usize::from(region.country_code());
            if entries.len() >= usize::from(u8::MAX) || cc >= CODES || slot[cc] != 0 {
                continue;
            }
            entries.push((region, footer));
            slot[cc] = entries.len() as u8;
        }
        Routes { slot, entries }
    }

    /// The index of `number`'s route in [`Routes::entries`], if its country has one.
    #[inline]
    pub fn index(&self, number: E164) -> Option<usize> {
        let s = *self.slot.get(usize::from(number.country_code()))?;
        (s != 0).then(|| usize::from(s) - 1)
    }

    /// The footer for `number`, if its country has a route.
    #[inline]
    pub fn footer(&self, number: E164) -> Option<&Footer> {
        self.index(number).map(|i| &self.entries[i].1)
    }

    /// Every route: the country and its footer, in the order given.
    pub fn entries(&self) -> &[(Region, Footer)] {
        &self.entries
    }

    /// `reason`, or [`Reason::NoOptOutRoute`] for an allowed `number` without a route.
    #[inline]
    pub fn check(&self, number: E164, reason: Reason) -> Reason {
        if reason == Reason::Allowed && self.index(number).is_none() {
            Reason::NoOptOutRoute
        } else {
            reason
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(code: &str) -> Footer {
        Footer::new("Reply STOP to {shortcode}", "ACME", Some(code)).unwrap()
    }

    #[test]
    fn lookup_by_country() {
        let dk: Region = "DK".parse().unwrap();
        let r = Routes::new(vec![
            (Region::NO, footer("2401")),
            (dk, footer("+4570202020")),
            (dk, footer("1")),
        ]);
        assert_eq!(r.entries().len(), 2);
        let n = |v| E164::from_u64(v).unwrap();
        assert_eq!(r.index(n(4791234567)), Some(0));
        assert_eq!(r.index(n(4540100011)), Some(1));
        assert_eq!(r.index(n(358401234567)), None);
        assert_eq!(r.check(n(358401234567), Reason::Allowed), Reason::NoOptOutRoute);
        assert_eq!(r.check(n(358401234567), Reason::Stopped), Reason::Stopped);
        assert_eq!(r.check(n(4540100011), Reason::Allowed), Reason::Allowed);
    }
}
