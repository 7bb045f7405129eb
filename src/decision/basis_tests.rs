//! Legal bases: soft opt-in, default consent lifetime, calendar-month boundaries, and a
//! property test of the whole rule set against a simple model.

use proptest::prelude::*;

use super::*;
use crate::standing::ConsentState;
use crate::timefmt::parse_rfc3339;

fn t(s: &str) -> Timestamp {
    parse_rfc3339(s).unwrap()
}

fn soft(now: Timestamp) -> Rules {
    Rules { soft_opt_in_months: Some(12), ..Rules::new(Class::Marketing, now) }
}

fn rel(lasting: bool, last: Option<Timestamp>, ends: Option<Timestamp>) -> RelationshipState {
    RelationshipState {
        lasting,
        started_at: t("2024-01-01T00:00:00Z"),
        last_purchase_at: last,
        ends_at: ends,
        informed_at: Some(t("2024-01-01T00:00:00Z")),
        event_seq: 42,
    }
}

fn run(rules: &Rules, s: &Standing, r: Option<RelationshipState>) -> Decision {
    decide_full(rules, s, || r)
}

#[test]
fn add_months_calendar() {
    assert_eq!(add_months(t("2025-03-15T10:00:00Z"), 12), t("2026-03-15T10:00:00Z"));
    assert_eq!(add_months(t("2025-01-31T23:59:59Z"), 1), t("2025-02-28T23:59:59Z"));
    assert_eq!(add_months(t("2024-01-31T00:00:00Z"), 1), t("2024-02-29T00:00:00Z"));
    assert_eq!(add_months(t("2024-02-29T12:00:00Z"), 12), t("2025-02-28T12:00:00Z"));
    assert_eq!(add_months(t("2025-11-30T00:00:00Z"), 3), t("2026-02-28T00:00:00Z"));
    assert_eq!(add_months(t("2025-12-15T00:00:00Z"), 1), t("2026-01-15T00:00:00Z"));
    assert_eq!(add_months(t("2025-05-05T05:05:05Z"), 0), t("2025-05-05T05:05:05Z"));
    assert_eq!(add_months(i64::MAX, 1), i64::MAX);
}

#[test]
fn purchase_twelve_months_to_the_day() {
    let bought = t("2025-03-15T10:00:00Z");
    let r = Some(rel(false, Some(bought), None));
    let s = Standing::default();
    let at = |now: &str| run(&soft(t(now)), &s, r).reason;
    assert_eq!(at("2025-03-15T10:00:00Z"), Reason::Allowed);
    assert_eq!(at("2026-03-15T09:59:59Z"), Reason::Allowed);
    assert_eq!(at("2026-03-15T10:00:00Z"), Reason::SoftOptInLapsed);
    assert_eq!(at("2026-03-16T00:00:00Z"), Reason::SoftOptInLapsed);
    // A purchase after now does not count yet.
    assert_eq!(at("2025-03-15T09:59:59Z"), Reason::SoftOptInLapsed);
}

#[test]
fn purchase_on_the_31st_ends_on_the_last_day_of_a_short_month() {
    let r = Some(rel(false, Some(t("2025-01-31T08:00:00Z")), None));
    let mut rules = soft(t("2025-02-28T07:59:59Z"));
    rules.soft_opt_in_months = Some(1);
    assert_eq!(run(&rules, &Standing::default(), r).reason, Reason::Allowed);
    rules.now = t("2025-02-28T08:00:00Z");
    assert_eq!(run(&rules, &Standing::default(), r).reason, Reason::SoftOptInLapsed);
}

#[test]
fn window_is_configurable() {
    let r = Some(rel(false, Some(t("2025-01-01T00:00:00Z")), None));
    let mut rules = soft(t("2025-07-01T00:00:00Z"));
    rules.soft_opt_in_months = Some(6);
    assert_eq!(run(&rules, &Standing::default(), r).reason, Reason::SoftOptInLapsed);
    rules.soft_opt_in_months = Some(7);
    assert_eq!(run(&rules, &Standing::default(), r).reason, Reason::Allowed);
}

