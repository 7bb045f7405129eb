//! Reason codes, verdicts and the pure decision rule.
//!
//! Every record the filter sees gets exactly one [`Reason`]. The rules are applied in a
//! fixed order (the first that matches decides):
//!
//! 1. [`Reason::Malformed`]: the record cannot be read (bad CSV/JSON, missing number field).
//! 2. [`Reason::InvalidNumber`]: the normaliser rejects the number.
//! 3. [`Reason::Duplicate`]: the same E.164 number appeared earlier in this run.
//! 4. Class `service`: allowed (no consent check, no footer).
//! 5. [`Reason::Stopped`]: a stop for the brand or `*` exists, unless the newest `sms`
//!    consent was both granted and confirmed after the newest stop (and by "now").
//! 6. [`Reason::NoConsent`]: no consent granted at or before now.
//! 7. [`Reason::ConsentExpired`]: the consent's `expires_at` ≤ now (a consent without
//!    `expires_at` under a store policy's default lifetime of N months ends N calendar
//!    months after it was granted).
//! 8. [`Reason::ConsentUnconfirmed`]: confirmation required and none at or before now.
//!
//!    **8a.** Soft opt-in (only with `--soft-opt-in`, only where rule 6 failed, never
//!    after a stop): with no customer relationship the record stays [`Reason::NoConsent`];
//!    [`Reason::SoftOptInNotInformed`] when the customer was never informed, only after
//!    now, or later than the collection: `informed_at` after the relationship's
//!    `started_at` plus a grace ([`DEFAULT_INFORMED_GRACE`], 7 days, or the store policy's);
//!    [`Reason::SoftOptInLapsed`] when the relationship is not live (a
//!    subscription/membership that ended at or before now, no purchase within the window,
//!    or one that has not started yet). Otherwise allowed by soft opt-in.
//!
//!    **8b.** [`Reason::NoOptOutRoute`]: the brand has no opt-out route (short code or
//!    international number) for the recipient's country, so a footer could not tell the
//!    person how to opt out (only in runs that stamp a footer; see
//!    [`crate::filter::Routes`]).
//!
//! 9. [`Reason::TooLong`]: the stamped message needs more segments than allowed.
//!
//! Rules 1–3, 8b and 9 need the record or the run's routes (see [`crate::filter`]); rules 4–8a need only a
//! [`Standing`] (and, lazily, the relationship) and are the pure function [`decide_full`]
//! here, so they can be tested without a store.
//!
//! Why soft opt-in sits there: a valid consent is the stronger basis and wins (its
//! evidence goes into the receipt); an expired or unconfirmed consent is a decision the
//! consent route already made and is not silently replaced by another basis; a stop is
//! never lifted by a relationship, because only a new explicit consent confirmed after the
//! stop can lift it. "Within 12 months" is calendar months, to the second: a purchase at
//! 2025-03-15T10:00:00Z qualifies until 2026-03-15T09:59:59Z and has lapsed at 10:00:00Z
//! (the same "at exactly now is over" rule as consent expiry); from the 31st, a month
//! later is the last day of a shorter month.

use std::fmt;
use std::str::FromStr;

use crate::phone::E164;
use crate::standing::{RelationshipState, Standing, Timestamp};

/// Why a record was allowed or rejected: a small `Copy` code, turned into text only at the
/// edge with [`Reason::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    /// The message may be sent.
    Allowed = 0,
    /// The record cannot be read (bad CSV/JSON, missing number field, non-UTF-8 message).
    Malformed,
    /// The normaliser rejects the number.
    InvalidNumber,
    /// The same E.164 number already appeared earlier in this run (the first one decides).
    Duplicate,
    /// The number has opted out of this brand (or of every brand).
    Stopped,
    /// No `sms` consent for (brand, purpose) granted at or before now.
    NoConsent,
    /// The newest consent expired at or before now.
    ConsentExpired,
    /// Confirmation (double opt-in) is required and the consent is not confirmed.
    ConsentUnconfirmed,
    /// Soft opt-in: the customer relationship is over or too old (or not started yet).
    SoftOptInLapsed,
    /// Soft opt-in: the customer was never informed and offered an opt-out.
    SoftOptInNotInformed,
    /// No opt-out route (short code or international number) reaches the recipient's
    /// country: the footer could not tell them how to opt out.
    NoOptOutRoute,
    /// The message, with its opt-out footer, needs more SMS segments than allowed.
    TooLong,
}

