//! The store against a simple model: any sequence of events through the journal, with
//! any interleaving of compactions and reopenings, gives the state a `BTreeMap` replay
//! gives (STYLE: property-test against a model).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::standing::{ConsentState, Standing, StandingSource};

const NUMBERS: [u64; 6] = [4791234567, 4791234568, 46701234567, 4540000000, 4790000001, 4799999999];
/// Many brands sharing one stop list: stops for one brand, and for every brand (`*`).
const BRANDS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
const PURPOSES: [&str; 3] = ["p", "q", "r"];

#[derive(Clone, Debug)]
enum Op {
    Append(Event),
    Batch(Vec<Event>),
    /// A batch dropped without commit: as if it never happened.
    AbortedBatch(Vec<Event>),
    Compact,
    Reopen,
}

fn event() -> impl Strategy<Value = Event> {
    let t = 1i64..40;
    prop_oneof![
        (0..NUMBERS.len(), 0..BRANDS.len() + 2, t.clone()).prop_map(|(n, b, t)| Event::Stop(
            Stop {
                number: E164::from_u64(NUMBERS[n]).unwrap(),
                brand: BRANDS.get(b).copied().unwrap_or("*").into(),
                stopped_at: t
            }
        )),
        (
            0..NUMBERS.len(),
            0..BRANDS.len(),
            0..2usize,
            prop_oneof![3 => Just("sms"), 1 => Just("email")],
            t.clone(),
            proptest::option::of(t),
            // Confirmed at or after it was granted (an earlier confirmation is invalid).
            proptest::option::of(0i64..40),
        )
            .prop_map(|(n, b, p, c, g, e, conf)| Event::Consent(Consent {
                number: E164::from_u64(NUMBERS[n]).unwrap(),
                brand: BRANDS[b].into(),
                purpose: PURPOSES[p].into(),
                channel: c.into(),
                granted_at: g,
                method: "web_form".into(),
                text_ref: format!("v{g}"),
                source: "test".into(),
                expires_at: e,
                confirmed_at: conf.map(|d| g + d),
            })),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => event().prop_map(Op::Append),
        2 => proptest::collection::vec(event(), 0..6).prop_map(Op::Batch),
        1 => proptest::collection::vec(event(), 1..4).prop_map(Op::AbortedBatch),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// The model: replay every event in order into plain maps.
fn model(events: &[(u64, Event)], number: E164, brand: &str, purpose: &str) -> Standing {
    let mut stops: BTreeMap<&str, i64> = BTreeMap::new();
    let mut consent: Option<ConsentState> = None;
    for (seq, e) in events {
        match e {
            Event::Stop(s) if s.number == number => {
                let t = stops.entry(s.brand.as_str()).or_insert(s.stopped_at);
                *t = (*t).max(s.stopped_at);
            }
            Event::Consent(c)
                if c.number == number
                    && c.brand == brand
                    && c.purpose == purpose
                    && c.channel == "sms"
                    // Newest by granted_at; a tie goes to the later event.
                    && consent.is_none_or(|o| c.granted_at >= o.granted_at) =>
            {
                consent = Some(ConsentState {
                    granted_at: c.granted_at,
                    confirmed_at: c.confirmed_at,
                    expires_at: c.expires_at,
                    event_seq: *seq,
                });
            }
            _ => {}
        }
    }
    Standing { stopped_at: stops.get(brand).copied().max(stops.get("*").copied()), consent }
}

fn check(store: &Store, events: &[(u64, Event)]) {
    check_view(&store.view().unwrap(), events);
    // The lock-free reader sees the same state.
    check_view(&open_view(store.dir()).unwrap(), events);
    for n in NUMBERS {
        let n = E164::from_u64(n).unwrap();
        let want: Vec<Recorded> = events
            .iter()
            .filter(|(_, e)| e.number() == Some(n))
            .map(|(s, e)| Recorded { seq: *s, event: e.clone() })
            .collect();
        assert_eq!(store.evidence(n).unwrap(), want);
    }
    let mut with_events: Vec<E164> = events.iter().filter_map(|(_, e)| e.number()).collect();
    with_events.sort();
    with_events.dedup();
    let p47: Vec<E164> =
        with_events.iter().copied().filter(|n| n.to_string().starts_with("+47")).collect();
    assert_eq!(store.numbers_with_prefix("+47").unwrap(), p47);
    assert_eq!(store.numbers_with_prefix("4").unwrap(), with_events);
}

fn check_view(view: &StoreView, events: &[(u64, Event)]) {
    for b in BRANDS {
        for p in PURPOSES {
            let scope = view.scope(b, p);
            // A run's dense index answers exactly what the lists answer.
            let prepared = view.prepare(view.scope(b, p));
            view.check_scope(b, p).unwrap();
            for n in NUMBERS {
                let n = E164::from_u64(n).unwrap();
                let want = model(events, n, b, p);
                assert_eq!(view.standing(&scope, n), want, "{b}/{p} {n}");
                assert_eq!(view.standing(&prepared, n), want, "prepared {b}/{p} {n}");
                assert_eq!(view.stopped_at(n, b).unwrap(), want.stopped_at, "{b} {n}");
            }
        }
    }
    assert_eq!(view.journal_seq(), events.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn store_equals_model(ops in proptest::collection::vec(op(), 1..30)) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s");
        let mut store = Store::open(&path).unwrap();
        let mut events: Vec<(u64, Event)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(e) => {
                    let seq = store.append(&e).unwrap();
                    events.push((seq, e));
                }
                Op::Batch(es) => {
                    let mut b = store.batch();
                    let mut pending = Vec::new();
                    for e in es {
                        pending.push((b.push(&e).unwrap(), e));
                    }
                    if !pending.is_empty() {
                        b.commit().unwrap();
                    }
                    events.extend(pending);
                }
                Op::AbortedBatch(es) => {
                    let mut b = store.batch();
                    for e in es {
                        b.push(&e).unwrap();
                    }
                    drop(b);
                }
                Op::Compact => {
                    let old = store.view().unwrap();
                    let scope = old.scope("A", "p");
                    let number = E164::from_u64(NUMBERS[0]).unwrap();
                    let before = old.standing(&scope, number);
                    store.compact().unwrap();
                    // A view taken before compaction still answers from its generation.
                    assert_eq!(old.standing(&scope, number), before);
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(&path).unwrap();
                }
            }
            check(&store, &events);
        }
    }
}