#[test]
fn subscription_lives_until_it_ends() {
    let end = t("2025-06-01T00:00:00Z");
    let r = Some(rel(true, None, Some(end)));
    let s = Standing::default();
    assert_eq!(run(&soft(end - 1), &s, r).basis, Basis::SoftOptIn(42));
    assert_eq!(run(&soft(end), &s, r).reason, Reason::SoftOptInLapsed);
    // Open-ended membership, years later.
    let open = Some(rel(true, None, None));
    assert_eq!(run(&soft(t("2030-01-01T00:00:00Z")), &s, open).reason, Reason::Allowed);
    // Ended, but a purchase within the window still qualifies.
    let both = Some(rel(true, Some(end), Some(end)));
    assert_eq!(run(&soft(t("2026-01-01T00:00:00Z")), &s, both).reason, Reason::Allowed);
}

#[test]
fn one_off_purchase_is_not_lasting() {
    // `lasting: false` with no end and no purchase: nothing keeps it live.
    let r = Some(rel(false, None, None));
    assert_eq!(
        run(&soft(t("2024-06-01T00:00:00Z")), &Standing::default(), r).reason,
        Reason::SoftOptInLapsed
    );
}

#[test]
fn not_started_is_lapsed() {
    let mut r = rel(true, None, None);
    r.started_at = t("2025-01-01T00:00:00Z");
    let now = t("2024-12-31T23:59:59Z");
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInLapsed);
}

#[test]
fn informed_is_required() {
    let mut r = rel(true, None, None);
    r.informed_at = None;
    // Within the informed grace of the start (see informed_long_after_collection_…).
    let now = t("2024-01-03T00:00:00Z");
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
    r.informed_at = Some(now + 1);
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
    r.informed_at = Some(now);
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::Allowed);
    // Never informed and lapsed: the permanent defect is reported.
    r.informed_at = None;
    r.lasting = false;
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
}

/// Regression (issue 22): a customer told about marketing six years after the relationship
/// began was not informed at collection; the grace (7 days by default) is configurable.
#[test]
fn informed_long_after_collection_is_not_informed() {
    let mut r = rel(true, None, None);
    let now = t("2030-01-01T00:00:00Z");
    r.informed_at = Some(t("2029-12-01T00:00:00Z"));
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
    // At the edge of the grace, and past it.
    r.informed_at = Some(r.started_at + DEFAULT_INFORMED_GRACE);
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::Allowed);
    r.informed_at = Some(r.started_at + DEFAULT_INFORMED_GRACE + 1);
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
    // Informed before the start (at sign-up) is fine.
    r.informed_at = Some(r.started_at - 86_400);
    assert_eq!(run(&soft(now), &Standing::default(), Some(r)).reason, Reason::Allowed);
    // A policy grace of 30 days.
    let mut rules = soft(now);
    rules.informed_grace = 30 * 86_400;
    r.informed_at = Some(r.started_at + 29 * 86_400);
    assert_eq!(run(&rules, &Standing::default(), Some(r)).reason, Reason::Allowed);
    rules.informed_grace = 0;
    assert_eq!(run(&rules, &Standing::default(), Some(r)).reason, Reason::SoftOptInNotInformed);
}

#[test]
fn soft_opt_in_is_off_by_default() {
    let r = Some(rel(true, None, None));
    let rules = Rules::new(Class::Marketing, t("2025-01-01T00:00:00Z"));
    let mut asked = false;
    let d = decide_full(&rules, &Standing::default(), || {
        asked = true;
        r
    });
    assert_eq!(d.reason, Reason::NoConsent);
    assert!(!asked, "the relationship is not looked up when soft opt-in is off");
}

#[test]
fn no_relationship_stays_no_consent() {
    assert_eq!(run(&soft(100), &Standing::default(), None).reason, Reason::NoConsent);
}

#[test]
fn a_stop_always_blocks_soft_opt_in() {
    let r = Some(rel(true, None, None));
    let now = t("2025-01-01T00:00:00Z");
    // A stop long before the relationship even started.
    let s = Standing { stopped_at: Some(5), consent: None };
    assert_eq!(run(&soft(now), &s, r).reason, Reason::Stopped);
}

