//! Rights against the rules they must keep: a purge or an erasure never lets a message
//! through that was refused, an erasure changes nothing for anyone else, and moves and
//! corrections are new events that leave history as it was.

use proptest::prelude::*;

use super::*;
use crate::decision::{Class, Rules, decide};
use crate::standing::StandingSource;
use crate::store::{Consent, Event, Stop, Store};
use crate::{E164, Timestamp};

const NUMBERS: [u64; 3] = [4791234567, 4791234568, 46701234567];
const BRANDS: [&str; 2] = ["A", "B"];
const PURPOSES: [&str; 2] = ["p", "q"];

/// A consent for brand A, purpose p by sms, granted at `granted_at`, never expiring.
fn sms_consent(number: E164, granted_at: Timestamp, confirmed_at: Option<Timestamp>) -> Consent {
    Consent {
        number,
        brand: "A".into(),
        purpose: "p".into(),
        channel: "sms".into(),
        granted_at,
        method: "m".into(),
        text_ref: "t".into(),
        source: "s".into(),
        expires_at: None,
        confirmed_at,
    }
}

fn n(v: u64) -> E164 {
    E164::from_u64(v).unwrap()
}

fn event() -> impl Strategy<Value = Event> {
    let t = 1i64..60;
    prop_oneof![
        (0..3usize, prop_oneof![Just("A"), Just("B"), Just("*")], t.clone()).prop_map(
            |(i, b, t)| Event::Stop(Stop { number: n(NUMBERS[i]), brand: b.into(), stopped_at: t })
        ),
        (
            0..3usize,
            0..2usize,
            0..2usize,
            prop_oneof![3 => Just("sms"), 1 => Just("email")],
            t.clone(),
            proptest::option::of(t),
            // Confirmed at or after it was granted (an earlier confirmation is invalid).
            proptest::option::of(0i64..40),
        )
            .prop_map(|(i, b, p, c, g, e, conf)| Event::Consent(Consent {
                number: n(NUMBERS[i]),
                brand: BRANDS[b].into(),
                purpose: PURPOSES[p].into(),
                channel: c.into(),
                granted_at: g,
                method: "web_form".into(),
                text_ref: format!("v{g}"),
                // Free text naming the number, as real evidence sometimes does.
                source: format!("typed +{}", NUMBERS[i]),
                expires_at: e,
                confirmed_at: conf.map(|d| g + d),
            })),
    ]
}

/// Allowed or not, per (number, brand, purpose, require_confirmed), at `now`.
fn allowed(store: &Store, now: Timestamp) -> Vec<bool> {
    let view = store.view().unwrap();
    let mut out = Vec::new();
    for &num in &NUMBERS {
        for b in BRANDS {
            for p in PURPOSES {
                let st = view.standing(&view.scope(b, p), n(num));
                for require_confirmed in [false, true] {
                    let rules = Rules { require_confirmed, ..Rules::new(Class::Marketing, now) };
                    out.push(decide(&rules, &st).is_allowed());
                }
            }
        }
    }
    out
}

