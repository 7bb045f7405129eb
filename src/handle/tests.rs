use std::time::{Duration, Instant};

use super::*;
use crate::decision::Reason;
use crate::standing::StandingSource;
use crate::store::{Consent, Event, Move, Store};

fn n(x: u64) -> E164 {
    E164::from_u64(x).unwrap()
}

fn consent(number: u64, granted_at: Timestamp, confirmed_at: Option<Timestamp>) -> Consent {
    Consent {
        number: n(number),
        brand: "ACME".into(),
        purpose: "offers".into(),
        channel: "sms".into(),
        granted_at,
        method: "web_form".into(),
        text_ref: "v1".into(),
        source: "test".into(),
        expires_at: None,
        confirmed_at,
    }
}

fn fast(brand: &str) -> HandleOptions {
    let mut o = HandleOptions::new(brand, "offers");
    o.live_interval = Duration::from_millis(5);
    o.refresh_interval = Duration::from_millis(20);
    o
}

/// Waits (at most 5 s) until `number`'s reason is `want`; returns how long it took.
fn until(h: &Handle, number: &str, want: Reason) -> Duration {
    let t = Instant::now();
    loop {
        let got = h.decide(number).unwrap().reason;
        if got == want {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{number}: still {got:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn applies_the_store_policy_for_the_brand() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_consent(consent(4791234567, 1_700_000_000, None)).unwrap();
    let h = Handle::open(dir.path(), fast("ACME")).unwrap();
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::Allowed);
    let mut p = crate::store::policy::read(dir.path()).unwrap();
    p.brands.insert(
        "ACME".into(),
        crate::store::policy::BrandPolicy { require_confirmed: true, ..Default::default() },
    );
    crate::store::policy::write(&store, &p).unwrap();
    until(&h, "+4791234567", Reason::ConsentUnconfirmed);
    // Opened after the policy: in force from the start.
    let h2 = Handle::open(dir.path(), fast("ACME")).unwrap();
    assert_eq!(h2.decide("+4791234567").unwrap().reason, Reason::ConsentUnconfirmed);
    assert!(h2.options().require_confirmed);
}

#[test]
fn follows_stops_consents_moves_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let h = Handle::open(dir.path(), fast("ACME")).unwrap();
    let now = crate::timefmt::now();
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::NoConsent);
    store.append_consent(consent(4791234567, now - 10, Some(now - 5))).unwrap();
    until(&h, "+4791234567", Reason::Allowed);
    store.append_stop(n(4791234567), "*", now - 1).unwrap();
    until(&h, "+4791234567", Reason::Stopped);
    // A stop of another brand does not apply.
    store.append_consent(consent(4791234568, now - 10, Some(now - 5))).unwrap();
    store.append_stop(n(4791234568), "OTHER", now - 1).unwrap();
    until(&h, "+4791234568", Reason::Allowed);
    // A number that moved away is stopped.
    store
        .append(&Event::Move(Move { from: n(4791234568), to: n(4791234569), moved_at: now }))
        .unwrap();
    until(&h, "+4791234568", Reason::Stopped);
    let before = h.view().generation();
    store.compact().unwrap();
    let t = Instant::now();
    while h.view().generation() == before {
        assert!(t.elapsed() < Duration::from_secs(5), "compaction not picked up");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::Stopped);
    assert_eq!(h.decide("+4791234568").unwrap().reason, Reason::Stopped);
    // Stops keep arriving after the compaction.
    store.append_consent(consent(4791234570, now - 10, Some(now - 5))).unwrap();
    until(&h, "+4791234570", Reason::Allowed);
    store.append_stop(n(4791234570), "ACME", now).unwrap();
    until(&h, "+4791234570", Reason::Stopped);
    // A confirmed consent after the stop lifts it, as everywhere.
    store.append_consent(consent(4791234570, now + 1, Some(now + 1))).unwrap();
    let mut o = fast("ACME");
    o.now = Some(now + 2);
    let fixed = Handle::open(dir.path(), o).unwrap();
    assert_eq!(fixed.decide("+4791234570").unwrap().reason, Reason::Allowed);
}