impl Reason {
    /// Number of reason codes (the length of [`Reason::ALL`]).
    pub const COUNT: usize = 12;

    /// Every reason, in rule order, `Allowed` first.
    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::Allowed,
        Reason::Malformed,
        Reason::InvalidNumber,
        Reason::Duplicate,
        Reason::Stopped,
        Reason::NoConsent,
        Reason::ConsentExpired,
        Reason::ConsentUnconfirmed,
        Reason::SoftOptInLapsed,
        Reason::SoftOptInNotInformed,
        Reason::NoOptOutRoute,
        Reason::TooLong,
    ];

    /// The stable code written to rejects files and reports, e.g. `NO_CONSENT`.
    ///
    /// ```
    /// use sendfilter::Reason;
    /// assert_eq!(Reason::ConsentExpired.as_str(), "CONSENT_EXPIRED");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Allowed => "ALLOWED",
            Reason::Malformed => "MALFORMED",
            Reason::InvalidNumber => "INVALID_NUMBER",
            Reason::Duplicate => "DUPLICATE",
            Reason::Stopped => "STOPPED",
            Reason::NoConsent => "NO_CONSENT",
            Reason::ConsentExpired => "CONSENT_EXPIRED",
            Reason::ConsentUnconfirmed => "CONSENT_UNCONFIRMED",
            Reason::SoftOptInLapsed => "SOFT_OPT_IN_LAPSED",
            Reason::SoftOptInNotInformed => "SOFT_OPT_IN_NOT_INFORMED",
            Reason::NoOptOutRoute => "NO_OPT_OUT_ROUTE",
            Reason::TooLong => "TOO_LONG",
        }
    }

    /// True for [`Reason::Allowed`].
    pub const fn is_allowed(self) -> bool {
        matches!(self, Reason::Allowed)
    }

    /// The position of this reason in [`Reason::ALL`] (for per-reason counters).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision for one record: the normalised number (when it could be read) and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The E.164 form, `None` for [`Reason::Malformed`] and [`Reason::InvalidNumber`].
    pub e164: Option<E164>,
    /// The reason; [`Reason::Allowed`] when the message may be sent.
    pub reason: Reason,
}

impl Verdict {
    /// True when the message may be sent.
    pub fn is_allowed(&self) -> bool {
        self.reason.is_allowed()
    }
}

/// The kind of message being sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Class {
    /// Offers, campaigns, newsletters: needs consent, honours stops, carries a footer.
    #[default]
    Marketing,
    /// Transactional messages to an existing customer: no consent check, no footer.
    Service,
}

impl Class {
    /// The class as written on the command line (`marketing`, `service`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Marketing => "marketing",
            Class::Service => "service",
        }
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Class, String> {
        match s {
            "marketing" => Ok(Class::Marketing),
            "service" => Ok(Class::Service),
            _ => Err(format!("unknown class {s:?}: use marketing or service")),
        }
    }
}

/// The parameters of the standing rules (4–8a): class, the fixed "now", whether double
/// opt-in confirmation is required, the default consent lifetime and soft opt-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Marketing or service.
    pub class: Class,
    /// The instant decisions are made at (Unix seconds).
    pub now: Timestamp,
    /// Reject consents without a confirmation (`--require-confirmed`).
    pub require_confirmed: bool,
    /// Lifetime in calendar months of a consent without `expires_at` (store policy);
    /// `None`: such a consent does not expire.
    pub consent_lifetime_months: Option<u32>,
    /// Soft opt-in allowed, with this purchase window in calendar months
    /// (`--soft-opt-in`, `--soft-opt-in-months`); `None`: off.
    pub soft_opt_in_months: Option<u32>,
    /// Soft opt-in: how long after the relationship began (`started_at`) the customer may
    /// have been informed, in seconds. The law asks that the person is told at collection;
    /// informed later than this is [`Reason::SoftOptInNotInformed`].
    pub informed_grace: Timestamp,
}