#[test]
fn a_stop_outlives_compaction_and_snapshot_is_immutable_for_old_views() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let n = E164::from_u64(4791234567).unwrap();
    s.append_stop(n, "*", 100).unwrap();
    s.compact().unwrap();
    let v1 = s.view().unwrap();
    s.append_stop(n, "A", 200).unwrap();
    s.compact().unwrap();
    let v2 = s.view().unwrap();
    assert_eq!(v1.standing(&v1.scope("A", "x"), n).stopped_at, Some(100));
    assert_eq!(v2.standing(&v2.scope("A", "x"), n).stopped_at, Some(200));
    assert_eq!(v2.generation(), 2);
}

/// A store at `path` with `n` stops (brand A, numbers from +4791000000), compacted.
fn compacted_stops(path: &std::path::Path, n: u64) -> Store {
    let mut s = Store::open(path).unwrap();
    for i in 0..n {
        s.append_stop(E164::from_u64(4791000000 + i).unwrap(), "A", 10).unwrap();
    }
    s.compact().unwrap();
    s
}

#[test]
fn flipped_snapshot_byte_refuses_to_serve() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s");
    drop(compacted_stops(&path, 50));
    let snap = path.join("snapshot");
    let good = std::fs::read(&snap).unwrap();
    // Every byte of the hot part and header must be caught at open; evidence bytes at the
    // first evidence read. Step through the file to keep the test quick.
    for i in (0..good.len()).step_by(7) {
        let mut b = good.clone();
        b[i] ^= 0x10;
        std::fs::write(&snap, &b).unwrap();
        match Store::open(&path) {
            Err(StoreError::SnapshotCorrupt { .. } | StoreError::Version { .. }) => {}
            Ok(s) => {
                let e = s.evidence(E164::from_u64(4791000001).unwrap());
                assert!(matches!(e, Err(StoreError::SnapshotCorrupt { .. })), "byte {i}: {e:?}");
                assert_ne!(s.info().unwrap().integrity, "ok");
            }
            Err(e) => panic!("byte {i}: {e:?}"),
        }
    }
    std::fs::write(&snap, &good).unwrap();
    Store::open(&path).unwrap();
}

#[test]
fn views_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StoreView>();
    assert_send_sync::<ViewScope>();
    assert_send_sync::<Store>();
}

