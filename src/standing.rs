//! The contract between the store and the filter: what the store knows about one number
//! under one (brand, purpose), already folded from all events.
//!
//! The store (journal + snapshot) implements [`StandingSource`]; the filter's decision rules
//! read only [`Standing`]. Tests use [`MemorySource`], a simple model.

use std::collections::HashMap;

use crate::phone::E164;

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The newest `sms` consent for one (number, brand, purpose): the evidence the decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentState {
    /// When the consent was granted.
    pub granted_at: Timestamp,
    /// When it was confirmed (double opt-in); `None` while pending.
    pub confirmed_at: Option<Timestamp>,
    /// When it ends; `None` for no expiry.
    pub expires_at: Option<Timestamp>,
    /// Journal sequence number of the consent event, for decision receipts.
    pub event_seq: u64,
}

/// Everything the filter needs about one number for one (brand, purpose).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The newest stop for this brand or for every brand (`*`), if any.
    pub stopped_at: Option<Timestamp>,
    /// The newest `sms` consent for (brand, purpose), if any. "Newest" is by `granted_at`,
    /// ties broken by journal sequence.
    pub consent: Option<ConsentState>,
}

/// A read view that answers [`Standing`] queries; shared by many threads.
pub trait StandingSource: Sync {
    /// A resolved (brand, purpose) handle, computed once per run.
    type Scope: Sync + Send;
    /// Resolves a brand and purpose (names as given by the user) once per run.
    fn scope(&self, brand: &str, purpose: &str) -> Self::Scope;
    /// The standing of `number` under `scope`.
    fn standing(&self, scope: &Self::Scope, number: E164) -> Standing;
    /// A hint that `number` will be asked for soon (e.g. a software prefetch). Optional.
    #[inline]
    fn prefetch(&self, scope: &Self::Scope, number: E164) {
        let _ = (scope, number);
    }
    /// The snapshot generation this view reads (0 for none).
    fn generation(&self) -> u64;
    /// The last journal sequence number this view includes (0 for none).
    fn journal_seq(&self) -> u64;
}

/// A plain in-memory [`StandingSource`]: the reference model for tests and small embeds.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    /// Per number, per brand (`*` = every brand): newest stop.
    pub stops: HashMap<(E164, String), Timestamp>,
    /// Per (number, brand, purpose): newest sms consent.
    pub consents: HashMap<(E164, String, String), ConsentState>,
}

impl StandingSource for MemorySource {
    type Scope = (String, String);

    fn scope(&self, brand: &str, purpose: &str) -> Self::Scope {
        (brand.to_string(), purpose.to_string())
    }

    fn standing(&self, scope: &Self::Scope, number: E164) -> Standing {
        let brand_stop = self.stops.get(&(number, scope.0.clone())).copied();
        let all_stop = self.stops.get(&(number, "*".to_string())).copied();
        Standing {
            stopped_at: brand_stop.max(all_stop),
            consent: self.consents.get(&(number, scope.0.clone(), scope.1.clone())).copied(),
        }
    }

    fn generation(&self) -> u64 {
        0
    }

    fn journal_seq(&self) -> u64 {
        0
    }
}