#[test]
fn a_live_stop_seen_before_a_new_view_stays_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let now = crate::timefmt::now();
    store.append_consent(consent(4791234567, now - 10, Some(now - 5))).unwrap();
    let mut o = fast("ACME");
    o.live_interval = Duration::from_millis(1);
    let h = Handle::open(dir.path(), o).unwrap();
    store.append_stop(n(4791234567), "ACME", now).unwrap();
    until(&h, "+4791234567", Reason::Stopped);
    // Views come and go (each append is a change); the stop is never lost.
    let t = Instant::now();
    let mut i = 0;
    while t.elapsed() < Duration::from_millis(300) {
        store.append_consent(consent(4790000000 + i, now - 10, None)).unwrap();
        i += 1;
        assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::Stopped);
    }
}

#[test]
fn reads_the_clock_per_decision_unless_now_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let now = clock();
    let mut c = consent(4791234567, now - 10, Some(now - 5));
    c.expires_at = Some(now + 1);
    store.append_consent(c).unwrap();
    let h = Handle::open(dir.path(), fast("ACME")).unwrap();
    let mut o = fast("ACME");
    o.now = Some(now);
    let fixed = Handle::open(dir.path(), o).unwrap();
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::Allowed);
    // Wait for the handle's clock itself to pass the expiry, not for a guessed time.
    let t = Instant::now();
    while super::clock() <= now + 1 {
        assert!(t.elapsed() < Duration::from_secs(5), "the clock did not move");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::ConsentExpired);
    assert_eq!(fixed.decide("+4791234567").unwrap().reason, Reason::Allowed);
}

#[test]
fn batch_decides_as_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let now = crate::timefmt::now();
    for i in 0..100u64 {
        match i % 4 {
            0 => drop(
                store.append_consent(consent(4791000000 + i, now - 10, Some(now - 5))).unwrap(),
            ),
            1 => drop(store.append_consent(consent(4791000000 + i, now - 10, None)).unwrap()),
            2 => drop(store.append_stop(n(4791000000 + i), "ACME", now - 10).unwrap()),
            _ => {}
        }
    }
    let mut o = fast("ACME");
    o.filter.require_confirmed = true;
    let h = Handle::open(dir.path(), o).unwrap();
    store.append_stop(n(4791000000), "*", now).unwrap();
    until(&h, "+4791000000", Reason::Stopped);
    let mut numbers: Vec<String> = (0..100u64).map(|i| format!("+{}", 4791000000 + i)).collect();
    numbers.push("not a number".into());
    let mut got = Vec::new();
    h.decide_batch(&numbers, &mut got).unwrap();
    let one: Vec<Verdict> = numbers.iter().map(|x| h.decide(x).unwrap()).collect();
    assert_eq!(got, one);
    let count = |r| got.iter().filter(|v| v.reason == r).count();
    assert_eq!(count(Reason::Allowed), 24);
    assert_eq!(count(Reason::Stopped), 26);
    assert_eq!(count(Reason::ConsentUnconfirmed), 25);
    assert_eq!(count(Reason::InvalidNumber), 1);
}

#[test]
fn a_brand_that_cannot_be_canonical_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    assert!(matches!(Handle::open(dir.path(), fast("*")), Err(HandleError::Brand(_))));
    assert!(matches!(
        Handle::open(dir.path().join("none"), fast("ACME")),
        Err(HandleError::Store(_))
    ));
}

#[test]
fn an_unreadable_journal_stops_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_stop(n(4791234567), "ACME", 100).unwrap();
    let h = Handle::open(dir.path(), fast("ACME")).unwrap();
    assert!(h.health().is_ok());
    std::fs::remove_file(dir.path().join("journal")).unwrap();
    let t = Instant::now();
    while h.decide("+4791234567").is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "still deciding");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(h.decide("+4791234567"), Err(HandleError::Stale(_))));
    assert!(h.health().is_err());
}

#[test]
fn an_idle_store_keeps_its_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_stop(n(4791234567), "ACME", 100).unwrap();
    store.compact().unwrap();
    drop(store);
    let h = Handle::open(dir.path(), fast("ACME")).unwrap();
    assert_eq!(h.decide("+4791234567").unwrap().reason, Reason::Stopped);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.inner.version.load(Ordering::Acquire), 0, "no new view without a change");
}