#[test]
fn damaged_config_is_refused() {
    let d = tempfile::tempdir().unwrap();
    drop(
        Store::open_with(
            d.path(),
            StoreOptions { create: true, region: Some("SE".parse().unwrap()), wait: true },
        )
        .unwrap(),
    );
    assert_eq!(Store::open(d.path()).unwrap().region().as_str(), "SE");
    let cfg = d.path().join("config");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("region SE", "region DK");
    std::fs::write(&cfg, text).unwrap();
    assert!(matches!(Store::open(d.path()), Err(StoreError::Config { .. })));
}

#[test]
fn missing_store_is_not_created_when_asked_not_to() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("none");
    assert!(matches!(
        Store::open_with(&p, StoreOptions { create: false, region: None, wait: true }),
        Err(StoreError::NoStore { .. })
    ));
    assert!(matches!(open_view(&p), Err(StoreError::NoStore { .. })));
    assert!(!p.exists());
}

#[test]
fn journal_rotation_interrupted_is_finished_at_open() {
    let d = tempfile::tempdir().unwrap();
    let n = E164::from_u64(4791234567).unwrap();
    let old_journal;
    {
        let mut s = Store::open(d.path()).unwrap();
        s.append_stop(n, "A", 5).unwrap();
        old_journal = std::fs::read(d.path().join("journal")).unwrap();
        s.compact().unwrap();
    }
    // Put back the pre-rotation journal, as if the crash came between rename and rotation.
    std::fs::write(d.path().join("journal"), &old_journal).unwrap();
    let mut s = Store::open(d.path()).unwrap();
    assert!(s.open_report().rotated);
    assert_eq!(s.append_stop(n, "A", 6).unwrap(), 2);
    let v = s.view().unwrap();
    assert_eq!(v.standing(&v.scope("A", "p"), n).stopped_at, Some(6));
    assert_eq!(s.evidence(n).unwrap().len(), 2);
}

fn small_snapshot() -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    for i in 0..20 {
        let n = E164::from_u64(4791000000 + i).unwrap();
        s.append_stop(n, "A", 10 + i as i64).unwrap();
        s.append_consent(Consent {
            number: n,
            brand: "A".into(),
            purpose: "p".into(),
            channel: "sms".into(),
            granted_at: 5,
            method: "m".into(),
            text_ref: "t".into(),
            source: "s".into(),
            expires_at: None,
            confirmed_at: Some(6),
        })
        .unwrap();
    }
    s.compact().unwrap();
    std::fs::read(d.path().join("snapshot")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// The snapshot reader never panics on damaged bytes, and never serves them.
    #[test]
    fn snapshot_reader_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        thread_local!(static GOOD: Vec<u8> = small_snapshot());
        let mut b = GOOD.with(|g| g.clone());
        for (i, x) in &flips {
            let i = i.index(b.len());
            b[i] ^= x | 1;
        }
        for bytes in [b.clone(), b[..cut.index(b.len())].to_vec()] {
            if let Ok(s) = Snapshot::new(bytes, "fuzz") {
                let served = s.verify_hot().is_ok();
                for t in 0..2 {
                    let _ = s.consent_list(t);
                    let _ = s.scope_consents(t);
                }
                let _ = s.id_of(4791000003);
                let _ = s.stop(4791000003, 0);
                let _ = s.relationship(4791000003, 0);
                let _ = s.string_id("A");
                let _ = s.brand_variants("a");
                let _ = (0..4).map(|i| s.string(i).len()).sum::<usize>();
                let _ = s.evidence(4791000003);
                let _ = s.numbers_with_prefix("479");
                // Damage the hot check let through lies in the cold part: the full check
                // finds it, so it is never served as evidence.
                if served {
                    prop_assert!(s.verify().is_err(), "a damaged snapshot passed the full check");
                }
            }
        }
    }

    /// The journal scanner never panics on arbitrary bytes after a valid header.
    #[test]
    fn journal_scan_never_panics(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = journal::header(0).to_vec();
        b.extend_from_slice(&body);
        let _ = journal::scan(std::path::Path::new("fuzz"), &b, |_, _| Ok(()));
        let _ = journal::scan(std::path::Path::new("fuzz"), &body, |_, _| Ok(()));
    }
}