fn store_with(events: &[Event], compact_at: usize) -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path().join("s")).unwrap();
    for (i, e) in events.iter().enumerate() {
        if i == compact_at {
            s.compact().unwrap();
        }
        s.append(e).unwrap();
    }
    (d, s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// A purge never changes whether a message is allowed, and never drops a stop.
    #[test]
    fn purge_never_changes_a_decision(
        events in proptest::collection::vec(event(), 1..25),
        compact_at in 0..30usize,
        now in 1i64..80,
        period in 0i64..40,
    ) {
        let (_d, mut s) = store_with(&events, compact_at);
        let before = allowed(&s, now);
        let stops_before: Vec<usize> = NUMBERS.iter().map(|&x| {
            s.evidence(n(x)).unwrap().iter().filter(|r| matches!(r.event, Event::Stop(_))).count()
        }).collect();
        let r = purge(&mut s, period, now).unwrap();
        prop_assert_eq!(allowed(&s, now), before);
        let stops_after: Vec<usize> = NUMBERS.iter().map(|&x| {
            s.evidence(n(x)).unwrap().iter().filter(|r| matches!(r.event, Event::Stop(_))).count()
        }).collect();
        prop_assert_eq!(stops_after, stops_before);
        let consents: u64 = NUMBERS.iter().map(|&x| {
            s.evidence(n(x)).unwrap().iter().filter(|r| matches!(r.event, Event::Consent(_))).count() as u64
        }).sum();
        let total: u64 = events.iter().filter(|e| matches!(e, Event::Consent(_))).count() as u64;
        prop_assert_eq!(consents + r.consents_purged, total);
    }

    /// After an erasure the number is never allowed (before and after compaction), its
    /// events are gone after compaction, and nobody else's decisions change.
    #[test]
    fn erasure_suppresses_and_touches_nobody_else(
        events in proptest::collection::vec(event(), 1..25),
        compact_at in 0..30usize,
        victim in 0..3usize,
        now in 1i64..80,
        erased_at in 1i64..80,
    ) {
        let (_d, mut s) = store_with(&events, compact_at);
        let before = allowed(&s, now);
        let x = n(NUMBERS[victim]);
        let per_number = before.len() / NUMBERS.len();
        let others = |v: &[bool]| -> Vec<bool> {
            v.iter().enumerate().filter(|(i, _)| i / per_number != victim).map(|(_, a)| *a).collect()
        };
        let mine = |v: &[bool]| -> Vec<bool> {
            v.iter().enumerate().filter(|(i, _)| i / per_number == victim).map(|(_, a)| *a).collect()
        };
        let r = erase(&mut s, x, erased_at, false).unwrap();
        prop_assert_eq!(r.erased.len(), 1);
        let pending = allowed(&s, now);
        prop_assert_eq!(others(&pending), others(&before));
        // Only a consent granted and confirmed after the erasure could allow; none is.
        prop_assert!(mine(&pending).iter().zip(mine(&before)).all(|(a, b)| !a || (b && erased_at < 1)));
        prop_assert!(!mine(&pending).iter().any(|a| *a) || erased_at < 1);
        s.compact().unwrap();
        let after = allowed(&s, now);
        prop_assert_eq!(others(&after), others(&before));
        prop_assert!(!mine(&after).iter().any(|a| *a));
        prop_assert!(s.evidence(x).unwrap().is_empty());
        prop_assert!(s.view().unwrap().suppression().erased_at(x) == Some(erased_at));
    }
}

#[test]
fn consent_after_erasure_lifts_suppression_only_when_confirmed_after_it() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let x = n(4791234567);
    let c = |g, conf| sms_consent(x, g, conf);
    s.append_consent(c(10, Some(11))).unwrap();
    erase(&mut s, x, 20, true).unwrap();
    let ok = |s: &Store| {
        let v = s.view().unwrap();
        let rules = Rules::new(Class::Marketing, 100);
        decide(&rules, &v.standing(&v.scope("A", "p"), x))
    };
    assert_eq!(ok(&s), crate::Reason::NoConsent);
    // Granted after the erasure but unconfirmed; or confirmed after it but granted before.
    s.append_consent(c(30, None)).unwrap();
    assert_eq!(ok(&s), crate::Reason::Stopped);
    s.append_consent(c(15, Some(25))).unwrap();
    assert_eq!(ok(&s), crate::Reason::Stopped);
    s.append_consent(c(31, Some(32))).unwrap();
    assert_eq!(ok(&s), crate::Reason::Allowed);
    s.compact().unwrap();
    assert_eq!(ok(&s), crate::Reason::Allowed);
    // Reopened (the key is read back from its file).
    drop(s);
    let s = Store::open(d.path()).unwrap();
    assert_eq!(ok(&s), crate::Reason::Allowed);
}

#[test]
fn corrections_reference_consents_and_keep_the_original() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let x = n(4791234567);
    s.append_stop(x, "A", 5).unwrap();
    let seq = s
        .append_consent(Consent {
            number: x,
            brand: "A".into(),
            purpose: "p".into(),
            channel: "sms".into(),
            granted_at: 10,
            method: "m".into(),
            text_ref: "t1".into(),
            source: "s".into(),
            expires_at: None,
            confirmed_at: None,
        })
        .unwrap();
    let fix = EvidenceFix { text_ref: Some("t2".into()), ..EvidenceFix::default() };
    assert!(matches!(
        rectify_consent(&mut s, x, 1, fix.clone(), 20),
        Err(RightsError::NotAConsent { seq: 1, .. })
    ));
    assert!(matches!(
        rectify_consent(&mut s, n(4791234568), seq, fix.clone(), 20),
        Err(RightsError::NotAConsent { .. })
    ));
    let r = rectify_consent(&mut s, x, seq, fix, 20).unwrap();
    for compact in [false, true] {
        if compact {
            s.compact().unwrap();
        }
        let ex = export(&s, x, 30).unwrap();
        assert_eq!(ex.consents[0].evidence.text_ref, "t2");
        assert_eq!(ex.consents[0].recorded.text_ref, "t1");
        assert_eq!(ex.consents[0].corrected_by, vec![r.seq]);
        assert_eq!(ex.events.len(), 3);
    }
    assert!(matches!(rectify_number(&mut s, x, x, 40), Err(RightsError::BadMove(_))));
}