#[test]
fn consent_wins_and_failed_consent_is_not_replaced() {
    let r = Some(rel(true, None, None));
    let now = t("2025-01-01T00:00:00Z");
    let c = |e: Option<Timestamp>, k: Option<Timestamp>| {
        Some(ConsentState { granted_at: 10, confirmed_at: k, expires_at: e, event_seq: 9 })
    };
    let s = Standing { stopped_at: None, consent: c(None, None) };
    assert_eq!(run(&soft(now), &s, r).basis, Basis::Consent(9));
    let s = Standing { stopped_at: None, consent: c(Some(now), None) };
    assert_eq!(run(&soft(now), &s, r).reason, Reason::ConsentExpired);
    let mut rules = soft(now);
    rules.require_confirmed = true;
    let s = Standing { stopped_at: None, consent: c(None, None) };
    assert_eq!(run(&rules, &s, r).reason, Reason::ConsentUnconfirmed);
    // A consent granted after now is no consent yet: soft opt-in may apply.
    let s = Standing {
        stopped_at: None,
        consent: Some(ConsentState {
            granted_at: now + 1,
            confirmed_at: None,
            expires_at: None,
            event_seq: 9,
        }),
    };
    assert_eq!(run(&soft(now), &s, r).basis, Basis::SoftOptIn(42));
}

#[test]
fn default_lifetime_applies_only_without_expires_at() {
    let granted = t("2023-05-20T12:00:00Z");
    let c =
        ConsentState { granted_at: granted, confirmed_at: None, expires_at: None, event_seq: 3 };
    let s = Standing { stopped_at: None, consent: Some(c) };
    let mut rules = Rules::new(Class::Marketing, t("2025-05-20T11:59:59Z"));
    rules.consent_lifetime_months = Some(24);
    assert_eq!(decide(&rules, &s), Reason::Allowed);
    rules.now = t("2025-05-20T12:00:00Z");
    assert_eq!(decide(&rules, &s), Reason::ConsentExpired);
    assert_eq!(consent_end(&rules, &c), Some(rules.now));
    // An explicit expires_at wins over the default, both ways.
    let later = ConsentState { expires_at: Some(t("2030-01-01T00:00:00Z")), ..c };
    assert_eq!(
        decide(&rules, &Standing { stopped_at: None, consent: Some(later) }),
        Reason::Allowed
    );
    rules.now = t("2024-01-01T00:00:00Z");
    let sooner = ConsentState { expires_at: Some(t("2023-06-01T00:00:00Z")), ..c };
    assert_eq!(
        decide(&rules, &Standing { stopped_at: None, consent: Some(sooner) }),
        Reason::ConsentExpired
    );
}

#[test]
fn months_passed_agrees_with_add_months_near_the_boundary() {
    let from = t("2025-01-31T10:00:00Z");
    for m in [1u32, 2, 12, 24] {
        let end = add_months(from, m);
        for now in [end - 86_400, end - 1, end, end + 1, end + 86_400] {
            assert_eq!(months_passed(from, m, now), end <= now, "m={m} now={now}");
        }
    }
}