#[test]
fn open_view_refuses_a_damaged_table() {
    let d = tempfile::tempdir().unwrap();
    let good = small_snapshot();
    drop(Store::open(d.path()).unwrap());
    let snap = d.path().join("snapshot");
    let field = |at| crate::store::snapshot::format::u64_at(&good, at).unwrap() as usize;
    use crate::store::snapshot::format::field;
    // The number table is shared by every run: damage there stops every run at open.
    let mut b = good.clone();
    let table = field(field::NUMBERS);
    b[table + 8] ^= 4;
    std::fs::write(&snap, &b).unwrap();
    match open_view(d.path()) {
        Err(StoreError::SnapshotCorrupt { path, offset, .. }) => {
            assert_eq!(path, snap);
            assert!(offset as usize <= table + 8);
        }
        other => panic!("{other:?}"),
    }
    // The last bytes before the block checksums belong to the lists: damage there stops
    // the runs that read them (`check_scope`), and a scope built anyway answers stopped.
    // (A snapshot of more than a few checksum blocks, so that the lists have their own.)
    let good = {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        let mut batch = s.batch();
        for i in 0..100_000u64 {
            batch
                .push(&Event::Consent(Consent {
                    number: E164::from_u64(4790000000 + i).unwrap(),
                    brand: "A".into(),
                    purpose: "p".into(),
                    channel: "sms".into(),
                    granted_at: 5,
                    method: "m".into(),
                    text_ref: "t".into(),
                    source: "s".into(),
                    expires_at: None,
                    confirmed_at: Some(6),
                }))
                .unwrap();
        }
        batch.commit().unwrap();
        s.compact().unwrap();
        std::fs::read(d.path().join("snapshot")).unwrap()
    };
    let field = |at| crate::store::snapshot::format::u64_at(&good, at).unwrap() as usize;
    assert!(field(field::SUMS) - field(field::LISTS) > 2 << 20, "lists span whole blocks");
    let mut b = good.clone();
    let sums = field(field::SUMS);
    b[sums - 20] ^= 4;
    std::fs::write(&snap, &b).unwrap();
    let v = open_view(d.path()).unwrap();
    assert!(matches!(v.check_scope("A", "p"), Err(StoreError::SnapshotCorrupt { .. })));
    let n = E164::from_u64(4791000001).unwrap();
    assert!(v.standing(&v.scope("A", "p"), n).stopped_at.is_some());
    assert!(v.standing(&v.prepare(v.scope("A", "p")), n).stopped_at.is_some());
    std::fs::write(&snap, &good).unwrap();
    open_view(d.path()).unwrap();
}

#[test]
fn a_second_writer_is_told_the_store_is_locked() {
    let d = tempfile::tempdir().unwrap();
    let _first = Store::open(d.path()).unwrap();
    let second =
        Store::open_with(d.path(), StoreOptions { wait: false, ..StoreOptions::default() });
    assert!(matches!(second, Err(StoreError::Locked { .. })));
    // Readers never wait.
    open_view(d.path()).unwrap();
}

/// Readers never fail or go back in time while a writer appends, aborts batches and
/// compacts underneath them (the lock-free path: journal copies, rotation retries).
#[test]
fn open_view_races_with_a_writer() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().to_path_buf();
    let mut store = Store::open(&path).unwrap();
    let n = E164::from_u64(4791234567).unwrap();
    store.append_stop(n, "A", 1).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = (0, 0);
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = open_view(&path).unwrap();
                let st = v.standing(&v.scope("A", "p"), n).stopped_at.unwrap();
                let now = (v.journal_seq(), st);
                assert!(now >= last, "{now:?} after {last:?}");
                // The stop time equals the number of acknowledged stops: never ahead.
                assert_eq!(st as u64, v.journal_seq());
                last = now;
                reads += 1;
            }
            reads
        });
        for i in 2..=300i64 {
            store.append_stop(n, "A", i).unwrap();
            if i % 7 == 0 {
                let mut b = store.batch();
                b.push(&Event::Stop(Stop { number: n, brand: "A".into(), stopped_at: 10_000 }))
                    .unwrap();
                b.abort().unwrap();
            }
            if i % 50 == 0 {
                store.compact().unwrap();
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
}

/// `read_info` (what `sendfilter info` uses) reads what `Store::info` reads, without the
/// store's lock: it answers while a writer holds it.
#[test]
fn read_info_matches_store_info_while_a_writer_holds_the_lock() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s");
    let mut s = compacted_stops(&path, 20);
    s.append_stop(E164::from_u64(4791000100).unwrap(), "*", 20).unwrap();
    // `s` holds the lock here.
    let read = crate::store::read_info(&path).unwrap();
    let held = s.info().unwrap();
    assert_eq!(read, held);
    assert_eq!((read.generation, read.journal_tail.stops), (1, 1));
    assert!(matches!(
        crate::store::read_info(d.path().join("none")),
        Err(StoreError::NoStore { .. })
    ));
}