#[test]
fn periods_parse() {
    assert_eq!(parse_period("24mo").unwrap(), 24 * 2_629_746);
    assert_eq!(parse_period("1y").unwrap(), 31_556_952);
    assert_eq!(parse_period(" 30d ").unwrap(), 30 * 86_400);
    for bad in ["", "m", "24", "24m", "0d", "-1d", "1.5mo", "9999999999999y", "2ø"] {
        assert!(parse_period(bad).is_err(), "{bad}");
    }
}

#[test]
fn events_recorded_before_erasure_never_lift_it_even_with_later_times() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let x = n(4791234567);
    s.append_consent(sms_consent(x, 50, Some(55))).unwrap();
    erase(&mut s, x, 10, false).unwrap();
    let v = s.view().unwrap();
    let rules = Rules::new(Class::Marketing, 100);
    assert!(!decide(&rules, &v.standing(&v.scope("A", "p"), x)).is_allowed());
}

#[derive(Clone, Debug)]
enum Op {
    Ev(Event),
    Move(usize, usize, Timestamp),
    Correct(usize, u64),
    Erase(usize, Timestamp),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => event().prop_map(Op::Ev),
        1 => (0..3usize, 0..3usize, 1i64..60).prop_map(|(a, b, t)| Op::Move(a, b, t)),
        1 => (0..3usize, 1u64..30).prop_map(|(a, s)| Op::Correct(a, s)),
        1 => (0..3usize, 1i64..60).prop_map(|(a, t)| Op::Erase(a, t)),
        1 => Just(Op::Compact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The journal-tail overlay and the compacted snapshot agree on every decision and on
    /// the evidence of numbers not erased, with moves, corrections and erasures mixed in.
    /// For an erased number the tail may be stricter (events recorded before the erasure
    /// still refuse until compaction drops them), never more permissive.
    #[test]
    fn overlay_and_snapshot_agree_with_rights_events(ops in proptest::collection::vec(op(), 1..30), now in 1i64..80) {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        let mut erased = [false; 3];
        for o in ops {
            match o {
                Op::Ev(e) => { s.append(&e).unwrap(); }
                Op::Move(a, b, t) if a != b => {
                    // An erased number with nothing recorded since is not moved.
                    match rectify_number(&mut s, n(NUMBERS[a]), n(NUMBERS[b]), t) {
                        Ok(_) | Err(RightsError::Erased { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Move(..) => {}
                Op::Correct(a, seq) => {
                    let fix = EvidenceFix { source: Some(format!("fixed{seq}")), ..EvidenceFix::default() };
                    match rectify_consent(&mut s, n(NUMBERS[a]), seq, fix, 30) {
                        Ok(_) | Err(RightsError::NotAConsent { .. } | RightsError::Erased { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Erase(a, t) => {
                    let r = erase(&mut s, n(NUMBERS[a]), t, false).unwrap();
                    for e in &r.erased {
                        for (i, &x) in NUMBERS.iter().enumerate() {
                            if n(x).masked() == e.number { erased[i] = true; }
                        }
                    }
                }
                Op::Compact => { s.compact().unwrap(); }
            }
        }
        let before = allowed(&s, now);
        let ev_before: Vec<_> = NUMBERS.iter().map(|&x| s.evidence(n(x)).unwrap()).collect();
        s.compact().unwrap();
        let after = allowed(&s, now);
        let per_number = before.len() / NUMBERS.len();
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if erased[i / per_number] {
                prop_assert!(!b || *a, "tail allowed what the snapshot refuses");
            } else {
                prop_assert_eq!(b, a);
            }
        }
        for (i, &x) in NUMBERS.iter().enumerate() {
            if !erased[i] {
                prop_assert_eq!(&s.evidence(n(x)).unwrap(), &ev_before[i]);
            }
        }
        // Reopened (the key is read back from its file): the same, and so is the lock-free reader.
        drop(s);
        let s = Store::open(d.path()).unwrap();
        prop_assert_eq!(allowed(&s, now), after.clone());
        let v = crate::store::open_view(d.path()).unwrap();
        prop_assert_eq!(v.suppression().len(), s.view().unwrap().suppression().len());
    }
}

#[test]
fn snapshots_carry_erasures_in_the_current_format_version() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    s.append_stop(n(4791234567), "A", 5).unwrap();
    s.compact().unwrap();
    let version = || {
        let b = std::fs::read(d.path().join("snapshot")).unwrap();
        u32::from_le_bytes(b[8..12].try_into().unwrap())
    };
    assert_eq!(version(), crate::store::snapshot::format::VERSION);
    erase(&mut s, n(4791234568), 10, true).unwrap();
    assert_eq!(version(), crate::store::snapshot::format::VERSION);
    assert_eq!(s.view().unwrap().suppression().len(), 1);
}

/// Files of `dir` holding `number` as E.164 digits (with or without `+`) or as its
/// little- or big-endian u64 bytes.
fn files_holding(dir: &std::path::Path, number: u64) -> Vec<String> {
    let forms = [
        number.to_string().into_bytes(),
        number.to_le_bytes().to_vec(),
        number.to_be_bytes().to_vec(),
    ];
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        for f in &forms {
            if b.windows(f.len()).any(|w| w == f.as_slice()) {
                hits.push(format!("{} holds {f:?}", p.display()));
            }
        }
    }
    hits
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the history (moves, corrections, earlier erasures, compactions), after
    /// an erasure with compaction no file holds any erased number, and every other number
    /// with events is still there.
    #[test]
    fn no_file_holds_an_erased_number(ops in proptest::collection::vec(op(), 1..30), victim in 0..3usize) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("s");
        let mut s = Store::open(&dir).unwrap();
        for o in ops {
            match o {
                Op::Ev(e) => { s.append(&e).unwrap(); }
                Op::Move(a, b, t) if a != b => {
                    rectify_number(&mut s, n(NUMBERS[a]), n(NUMBERS[b]), t).unwrap();
                }
                Op::Correct(a, seq) => {
                    let fix = EvidenceFix { source: Some(format!("fixed +{}", NUMBERS[a])), ..EvidenceFix::default() };
                    // Random sequence numbers: most name no consent of this number.
                    match rectify_consent(&mut s, n(NUMBERS[a]), seq, fix, 30) {
                        Ok(_) | Err(RightsError::NotAConsent { .. } | RightsError::Erased { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Compact => { s.compact().unwrap(); }
                Op::Move(..) | Op::Erase(..) => {}
            }
        }
        let r = erase(&mut s, n(NUMBERS[victim]), 70, true).unwrap();
        prop_assert!(r.verified);
        for &x in &NUMBERS {
            let erased = r.erased.iter().any(|e| e.number == n(x).masked());
            if erased {
                prop_assert_eq!(files_holding(&dir, x), Vec::<String>::new());
            } else if !s.evidence(n(x)).unwrap().is_empty() {
                prop_assert!(!files_holding(&dir, x).is_empty());
            }
        }
    }
}

#[test]
fn purge_receipt_is_verified_by_reading_the_new_generation_back() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let c = |number, g, e| Consent {
        number: n(number),
        brand: "A".into(),
        purpose: "p".into(),
        channel: "sms".into(),
        granted_at: g,
        method: "m".into(),
        text_ref: "t".into(),
        source: "s".into(),
        expires_at: Some(e),
        confirmed_at: None,
    };
    s.append_consent(c(4791234567, 10, 20)).unwrap();
    s.append_consent(c(4791234568, 10, 500)).unwrap();
    s.compact().unwrap();
    let snap = s.snapshot().unwrap();
    assert_eq!(crate::store::compact::purgeable_left(&snap, 100).unwrap(), 1);
    let r = purge(&mut s, 900, 1000).unwrap();
    assert_eq!((r.consents_purged, r.numbers_affected, r.verified), (1, 1, true));
    let snap = s.snapshot().unwrap();
    assert_eq!(crate::store::compact::purgeable_left(&snap, 100).unwrap(), 0);
    assert!(s.evidence(n(4791234567)).unwrap().is_empty());
    assert_eq!(s.evidence(n(4791234568)).unwrap().len(), 1);
}

/// Customer relationships (soft opt-in) are the person's data like consents: exported,
/// moved with the number, and gone after an erasure — at once for decisions (soft opt-in
/// never survives a suppression), and from every file after the compaction.
#[test]
fn relationships_are_exported_moved_and_erased() {
    use crate::decision::{Basis, decide_full};
    use crate::store::event::Relationship;
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let (old, new) = (n(4791234567), n(4791234568));
    let rel = |number| {
        Event::Relationship(Relationship {
            number,
            brand: "A".into(),
            relationship: "membership".into(),
            started_at: 10,
            last_purchase_at: None,
            ends_at: None,
            informed_at: Some(10),
        })
    };
    s.append(&rel(old)).unwrap();
    let ex = export(&s, old, 100).unwrap();
    assert!(
        ex.events
            .iter()
            .any(|e| matches!(e, ExportEvent::Relationship { brand, .. } if brand == "A"))
    );
    let v =
        ex.verdicts.iter().find(|v| v.brand == "A").expect("a verdict for the customer's brand");
    assert_eq!(v.reason_with_soft_opt_in, Some("ALLOWED"));

    rectify_number(&mut s, old, new, 50).unwrap();
    let mut rules = Rules::new(Class::Marketing, 100);
    rules.soft_opt_in_months = Some(12);
    let allowed = |s: &Store, x: E164| {
        let view = s.view().unwrap();
        let scope = view.scope("A", "p");
        decide_full(&rules, &view.standing(&scope, x), || view.relationship(&scope, x))
    };
    assert!(matches!(allowed(&s, new).basis, Basis::SoftOptIn(_)), "moved with the person");
    assert!(!allowed(&s, old).reason.is_allowed(), "the old number may be reassigned");

    erase(&mut s, new, 60, false).unwrap();
    assert!(!allowed(&s, new).reason.is_allowed(), "refused before the compaction");
    s.compact().unwrap();
    assert!(!allowed(&s, new).reason.is_allowed(), "refused after it");
    assert!(s.view().unwrap().relationship(&s.view().unwrap().scope("A", "p"), new).is_none());
    assert!(files_holding(d.path(), new.as_u64()).is_empty());
}

/// A filter already running when a number is erased honours the erasure at once: its
/// journal watcher sees a stop for every brand (the erasure event itself holds only a
/// keyed hash). The compaction then drops that stop with the number's other events.
#[test]
fn a_running_filter_sees_an_erasure_as_a_stop_at_once() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let x = n(4791234567);
    s.append_stop(n(4791234568), "A", 5).unwrap();
    let view = crate::store::open_view(d.path()).unwrap();
    let watcher =
        crate::store::live::watch(d.path(), "A", &view, std::time::Duration::from_millis(5))
            .unwrap();
    erase(&mut s, x, 20, false).unwrap();
    let stops = watcher.stops();
    let t = std::time::Instant::now();
    while stops.version() == 0 && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(stops.current().1.get(x), Some(20));
    drop(watcher);

    let receipt = erase(&mut s, x, 30, true).unwrap();
    assert!(receipt.verified);
    assert!(s.evidence(x).unwrap().is_empty(), "the bridging stops went with the rest");
    assert_eq!(s.evidence(n(4791234568)).unwrap().len(), 1, "nobody else's stop went");
}

/// `erase --compact` between two polls of a running filter's watcher: the compaction takes
/// the bridging stop with the number, so the watcher must find the erasure in the new
/// snapshot's suppression list (by keyed hash) and the run must stop the number, even one
/// it holds a confirmed consent for. (A watcher started after the compaction on the older
/// view sees exactly what one would see whose poll fell just after it.)
#[test]
fn a_running_filter_honours_an_erasure_compacted_between_two_polls() {
    use crate::filter::{FilterOptions, RunOptions, Sinks, run_with};
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let (x, y) = (n(4791234567), n(4791234568));
    let c = |number| sms_consent(number, 10, Some(11));
    s.append_consent(c(x)).unwrap();
    s.append_consent(c(y)).unwrap();
    s.compact().unwrap();
    let view = crate::store::open_view(d.path()).unwrap();
    erase(&mut s, x, 20, true).unwrap();
    assert!(s.evidence(x).unwrap().is_empty(), "the bridging stop went with the rest");

    let watcher =
        crate::store::live::watch(d.path(), "A", &view, std::time::Duration::from_millis(5))
            .unwrap();
    let stops = watcher.stops();
    let t = std::time::Instant::now();
    while stops.version() == 0 && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, live) = stops.current();
    assert!(live.erased(x) && !live.erased(y));
    assert_eq!((live.get(x), live.get(y)), (Some(20), None));
    assert_eq!(stops.failure(), None);

    let mut opts = RunOptions::new("A", "p", FilterOptions::at(30));
    opts.live = Some(stops);
    let (mut out, mut rej) = (Vec::new(), Vec::new());
    let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
    run_with(&view, &opts, "+4791234567\n+4791234568\n".as_bytes(), sinks).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "+4791234568\n");
    assert_eq!(String::from_utf8(rej).unwrap(), "+4791234567\tSTOPPED\n");
}

/// The same with the key file gone: the watcher cannot tell whom the erasure suppresses,
/// so the run must fail (closed) rather than go on.
#[test]
fn a_running_filter_fails_closed_on_an_erasure_it_cannot_read() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    s.append_stop(n(4791234569), "A", 5).unwrap();
    let view = crate::store::open_view(d.path()).unwrap();
    erase(&mut s, n(4791234567), 20, true).unwrap();
    std::fs::remove_file(d.path().join(crate::store::suppress::KEY_FILE)).unwrap();
    let watcher =
        crate::store::live::watch(d.path(), "A", &view, std::time::Duration::from_millis(5))
            .unwrap();
    let stops = watcher.stops();
    let t = std::time::Instant::now();
    while stops.failure().is_none() && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let why = stops.failure().expect("the run must end");
    assert!(why.contains("erasure"), "{why}");
}

const DAY: i64 = 86_400;

/// Stops and customer relationships on a scale of days (soft opt-in windows are months).
fn rel_event() -> impl Strategy<Value = Event> {
    let t = (1i64..60).prop_map(|d| d * DAY);
    prop_oneof![
        1 => (0..3usize, prop_oneof![Just("A"), Just("B"), Just("*")], t.clone()).prop_map(
            |(i, b, t)| Event::Stop(Stop { number: n(NUMBERS[i]), brand: b.into(), stopped_at: t })
        ),
        4 => (
            0..3usize,
            0..2usize,
            prop_oneof![Just("purchase"), Just("membership")],
            t.clone(),
            proptest::option::of(t.clone()),
            proptest::option::of(t.clone()),
            proptest::option::of(t),
        )
            .prop_map(|(i, b, kind, started, last, ends, informed)| {
                Event::Relationship(crate::store::event::Relationship {
                    number: n(NUMBERS[i]),
                    brand: BRANDS[b].into(),
                    relationship: kind.into(),
                    started_at: started,
                    last_purchase_at: last,
                    ends_at: ends,
                    informed_at: informed,
                })
            }),
    ]
}

/// Allowed or not by soft opt-in (a one-month window), per (number, brand), at `now`.
fn allowed_soft(store: &Store, now: Timestamp) -> Vec<bool> {
    let view = store.view().unwrap();
    let rules = Rules { soft_opt_in_months: Some(1), ..Rules::new(Class::Marketing, now) };
    let mut out = Vec::new();
    for &num in &NUMBERS {
        for b in BRANDS {
            let scope = view.scope(b, "p");
            let st = view.standing(&scope, n(num));
            let d = crate::decision::decide_full(&rules, &st, || view.relationship(&scope, n(num)));
            out.push(d.reason.is_allowed());
        }
    }
    out
}

fn relationships_held(s: &Store) -> u64 {
    NUMBERS
        .iter()
        .map(|&x| {
            let ev = s.evidence(n(x)).unwrap();
            ev.iter().filter(|r| matches!(r.event, Event::Relationship(_))).count() as u64
        })
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// A purge drops customer relationships that were over before its cutoff, and with a
    /// retention period no shorter than the soft opt-in window it changes no decision.
    #[test]
    fn purging_relationships_never_changes_a_soft_opt_in_decision(
        events in proptest::collection::vec(rel_event(), 1..25),
        compact_at in 0..30usize,
        now in (1i64..100).prop_map(|d| d * DAY),
        period in (31i64..60).prop_map(|d| d * DAY),
    ) {
        let (_d, mut s) = store_with(&events, compact_at);
        let before = allowed_soft(&s, now);
        let held = relationships_held(&s);
        let cut = now - period;
        let over = |r: &crate::store::event::Relationship| {
            let open = r.relationship == "membership" && r.ends_at.is_none();
            !open
                && r.started_at < cut
                && r.last_purchase_at.is_none_or(|t| t < cut)
                && r.ends_at.is_none_or(|t| t < cut)
        };
        // The model: per (number, brand), all records go when the newest is over.
        let mut expected = 0u64;
        for &x in &NUMBERS {
            for b in BRANDS {
                let rels: Vec<_> = events.iter().filter_map(|e| match e {
                    Event::Relationship(r) if r.number == n(x) && r.brand == b => Some(r),
                    _ => None,
                }).collect();
                if rels.last().is_some_and(|r| over(r)) {
                    expected += rels.len() as u64;
                }
            }
        }
        let r = purge(&mut s, period, now).unwrap();
        prop_assert!(r.verified);
        prop_assert_eq!(r.relationships_purged, expected);
        prop_assert_eq!(allowed_soft(&s, now), before);
        prop_assert_eq!(relationships_held(&s) + r.relationships_purged, held);
        // Everything still held is the newest of a relationship not over before the cutoff.
        for &x in &NUMBERS {
            for b in BRANDS {
                let rels: Vec<_> = s.evidence(n(x)).unwrap().into_iter().filter_map(|r| match r.event {
                    Event::Relationship(rel) if rel.brand == b => Some(rel),
                    _ => None,
                }).collect();
                if let Some(newest) = rels.last() {
                    prop_assert!(!over(newest), "{:?} should have gone", newest);
                }
            }
        }
    }
}

/// The receipt counts the relationships a purge dropped, and the read-back check covers
/// them: an open membership and a recent purchase stay, one over long ago goes.
#[test]
fn purge_drops_relationships_over_before_the_cutoff() {
    use crate::store::event::Relationship;
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let rel = |number, kind: &str, started, last, ends| {
        Event::Relationship(Relationship {
            number: n(number),
            brand: "A".into(),
            relationship: kind.into(),
            started_at: started,
            last_purchase_at: last,
            ends_at: ends,
            informed_at: Some(started),
        })
    };
    s.append(&rel(4791234567, "purchase", 10, Some(20), None)).unwrap(); // over: goes
    s.append(&rel(4791234567, "purchase", 10, Some(30), None)).unwrap(); // (newest) goes too
    s.append(&rel(4791234568, "membership", 10, None, None)).unwrap(); // open: stays
    s.append(&rel(46701234567, "purchase", 10, Some(950), None)).unwrap(); // recent: stays
    s.compact().unwrap();
    let snap = s.snapshot().unwrap();
    assert_eq!(crate::store::compact::purgeable_left(&snap, 100).unwrap(), 2);
    let r = purge(&mut s, 900, 1000).unwrap();
    assert_eq!((r.relationships_purged, r.consents_purged, r.numbers_affected), (2, 0, 1));
    assert!(r.verified);
    assert!(s.evidence(n(4791234567)).unwrap().is_empty());
    assert_eq!(s.evidence(n(4791234568)).unwrap().len(), 1);
    assert_eq!(s.evidence(n(46701234567)).unwrap().len(), 1);
    let view = s.view().unwrap();
    assert!(view.relationship(&view.scope("A", "p"), n(4791234567)).is_none());
    assert!(view.relationship(&view.scope("A", "p"), n(4791234568)).is_some());
}

#[test]
fn a_move_copies_a_legacy_consent_confirmed_before_its_grant_as_unconfirmed() {
    // Journals written before such consents were refused may hold one; the move must not
    // fail on it, nor carry the impossible confirmation to the new number.
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let (x, y) = (n(4791234567), n(4791234568));
    let legacy = sms_consent(x, 20, Some(10));
    assert!(s.append_consent(legacy.clone()).is_err(), "refused when recorded today");
    let mut b = s.batch();
    b.push_unvalidated(&Event::Consent(legacy)).unwrap();
    b.commit().unwrap();
    s.append_consent(Consent {
        granted_at: 21,
        confirmed_at: Some(22),
        purpose: "q".into(),
        ..match s.evidence(x).unwrap()[0].event.clone() {
            Event::Consent(c) => c,
            _ => unreachable!(),
        }
    })
    .unwrap();

    let m = rectify_number(&mut s, x, y, 30).unwrap();
    assert_eq!((m.consents_copied, m.confirmations_dropped), (2, 1));
    for compact in [false, true] {
        if compact {
            s.compact().unwrap();
        }
        let ex = export(&s, y, 40).unwrap();
        let mut confirmed: Vec<_> =
            ex.consents.iter().map(|c| (c.purpose.clone(), c.confirmed_at.is_some())).collect();
        confirmed.sort();
        assert_eq!(confirmed, [("p".to_string(), false), ("q".to_string(), true)]);
    }
}

/// Between an erasure and the compaction that drops the number's data, that data is
/// erased all the same: a correction of one of its consents or a move of the number
/// would record the number again (and copy its old evidence), outliving the compaction.
#[test]
fn an_erased_number_is_neither_corrected_nor_moved_before_the_compaction() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("s");
    let mut s = Store::open(&dir).unwrap();
    let (x, y) = (n(4791234567), n(4791234568));
    let c = sms_consent(x, 10, Some(11));
    let seq = s.append_consent(c.clone()).unwrap();
    erase(&mut s, x, 20, false).unwrap();
    let fix = EvidenceFix { source: Some("shop".into()), ..EvidenceFix::default() };
    let e = rectify_consent(&mut s, x, seq, fix.clone(), 30).unwrap_err();
    assert!(matches!(e, RightsError::Erased { .. }), "{e}");
    assert!(!e.to_string().contains("4791234567"), "{e}");
    let e = rectify_number(&mut s, x, y, 30).unwrap_err();
    assert!(matches!(e, RightsError::Erased { .. }), "{e}");
    s.compact().unwrap();
    assert_eq!(files_holding(&dir, 4791234567), Vec::<String>::new());
    assert!(s.evidence(y).unwrap().is_empty());
    // After the compaction too.
    assert!(matches!(rectify_number(&mut s, x, y, 31), Err(RightsError::Erased { .. })));
    // A consent given after the erasure is held again: it can be corrected and moved,
    // and only it is copied.
    let seq2 = s.append_consent(Consent { granted_at: 40, confirmed_at: Some(41), ..c }).unwrap();
    rectify_consent(&mut s, x, seq2, fix, 42).unwrap();
    let m = rectify_number(&mut s, x, y, 43).unwrap();
    assert_eq!(m.consents_copied, 1);
    let copied: Vec<_> =
        export(&s, y, 50).unwrap().consents.iter().map(|c| c.granted_at.clone()).collect();
    assert_eq!(copied.len(), 1);
}

/// A journal written before brand names were canonical may hold a stop under `" A "` and a
/// consent under `"A "`: the move must not fail on them. The stop moves under the
/// canonical brand (it only stops more); the consent, which counted for no run, is not
/// copied as a canonical one that would count.
#[test]
fn a_move_carries_legacy_brand_spellings_the_safe_way() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let (x, y) = (n(4791234567), n(4791234568));
    s.append_consent(sms_consent(x, 10, Some(10))).unwrap();
    let mut b = s.batch();
    let legacy_stop = Stop { number: x, brand: " A ".into(), stopped_at: 20 };
    b.push_unvalidated(&Event::Stop(legacy_stop)).unwrap();
    let legacy_consent = Consent { brand: "B\u{301} ".into(), ..sms_consent(x, 30, Some(30)) };
    b.push_unvalidated(&Event::Consent(legacy_consent)).unwrap();
    b.commit().unwrap();
    let m = rectify_number(&mut s, x, y, 40).unwrap();
    assert_eq!((m.consents_copied, m.stops_copied, m.not_copied_brand_not_canonical), (1, 1, 1));
    let view = s.view().unwrap();
    let st = view.standing(&view.scope("A", "p"), y);
    assert_eq!(st.stopped_at, Some(20), "the stop moved under the canonical brand");
    let canonical = crate::brand::canonical("B\u{301}").unwrap();
    assert!(view.standing(&view.scope(&canonical, "p"), y).consent.is_none());
}
