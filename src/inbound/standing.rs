//! The standing a reply describes, read back from the store after a message's events are
//! durable and decided by `filter`'s own rules ([`crate::filter::Filter`] over a
//! [`StoreView`], with the store's policy for the brand): a reply never tells a person
//! more, or less, than `filter` would do with their number.
//!
//! ```text
//! events durable ──Store::view──▶ Filter(brand, purpose, policy).decide ──▶ Subscription
//!                                                                 ──▶ reply Kind
//! ```

use crate::decision::Reason;
use crate::filter::{Filter, FilterOptions};
use crate::phone::E164;
use crate::standing::Timestamp;
use crate::store::StoreView;
use crate::store::brands::Brand;
use crate::store::policy::Policy;

use super::reply::Kind;

/// What a reply says about the person's standing with one brand: the class of its wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// `filter` allows marketing to the number.
    Subscribed,
    /// `filter` refuses it only for a missing confirmation (double opt-in required).
    Pending,
    /// `filter` refuses it for any other reason (stopped, no consent, expired, ...).
    Unsubscribed,
}

impl Subscription {
    /// The class of a `filter` verdict.
    ///
    /// ```
    /// use sendfilter::Reason;
    /// use sendfilter::inbound::standing::Subscription;
    /// assert_eq!(Subscription::of(Reason::Allowed), Subscription::Subscribed);
    /// assert_eq!(Subscription::of(Reason::ConsentUnconfirmed), Subscription::Pending);
    /// assert_eq!(Subscription::of(Reason::Stopped), Subscription::Unsubscribed);
    /// ```
    pub fn of(reason: Reason) -> Subscription {
        match reason {
            Reason::Allowed => Subscription::Subscribed,
            Reason::ConsentUnconfirmed => Subscription::Pending,
            _ => Subscription::Unsubscribed,
        }
    }

    /// The name in output records (`subscribed`, `pending`, `unsubscribed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::Subscribed => "subscribed",
            Subscription::Pending => "pending",
            Subscription::Unsubscribed => "unsubscribed",
        }
    }

    /// The built-in reply that states this standing.
    pub fn reply_kind(self) -> Kind {
        match self {
            Subscription::Subscribed => Kind::Subscribed,
            Subscription::Pending => Kind::Pending,
            Subscription::Unsubscribed => Kind::Unsubscribed,
        }
    }
}

/// Decides standings from one view at one instant, as `filter` does: one
/// [`Filter`] per brand asked about (its scope resolved once per view).
pub struct Reader<'v> {
    view: &'v StoreView,
    policy: &'v Policy,
    now: Timestamp,
    filters: Vec<(String, Filter<'v, StoreView>)>,
}

impl<'v> Reader<'v> {
    /// A reader over `view`, deciding at `now` under the store's `policy`.
    pub fn new(view: &'v StoreView, policy: &'v Policy, now: Timestamp) -> Reader<'v> {
        Reader { view, policy, now, filters: Vec::new() }
    }

    /// The standing of `number` with `brand` (for the brand's registered purpose): the
    /// class of `filter`'s marketing verdict.
    pub fn subscription(&mut self, brand: &Brand, number: E164) -> Subscription {
        let i = match self.filters.iter().position(|(b, _)| *b == brand.name) {
            Some(i) => i,
            None => {
                let opts = FilterOptions::at(self.now).with_policy(self.policy.brand(&brand.name));
                let f = Filter::new(self.view, &brand.name, &brand.purpose, opts);
                self.filters.push((brand.name.clone(), f));
                self.filters.len() - 1
            }
        };
        Subscription::of(self.filters[i].1.decide_e164(number))
    }
}