/// `Store::unlocked`: others can open the store while `f` runs, and afterwards the store
/// carries on from what they did (appends, a compaction), or reports no change.
#[test]
fn unlocked_lets_other_writers_in_and_carries_on_from_their_changes() {
    let d = tempfile::tempdir().unwrap();
    let no_wait = StoreOptions { create: false, region: None, wait: false };
    let n = |v: u64| E164::from_u64(v).unwrap();
    let mut a = Store::open(d.path()).unwrap();
    a.append_stop(n(4790000001), "A", 10).unwrap();
    assert!(matches!(Store::open_with(d.path(), no_wait), Err(StoreError::Locked { .. })));
    let ((), changed) = a.unlocked(|| ()).unwrap();
    assert!(!changed, "nobody wrote");
    // Another writer, possible only while `a` has released the lock.
    let other_stops = |v: u64, at| {
        let mut b = Store::open_with(d.path(), no_wait).expect("the lock is free");
        b.append_stop(n(v), "A", at).unwrap();
    };
    let ((), changed) = a.unlocked(|| other_stops(4790000002, 20)).unwrap();
    assert!(changed);
    assert_eq!(a.last_seq(), 2);
    assert_eq!(a.evidence(n(4790000002)).unwrap().len(), 1);
    assert!(
        matches!(Store::open_with(d.path(), no_wait), Err(StoreError::Locked { .. })),
        "held again"
    );
    assert_eq!(a.append_stop(n(4790000003), "A", 30).unwrap(), 3);
    let ((), changed) = a
        .unlocked(|| {
            let mut b = Store::open_with(d.path(), no_wait).expect("the lock is free");
            assert_eq!(b.last_seq(), 3, "sees the first store's appends");
            b.append_stop(n(4790000004), "A", 40).unwrap();
            b.compact().unwrap();
        })
        .unwrap();
    assert!(changed);
    let snap = a.snapshot().expect("the other writer's compaction");
    assert_eq!(snap.last_seq(), 4);
    assert_eq!(a.append_stop(n(4790000005), "A", 50).unwrap(), 5);
    // Only the journal changes: the verified snapshot mapping is kept.
    let ((), changed) = a.unlocked(|| other_stops(4790000006, 60)).unwrap();
    assert!(changed);
    assert!(Arc::ptr_eq(&snap, &a.snapshot().unwrap()), "same snapshot file, same mapping");
    assert_eq!(a.last_seq(), 6);
    for v in 4790000001..=4790000006 {
        assert_eq!(a.evidence(n(v)).unwrap().len(), 1, "{v}");
    }
    a.compact().unwrap();
    assert!(!Arc::ptr_eq(&snap, &a.snapshot().unwrap()));
    drop(a);
    let c = Store::open(d.path()).unwrap();
    assert_eq!(c.last_seq(), 6);
}

/// Journals written before brand names were canonical may hold stops under `" ACME "` or a
/// decomposed `Café`: they still stop the canonical brand (fail safe), from the journal
/// tail and from the snapshot, their consents do not count, and `info` names them. The
/// store refuses to record such spellings today.
#[test]
fn legacy_non_canonical_brand_spellings_still_stop() {
    let d = tempfile::tempdir().unwrap();
    let n = |v: u64| E164::from_u64(v).unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let consent = |v: u64, brand: &str| Consent {
        number: n(v),
        brand: brand.into(),
        purpose: "offers".into(),
        channel: "sms".into(),
        granted_at: 10,
        method: "web_form".into(),
        text_ref: "v1".into(),
        source: "web".into(),
        expires_at: None,
        confirmed_at: Some(10),
    };
    for v in 4790000001..=4790000003 {
        s.append_consent(consent(v, "ACME")).unwrap();
        s.append_consent(consent(v, "Caf\u{e9}")).unwrap();
    }
    let stop = |v: u64, brand: &str| {
        Event::Stop(Stop { number: n(v), brand: brand.into(), stopped_at: 20 })
    };
    // Refused today, through every append path.
    assert!(matches!(
        s.append_stop(n(4790000001), " ACME ", 20),
        Err(StoreError::InvalidEvent { reason: Invalid::BrandNotCanonical, .. })
    ));
    assert!(s.append(&stop(4790000001, "Cafe\u{301}")).is_err());
    assert!(s.append_consent(consent(4790000004, " ACME")).is_err());
    // Written as an older version did.
    let mut b = s.batch();
    b.push_unvalidated(&stop(4790000001, " ACME ")).unwrap();
    b.push_unvalidated(&stop(4790000002, "Cafe\u{301}")).unwrap();
    b.push_unvalidated(&Event::Consent(consent(4790000005, "ACME "))).unwrap();
    b.commit().unwrap();
    let check = |s: &Store| {
        let view = s.view().unwrap();
        let stopped = |brand: &str, v: u64| {
            let scope = view.scope(brand, "offers");
            view.standing(&scope, n(v)).stopped_at.is_some()
        };
        assert!(stopped("ACME", 4790000001));
        assert!(!stopped("ACME", 4790000002) && !stopped("ACME", 4790000003));
        assert!(stopped("Caf\u{e9}", 4790000002));
        assert!(!stopped("Caf\u{e9}", 4790000001));
        // A consent under the untrimmed spelling does not count for ACME.
        let scope = view.scope("ACME", "offers");
        assert!(view.standing(&scope, n(4790000005)).consent.is_none());
        let mut v = view.brand_variants("ACME");
        v.sort();
        assert_eq!(v, vec![" ACME ".to_string(), "ACME ".to_string()]);
        let info = s.info().unwrap();
        assert_eq!(
            info.non_canonical_brands,
            vec![" ACME ".to_string(), "ACME ".to_string(), "Cafe\u{301}".to_string()]
        );
    };
    check(&s);
    s.compact().unwrap();
    check(&s);
    drop(s);
    let s = Store::open(d.path()).unwrap();
    check(&s);
    // The lock-free reader agrees.
    assert_eq!(read_info(d.path()).unwrap().non_canonical_brands.len(), 3);
}

