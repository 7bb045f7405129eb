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

/// A customer relationship of one number with one brand (soft opt-in): the newest
/// relationship event for (number, brand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelationshipState {
    /// A subscription or membership (live until `ends_at`); otherwise purchases only.
    pub lasting: bool,
    /// When the relationship started.
    pub started_at: Timestamp,
    /// The last purchase, if any.
    pub last_purchase_at: Option<Timestamp>,
    /// When a lasting relationship ends or ended; `None` while open-ended.
    pub ends_at: Option<Timestamp>,
    /// When the customer was informed and offered an opt-out; `None` = never.
    pub informed_at: Option<Timestamp>,
    /// Journal sequence number of the relationship event, for decision receipts.
    pub event_seq: u64,
}

/// Everything the filter needs about one number for one (brand, purpose).
///
/// The customer relationship (soft opt-in) is not part of it: it is asked for separately
/// with [`StandingSource::relationship`], and only when a run allows soft opt-in and the
/// consent rules failed, so the default hot path never pays for it.
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
    /// A lookup's state between its stages (see [`lookup_start`](Self::lookup_start)); `()`
    /// for a source without stages.
    type Token: Copy + Default;
    /// Resolves a brand and purpose (names as given by the user) once per run.
    fn scope(&self, brand: &str, purpose: &str) -> Self::Scope;
    /// Makes `scope` fast for many lookups, once per run (a store builds a dense per-run
    /// index of the scope's lists). [`scope`](Self::scope) stays cheap for callers that
    /// ask about a few numbers under many scopes. Optional: by default `scope` itself.
    fn prepare(&self, scope: Self::Scope) -> Self::Scope {
        scope
    }
    /// The standing of `number` under `scope`.
    fn standing(&self, scope: &Self::Scope, number: E164) -> Standing;
    /// A hint that `number` will be asked for soon (e.g. a software prefetch). Optional.
    #[inline]
    fn prefetch(&self, scope: &Self::Scope, number: E164) {
        let _ = (scope, number);
    }
    /// Stage 1 of a lookup in three stages, for batches: a source whose lookup is two
    /// dependent reads (an index, then the entry it points to) starts the first read here
    /// and returns a token for [`lookup_next`](Self::lookup_next); a batch runs stage 1 a
    /// few numbers ahead of stage 2, and stage 2 a few ahead of
    /// [`lookup_finish`](Self::lookup_finish), so each read has arrived when it is needed
    /// (and the number is hashed once). Optional: by default [`prefetch`](Self::prefetch).
    #[inline]
    fn lookup_start(&self, scope: &Self::Scope, number: E164) -> Self::Token {
        self.prefetch(scope, number);
        Self::Token::default()
    }
    /// Stage 2: reads what stage 1 fetched and starts the next read; returns the token for
    /// [`lookup_finish`](Self::lookup_finish). Optional: by default nothing.
    #[inline]
    fn lookup_next(&self, scope: &Self::Scope, number: E164, token: Self::Token) -> Self::Token {
        let _ = (scope, number);
        token
    }
    /// Stage 3: the standing of `number`, equal to [`standing`](Self::standing)'s.
    /// Optional: by default `standing`.
    #[inline]
    fn lookup_finish(&self, scope: &Self::Scope, number: E164, token: Self::Token) -> Standing {
        let _ = token;
        self.standing(scope, number)
    }
    /// The customer relationship of `number` with the scope's brand, if any (soft opt-in).
    /// Sources without relationships answer `None`, which fails closed.
    #[inline]
    fn relationship(&self, scope: &Self::Scope, number: E164) -> Option<RelationshipState> {
        let _ = (scope, number);
        None
    }
    /// A hint that the relationship of `number` will be asked for soon. Optional.
    #[inline]
    fn prefetch_relationship(&self, scope: &Self::Scope, number: E164) {
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
    /// Per (number, brand): the customer relationship.
    pub relationships: HashMap<(E164, String), RelationshipState>,
}

impl StandingSource for MemorySource {
    type Scope = (String, String);
    type Token = ();

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

    fn relationship(&self, scope: &Self::Scope, number: E164) -> Option<RelationshipState> {
        self.relationships.get(&(number, scope.0.clone())).copied()
    }

    fn generation(&self) -> u64 {
        0
    }

    fn journal_seq(&self) -> u64 {
        0
    }
}
