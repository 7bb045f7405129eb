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
//! 7. [`Reason::ConsentExpired`]: the consent's `expires_at` ≤ now.
//! 8. [`Reason::ConsentUnconfirmed`]: confirmation required and none at or before now.
//! 9. [`Reason::TooLong`]: the stamped message needs more segments than allowed.
//!
//! Rules 1–3 and 9 need the record (see [`crate::filter`]); rules 4–8 need only a
//! [`Standing`] and are the pure function [`decide`] here, so they can be tested without
//! a store.

use std::fmt;
use std::str::FromStr;

use crate::phone::E164;
use crate::standing::{Standing, Timestamp};

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
    /// The message, with its opt-out footer, needs more SMS segments than allowed.
    TooLong,
}

impl Reason {
    /// Number of reason codes (the length of [`Reason::ALL`]).
    pub const COUNT: usize = 9;

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

/// The parameters of the standing rules (4–8): class, the fixed "now", and whether
/// double opt-in confirmation is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Marketing or service.
    pub class: Class,
    /// The instant decisions are made at (Unix seconds).
    pub now: Timestamp,
    /// Reject consents without a confirmation (`--require-confirmed`).
    pub require_confirmed: bool,
}

/// Applies rules 4–8 to what the store knows about one number.
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
/// let rules = Rules { class: Class::Marketing, now: 100, require_confirmed: false };
/// let consent = ConsentState { granted_at: 10, confirmed_at: None, expires_at: Some(100), event_seq: 1 };
/// let s = Standing { stopped_at: None, consent: Some(consent) };
/// assert_eq!(decide(&rules, &s), Reason::ConsentExpired); // expires_at == now is expired
/// ```
pub fn decide(rules: &Rules, standing: &Standing) -> Reason {
    if rules.class == Class::Service {
        return Reason::Allowed;
    }
    let now = rules.now;
    if let Some(stop) = standing.stopped_at {
        let lifted = standing.consent.is_some_and(|c| {
            c.granted_at > stop
                && c.granted_at <= now
                && c.confirmed_at.is_some_and(|k| k > stop && k <= now)
        });
        if !lifted {
            return Reason::Stopped;
        }
    }
    let Some(consent) = standing.consent else {
        return Reason::NoConsent;
    };
    if consent.granted_at > now {
        return Reason::NoConsent;
    }
    if consent.expires_at.is_some_and(|e| e <= now) {
        return Reason::ConsentExpired;
    }
    if rules.require_confirmed && consent.confirmed_at.is_none_or(|k| k > now) {
        return Reason::ConsentUnconfirmed;
    }
    Reason::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standing::ConsentState;

    fn rules(now: Timestamp, confirmed: bool) -> Rules {
        Rules { class: Class::Marketing, now, require_confirmed: confirmed }
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
        let r = Rules { class: Class::Service, now: 100, require_confirmed: true };
        let s = Standing { stopped_at: Some(1), consent: None };
        assert_eq!(decide(&r, &s), Reason::Allowed);
    }

    #[test]
    fn codes_are_stable_and_indexed() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(r.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }
}