/// The default [`Rules::informed_grace`]: 7 days.
pub const DEFAULT_INFORMED_GRACE: Timestamp = 7 * 86_400;

impl Rules {
    /// Marketing at `now`: no confirmation required, no default lifetime, no soft opt-in
    /// (a 7-day informed grace when it is turned on).
    pub const fn new(class: Class, now: Timestamp) -> Rules {
        Rules {
            class,
            now,
            require_confirmed: false,
            consent_lifetime_months: None,
            soft_opt_in_months: None,
            informed_grace: DEFAULT_INFORMED_GRACE,
        }
    }
}

/// What allowed a record: the legal basis and the id (journal sequence) of its evidence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Basis {
    /// Not allowed, or allowed by rules that need no basis record (see `Service`).
    #[default]
    None,
    /// A service message: no consent needed.
    Service,
    /// An explicit `sms` consent: the consent event's sequence number.
    Consent(u64),
    /// Soft opt-in: the customer relationship event's sequence number.
    SoftOptIn(u64),
}

impl Basis {
    /// `-`, `service`, `consent` or `soft_opt_in`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Basis::None => "-",
            Basis::Service => "service",
            Basis::Consent(_) => "consent",
            Basis::SoftOptIn(_) => "soft_opt_in",
        }
    }

    /// The evidence event's sequence number (0 for none).
    pub const fn event_seq(self) -> u64 {
        match self {
            Basis::Consent(s) | Basis::SoftOptIn(s) => s,
            Basis::None | Basis::Service => 0,
        }
    }
}

/// A reason with the basis that allowed it ([`Basis::None`] when rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Why.
    pub reason: Reason,
    /// What allowed it.
    pub basis: Basis,
}

impl Decision {
    const fn reject(reason: Reason) -> Decision {
        Decision { reason, basis: Basis::None }
    }
}

/// `t` plus `months` calendar months, same time of day; a day past the end of the target
/// month becomes its last day (Jan 31 + 1 month = Feb 28/29). Saturates at
/// `Timestamp::MAX` beyond the calendar's range (a lifetime that never ends in practice).
///
/// ```
/// use sendfilter::decision::add_months;
/// let t = sendfilter::timefmt::parse_rfc3339("2025-01-31T10:00:00Z").unwrap();
/// let want = sendfilter::timefmt::parse_rfc3339("2025-02-28T10:00:00Z").unwrap();
/// assert_eq!(add_months(t, 1), want);
/// ```
pub fn add_months(t: Timestamp, months: u32) -> Timestamp {
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return Timestamp::MAX;
    };
    let total = i64::from(dt.year()) * 12 + i64::from(u8::from(dt.month()) - 1) + i64::from(months);
    let (Ok(year), Ok(month)) =
        (i32::try_from(total.div_euclid(12)), u8::try_from(total.rem_euclid(12) + 1))
    else {
        return Timestamp::MAX;
    };
    let Ok(month) = time::Month::try_from(month) else { return Timestamp::MAX };
    let day = dt.day().min(month.length(year));
    match time::Date::from_calendar_date(year, month, day) {
        Ok(d) => d.with_time(dt.time()).assume_utc().unix_timestamp(),
        Err(_) => Timestamp::MAX,
    }
}

/// True when `months` calendar months after `from` is at or before `now` (the period is
/// over). Computes the calendar date only near the boundary: a month is 28 to 31 days.
#[inline]
pub fn months_passed(from: Timestamp, months: u32, now: Timestamp) -> bool {
    const DAY: i64 = 86_400;
    let d = now.saturating_sub(from);
    let m = i64::from(months);
    if d < m * 28 * DAY {
        false
    } else if d >= m * 31 * DAY {
        true
    } else {
        add_months(from, months) <= now
    }
}