/// The model: the rules restated plainly, with the calendar computed by the `time`
/// crate's own `replace_*` API (no fast path) and the relationship looked up eagerly.
fn model(rules: &Rules, s: &Standing, r: Option<RelationshipState>) -> (Reason, Basis) {
    fn plus_months(t: Timestamp, m: u32) -> Timestamp {
        let dt = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
        let months0 = dt.year() * 12 + i32::from(u8::from(dt.month())) - 1 + m as i32;
        let (y, mo) = (months0 / 12, time::Month::try_from((months0 % 12 + 1) as u8).unwrap());
        let day = dt.day().min(mo.length(y));
        dt.replace_day(1)
            .unwrap()
            .replace_year(y)
            .unwrap()
            .replace_month(mo)
            .unwrap()
            .replace_day(day)
            .unwrap()
            .unix_timestamp()
    }
    let now = rules.now;
    if rules.class == Class::Service {
        return (Reason::Allowed, Basis::Service);
    }
    let consent = s.consent.filter(|c| c.granted_at <= now);
    let lifted = |stop: Timestamp| {
        consent.is_some_and(|c| {
            c.granted_at > stop && c.confirmed_at.is_some_and(|k| k > stop && k <= now)
        })
    };
    if s.stopped_at.is_some_and(|stop| !lifted(stop)) {
        return (Reason::Stopped, Basis::None);
    }
    match consent {
        Some(c) => {
            let end = c
                .expires_at
                .or(rules.consent_lifetime_months.map(|m| plus_months(c.granted_at, m)));
            if end.is_some_and(|e| e <= now) {
                (Reason::ConsentExpired, Basis::None)
            } else if rules.require_confirmed && c.confirmed_at.is_none_or(|k| k > now) {
                (Reason::ConsentUnconfirmed, Basis::None)
            } else {
                (Reason::Allowed, Basis::Consent(c.event_seq))
            }
        }
        None => match (rules.soft_opt_in_months, r, s.stopped_at) {
            (Some(m), Some(r), None) => {
                let informed = r
                    .informed_at
                    .is_some_and(|i| i <= now && i - r.started_at <= rules.informed_grace);
                let live = r.started_at <= now
                    && ((r.lasting && r.ends_at.is_none_or(|e| now < e))
                        || r.last_purchase_at.is_some_and(|p| p <= now && now < plus_months(p, m)));
                if !informed {
                    (Reason::SoftOptInNotInformed, Basis::None)
                } else if !live {
                    (Reason::SoftOptInLapsed, Basis::None)
                } else {
                    (Reason::Allowed, Basis::SoftOptIn(r.event_seq))
                }
            }
            _ => (Reason::NoConsent, Basis::None),
        },
    }
}

/// Times around a few calendar boundaries, so month ends and exact instants are hit often.
fn instant() -> impl Strategy<Value = Timestamp> {
    let bases = [t("2024-01-31T10:00:00Z"), t("2024-02-29T00:00:00Z"), t("2025-03-15T10:00:00Z")];
    prop_oneof![
        (0..3usize, -2i64..2).prop_map(move |(b, d)| bases[b] + d),
        (0..3usize, 0u32..30, -1i64..2).prop_map(move |(b, m, d)| add_months(bases[b], m) + d),
        (0..3usize, -400i64 * 86_400..800 * 86_400).prop_map(move |(b, d)| bases[b] + d),
    ]
}

fn opt_instant() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::of(instant())
}

proptest! {
    #[test]
    fn decide_full_matches_the_model(
        now in instant(),
        service in proptest::bool::weighted(0.1),
        require_confirmed: bool,
        lifetime in proptest::option::of(prop_oneof![Just(1u32), Just(12), Just(24)]),
        soft_months in proptest::option::of(prop_oneof![Just(1u32), Just(12), Just(13)]),
        grace in prop_oneof![Just(0i64), Just(DEFAULT_INFORMED_GRACE), Just(400 * 86_400)],
        stop in opt_instant(),
        consent in proptest::option::of((instant(), opt_instant(), opt_instant())),
        rel in proptest::option::of((any::<bool>(), instant(), opt_instant(), opt_instant(), opt_instant())),
    ) {
        let class = if service { Class::Service } else { Class::Marketing };
        let rules = Rules { require_confirmed, consent_lifetime_months: lifetime, soft_opt_in_months: soft_months, informed_grace: grace, ..Rules::new(class, now) };
        let s = Standing {
            stopped_at: stop,
            consent: consent.map(|(g, k, e)| ConsentState { granted_at: g, confirmed_at: k, expires_at: e, event_seq: 7 }),
        };
        let r = rel.map(|(lasting, started_at, last_purchase_at, ends_at, informed_at)| RelationshipState {
            lasting, started_at, last_purchase_at, ends_at, informed_at, event_seq: 8,
        });
        let d = decide_full(&rules, &s, || r);
        prop_assert_eq!((d.reason, d.basis), model(&rules, &s, r));
        // Allowed always names its basis; rejected never does.
        prop_assert_eq!(d.reason.is_allowed(), d.basis != Basis::None);
        // Without soft opt-in, decide (no relationship) agrees.
        if soft_months.is_none() {
            prop_assert_eq!(decide(&rules, &s), d.reason);
        }
    }
}
