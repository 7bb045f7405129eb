//! Customer relationships in the store against a model: any sequence of relationship
//! events, with compactions and reopenings in between, reads back as a replay of the
//! events into a map where the newest event per (number, brand) wins.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::standing::{RelationshipState, StandingSource};
use crate::store::event::{LASTING_RELATIONSHIPS, Relationship};

const NUMBERS: [u64; 3] = [4791234567, 46701234567, 4540000000];
const BRANDS: [&str; 2] = ["A", "B"];
const KINDS: [&str; 3] = ["purchase", "subscription", "membership"];

#[derive(Clone, Debug)]
enum Op {
    Append(Relationship),
    Stop(usize, usize),
    Compact,
    Reopen,
}

fn relationship() -> impl Strategy<Value = Relationship> {
    let t = 1i64..1000;
    (
        0..3usize,
        0..2usize,
        0..3usize,
        t.clone(),
        proptest::option::of(t.clone()),
        proptest::option::of(t.clone()),
        proptest::option::of(t),
    )
        .prop_map(|(n, b, k, s, l, e, i)| Relationship {
            number: E164::from_u64(NUMBERS[n]).unwrap(),
            brand: BRANDS[b].into(),
            relationship: KINDS[k].into(),
            started_at: s,
            last_purchase_at: l,
            ends_at: e,
            informed_at: i,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => relationship().prop_map(Op::Append),
        1 => (0..3usize, 0..2usize).prop_map(|(n, b)| Op::Stop(n, b)),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn relationships_equal_model(ops in proptest::collection::vec(op(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut model: BTreeMap<(u64, &str), RelationshipState> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Append(r) => {
                    let seq = store.append(&Event::Relationship(r.clone())).unwrap();
                    let brand = BRANDS.iter().find(|b| **b == r.brand).unwrap();
                    model.insert((r.number.as_u64(), brand), RelationshipState {
                        lasting: LASTING_RELATIONSHIPS.contains(&r.relationship.as_str()),
                        started_at: r.started_at,
                        last_purchase_at: r.last_purchase_at,
                        ends_at: r.ends_at,
                        informed_at: r.informed_at,
                        event_seq: seq,
                    });
                }
                Op::Stop(n, b) => {
                    store.append_stop(E164::from_u64(NUMBERS[n]).unwrap(), BRANDS[b], 5).unwrap();
                }
                Op::Compact => {
                    store.compact().unwrap();
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(dir.path()).unwrap();
                }
            }
            for view in [store.view().unwrap(), open_view(dir.path()).unwrap()] {
                for n in NUMBERS {
                    for b in BRANDS {
                        let scope = view.scope(b, "offers");
                        let got = view.relationship(&scope, E164::from_u64(n).unwrap());
                        prop_assert_eq!(got, model.get(&(n, b)).copied());
                    }
                }
            }
        }
    }
}

#[test]
fn snapshots_without_relationships_read_as_none() {
    // A store whose snapshot has no relationships section (as every snapshot written before
    // relationships existed): relationship lookups answer None, the rest works.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let n = E164::from_u64(4791234567).unwrap();
    store.append_stop(n, "A", 10).unwrap();
    store.compact().unwrap();
    let snap = store.snapshot().unwrap();
    let b = snap.string_id("A").unwrap();
    assert_eq!(snap.relationship(n.as_u64(), b).unwrap(), None);
    let v = open_view(dir.path()).unwrap();
    assert_eq!(v.relationship(&v.scope("A", "p"), n), None);
    assert_eq!(v.standing(&v.scope("A", "p"), n).stopped_at, Some(10));
}

#[test]
fn a_relationship_list_out_of_bounds_is_refused() {
    use crate::store::snapshot::format::{HEADER_LEN, field};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .append(&Event::Relationship(Relationship {
            number: E164::from_u64(4791234567).unwrap(),
            brand: "A".into(),
            relationship: "membership".into(),
            started_at: 1,
            last_purchase_at: None,
            ends_at: None,
            informed_at: Some(1),
        }))
        .unwrap();
    store.compact().unwrap();
    let bytes = std::fs::read(dir.path().join("snapshot")).unwrap();
    assert!(Snapshot::new(bytes.clone(), "s").is_ok());
    // The brand directory's entry for "A" names its relationship list (offset, count):
    // a list outside the lists area is refused when the snapshot is read.
    let dir_at = crate::store::snapshot::format::u64_at(&bytes, field::BRANDS).unwrap() as usize;
    let rewrite = |off: u64, count: u64| {
        let mut b = bytes.clone();
        b[dir_at + 24..dir_at + 32].copy_from_slice(&off.to_le_bytes());
        b[dir_at + 32..dir_at + 40].copy_from_slice(&count.to_le_bytes());
        Snapshot::new(b, "s")
    };
    let off = crate::store::snapshot::format::u64_at(&bytes, dir_at + 24).unwrap();
    let count = crate::store::snapshot::format::u64_at(&bytes, dir_at + 32).unwrap();
    assert_eq!(count, 1);
    assert!(rewrite(off, count).is_ok());
    for (o, c) in
        [(off, u64::MAX / 8), (bytes.len() as u64, 1), (HEADER_LEN as u64, 1), (off + 1, 1), (1, 1)]
    {
        assert!(
            matches!(rewrite(o, c), Err(StoreError::SnapshotCorrupt { .. })),
            "offset {o} count {c} accepted"
        );
    }
}