/// Applies rules 4–8 to what the store knows about one number (no soft opt-in; see
/// [`decide_full`]).
///
/// Choices where the issue text leaves room, all failing closed:
/// * a consent lifts a stop only if it was granted *and* confirmed strictly after the
///   stop, and both happened at or before `now` (a future consent lifts nothing yet);
/// * only the newest consent is known: if it was granted after `now`, the answer is
///   [`Reason::NoConsent`] even if an older one might have been valid;
/// * a `confirmed_at` after `now` counts as not confirmed yet.
///
/// ```
/// use sendfilter::decision::{decide, Class, Reason, Rules};
/// use sendfilter::{ConsentState, Standing};
/// let rules = Rules::new(Class::Marketing, 100);
/// let consent = ConsentState { granted_at: 10, confirmed_at: None, expires_at: Some(100), event_seq: 1 };
/// let s = Standing { stopped_at: None, consent: Some(consent) };
/// assert_eq!(decide(&rules, &s), Reason::ConsentExpired); // expires_at == now is expired
/// ```
pub fn decide(rules: &Rules, standing: &Standing) -> Reason {
    decide_full(rules, standing, || None).reason
}

/// The effective end of `consent` under `rules`: its `expires_at`, else the default
/// lifetime from `granted_at`, else none.
pub fn consent_end(rules: &Rules, consent: &crate::standing::ConsentState) -> Option<Timestamp> {
    consent
        .expires_at
        .or_else(|| rules.consent_lifetime_months.map(|m| add_months(consent.granted_at, m)))
}

/// Applies rules 4–8a: the reason and, when allowed, the basis with its evidence id.
///
/// `relationship` is called at most once, and only when soft opt-in is on and the consent
/// rules ended in [`Reason::NoConsent`] without a stop: the store is asked for the
/// relationship only then (a lazy lookup gives the same answer as an eager one).
///
/// ```
/// use sendfilter::decision::{decide_full, Basis, Class, Reason, Rules};
/// use sendfilter::standing::{RelationshipState, Standing};
/// let mut rules = Rules::new(Class::Marketing, 1_000_000);
/// rules.soft_opt_in_months = Some(12);
/// let member = RelationshipState {
///     lasting: true, started_at: 10, last_purchase_at: None, ends_at: None,
///     informed_at: Some(10), event_seq: 4,
/// };
/// let d = decide_full(&rules, &Standing::default(), || Some(member));
/// assert_eq!((d.reason, d.basis), (Reason::Allowed, Basis::SoftOptIn(4)));
/// ```
pub fn decide_full(
    rules: &Rules,
    standing: &Standing,
    relationship: impl FnOnce() -> Option<RelationshipState>,
) -> Decision {
    if rules.class == Class::Service {
        return Decision { reason: Reason::Allowed, basis: Basis::Service };
    }
    let now = rules.now;
    if let Some(stop) = standing.stopped_at {
        let lifted = standing.consent.is_some_and(|c| {
            c.granted_at > stop
                && c.granted_at <= now
                && c.confirmed_at.is_some_and(|k| k > stop && k <= now)
        });
        if !lifted {
            return Decision::reject(Reason::Stopped);
        }
    }
    let consent = match standing.consent {
        Some(c) if c.granted_at <= now => c,
        // No consent (or only one granted after now): soft opt-in may apply, never
        // after a stop (any stop: a relationship cannot lift one).
        _ => {
            return match rules.soft_opt_in_months {
                Some(months) if standing.stopped_at.is_none() => {
                    soft_opt_in(rules, months, relationship())
                }
                _ => Decision::reject(Reason::NoConsent),
            };
        }
    };
    let expired = match consent.expires_at {
        Some(e) => e <= now,
        None => {
            rules.consent_lifetime_months.is_some_and(|m| months_passed(consent.granted_at, m, now))
        }
    };
    if expired {
        return Decision::reject(Reason::ConsentExpired);
    }
    if rules.require_confirmed && consent.confirmed_at.is_none_or(|k| k > now) {
        return Decision::reject(Reason::ConsentUnconfirmed);
    }
    Decision { reason: Reason::Allowed, basis: Basis::Consent(consent.event_seq) }
}