/// A compaction whose journal tail is spilled in sorted runs (a tiny limit) writes the same
/// snapshot as one that sorts the tail in memory, and leaves no run file behind.
#[test]
fn spilled_and_in_memory_compactions_write_the_same_snapshot() {
    let build = |limit: Option<usize>| {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        for i in 0..200u64 {
            let n = E164::from_u64(4791000000 + (i * 7919) % 150).unwrap();
            if i % 3 == 0 {
                s.append_stop(n, if i % 2 == 0 { "*" } else { "A" }, 10 + i as i64).unwrap();
            } else {
                s.append_consent(Consent {
                    number: n,
                    brand: ["A", "B"][i as usize % 2].into(),
                    purpose: "p".into(),
                    channel: "sms".into(),
                    granted_at: 5 + i as i64,
                    method: "m".into(),
                    text_ref: "t".into(),
                    source: format!("s{i}"),
                    expires_at: None,
                    confirmed_at: None,
                })
                .unwrap();
            }
        }
        let opts = compact::CompactOptions { tail_limit: limit, ..Default::default() };
        s.compact_with(opts).unwrap();
        let files: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!files.iter().any(|f| f.contains(".run")), "{files:?}");
        std::fs::read(d.path().join("snapshot")).unwrap()
    };
    assert_eq!(build(Some(7)), build(None));
}

#[test]
fn a_committed_view_taken_inside_a_batch_is_the_store_before_it() {
    let d = tempfile::tempdir().unwrap();
    let mut store = Store::open(d.path().join("s")).unwrap();
    let n = E164::from_u64(NUMBERS[0]).unwrap();
    store.append_stop(n, "A", 10).unwrap();
    let stop = |number, t| Event::Stop(Stop { number, brand: "A".into(), stopped_at: t });
    // A small batch (folded into the cached overlay at commit) and one large enough that
    // most of its records are already in the file, uncommitted, when the view is taken.
    for (m, count) in [(NUMBERS[1], 10), (NUMBERS[2], 100_000)] {
        let m = E164::from_u64(m).unwrap();
        let before = store.last_seq();
        let mut batch = store.batch();
        for t in 0..count {
            batch.push(&stop(m, 20 + t)).unwrap();
        }
        let view = batch.committed_view().unwrap();
        let scope = view.scope("A", "p");
        assert_eq!(view.standing(&scope, n).stopped_at, Some(10));
        assert_eq!(view.standing(&scope, m).stopped_at, None, "{count}");
        assert_eq!(view.journal_seq(), before, "{count}");
        batch.commit().unwrap();
        // The commit folds the batch into what later views see.
        let after = store.view().unwrap();
        let scope = after.scope("A", "p");
        assert_eq!(after.standing(&scope, m).stopped_at, Some(20 + count - 1), "{count}");
        assert_eq!(after.overlay_len(), store.last_seq());
    }
}