/// Rule 8a for a number with no consent and no stop.
fn soft_opt_in(rules: &Rules, months: u32, rel: Option<RelationshipState>) -> Decision {
    let now = rules.now;
    let Some(r) = rel else {
        return Decision::reject(Reason::NoConsent);
    };
    // Informed at collection: not after now, and within the grace of the start.
    let deadline = r.started_at.saturating_add(rules.informed_grace);
    if r.informed_at.is_none_or(|i| i > now || i > deadline) {
        return Decision::reject(Reason::SoftOptInNotInformed);
    }
    let started = r.started_at <= now;
    let ongoing = r.lasting && r.ends_at.is_none_or(|e| e > now);
    let recent = r.last_purchase_at.is_some_and(|p| p <= now && !months_passed(p, months, now));
    if !started || !(ongoing || recent) {
        return Decision::reject(Reason::SoftOptInLapsed);
    }
    Decision { reason: Reason::Allowed, basis: Basis::SoftOptIn(r.event_seq) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standing::ConsentState;

    fn rules(now: Timestamp, confirmed: bool) -> Rules {
        Rules { require_confirmed: confirmed, ..Rules::new(Class::Marketing, now) }
    }

    fn consent(g: i64, c: Option<i64>, e: Option<i64>) -> Option<ConsentState> {
        Some(ConsentState { granted_at: g, confirmed_at: c, expires_at: e, event_seq: 7 })
    }

    macro_rules! cases {
        ($($name:ident: ($now:expr, $conf:expr, $stop:expr, $consent:expr) => $want:ident,)*) => {$(
            #[test]
            fn $name() {
                let s = Standing { stopped_at: $stop, consent: $consent };
                assert_eq!(decide(&rules($now, $conf), &s), Reason::$want);
            }
        )*};
    }

    cases! {
        nothing_known: (100, false, None, None) => NoConsent,
        plain_consent: (100, false, None, consent(10, None, None)) => Allowed,
        consent_in_future: (100, false, None, consent(101, None, None)) => NoConsent,
        consent_granted_now: (100, false, None, consent(100, None, None)) => Allowed,
        expires_now_is_expired: (100, false, None, consent(10, None, Some(100))) => ConsentExpired,
        expires_after_now: (100, false, None, consent(10, None, Some(101))) => Allowed,
        expired_before_now: (100, false, None, consent(10, None, Some(99))) => ConsentExpired,
        unconfirmed_required: (100, true, None, consent(10, None, None)) => ConsentUnconfirmed,
        confirmed_in_future: (100, true, None, consent(10, Some(150), None)) => ConsentUnconfirmed,
        confirmed_required_ok: (100, true, None, consent(10, Some(20), None)) => Allowed,
        unconfirmed_not_required: (100, false, None, consent(10, None, None)) => Allowed,
        stop_without_consent: (100, false, Some(50), None) => Stopped,
        stop_after_consent: (100, false, Some(50), consent(10, Some(11), None)) => Stopped,
        consent_after_stop_unconfirmed: (100, false, Some(50), consent(60, None, None)) => Stopped,
        consent_after_stop_confirmed: (100, false, Some(50), consent(60, Some(61), None)) => Allowed,
        consent_same_second_as_stop: (100, false, Some(50), consent(50, Some(51), None)) => Stopped,
        confirmation_before_stop: (100, false, Some(50), consent(40, Some(45), None)) => Stopped,
        lifting_consent_in_future: (55, false, Some(50), consent(60, Some(61), None)) => Stopped,
        lifted_but_expired: (100, false, Some(50), consent(60, Some(61), Some(90))) => ConsentExpired,
    }

    #[test]
    fn service_ignores_standing() {
        let r = Rules { require_confirmed: true, ..Rules::new(Class::Service, 100) };
        let s = Standing { stopped_at: Some(1), consent: None };
        assert_eq!(decide(&r, &s), Reason::Allowed);
        assert_eq!(decide_full(&r, &s, || None).basis, Basis::Service);
    }

    #[test]
    fn codes_are_stable_and_indexed() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(r.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }

    #[test]
    fn codes_of_new_reasons() {
        assert_eq!(Reason::SoftOptInLapsed.as_str(), "SOFT_OPT_IN_LAPSED");
        assert_eq!(Reason::SoftOptInNotInformed.as_str(), "SOFT_OPT_IN_NOT_INFORMED");
    }
}

#[cfg(test)]
mod basis_tests;
