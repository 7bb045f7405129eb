//! The long-lived [`Handle`] against a plain [`Filter`] over the same view, in one run:
//! `decide` (one number a call) and `decide_batch` (prefetched batches), recipients/s.
//! The handle adds per decision: a health flag, a coarse clock read, the current view and
//! the live-stop set (lock-free loads). Issue 19 asks it to stay within 10 % of the filter.
//! The handle holds a prepared filter (the store's per-run index, as `filter` runs), so
//! `filter_prepared` is the like-for-like baseline; `filter` is `Filter::new` as is.
//!
//! A synthetic store (200 k stops + 800 k consents, compacted) is built in a temp dir;
//! recipients are 1 M numbers written as text (`+47…`), a quarter of them stopped or
//! consented. Run: `cargo bench --bench handle`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sendfilter::filter::{Filter, FilterOptions};
use sendfilter::handle::{Handle, HandleOptions};
use sendfilter::store::{Consent, Event, Stop, Store};
use sendfilter::{E164, Verdict};

fn synthetic(dir: &std::path::Path) -> Vec<String> {
    let mut store = Store::open(dir).expect("open");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let num = |x: u64| E164::from_u64(4740000000 + x % 60_000_000).expect("valid");
    let mut b = store.batch();
    for _ in 0..200_000 {
        let e = Event::Stop(Stop {
            number: num(next()),
            brand: "ACME".into(),
            stopped_at: 1_780_000_000,
        });
        b.push(&e).expect("push");
    }
    for _ in 0..800_000 {
        let e = Event::Consent(Consent {
            number: num(next()),
            brand: "ACME".into(),
            purpose: "offers".into(),
            channel: "sms".into(),
            granted_at: 1_760_000_000,
            method: "web_form".into(),
            text_ref: "v3".into(),
            source: "checkout".into(),
            expires_at: None,
            confirmed_at: Some(1_760_000_600),
        });
        b.push(&e).expect("push");
    }
    b.commit().expect("commit");
    store.compact().expect("compact");
    (0..1_000_000).map(|_| format!("+{}", num(next()).as_u64())).collect()
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("s");
    let recipients = synthetic(&dir);
    let view = sendfilter::store::open_view(&dir).expect("open_view");
    let now = sendfilter::timefmt::now();
    let filter = Filter::new(&view, "ACME", "offers", FilterOptions::at(now));
    // As `filter` runs and as the handle holds it: the store's per-run index built.
    let prepared = Filter::new(&view, "ACME", "offers", FilterOptions::at(now)).prepared();
    let handle = Handle::open(&dir, HandleOptions::new("ACME", "offers")).expect("handle");
    // Same answers (the clock moves by a second at most during the run).
    let mut a = Vec::new();
    let mut b = Vec::new();
    filter.decide_batch(&recipients[..10_000], &mut a);
    handle.decide_batch(&recipients[..10_000], &mut b).expect("decide");
    assert_eq!(a, b, "the handle decides as the filter");
    b.clear();
    prepared.decide_batch(&recipients[..10_000], &mut b);
    assert_eq!(a, b, "the prepared filter decides as the filter");

    let n = recipients.len() as u64;
    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    for (name, f) in [("filter", &filter), ("filter_prepared", &prepared)] {
        g.bench_function(name, |bch| {
            bch.iter(|| {
                let mut allowed = 0u64;
                for r in &recipients {
                    allowed += u64::from(f.decide(r).is_allowed());
                }
                black_box(allowed)
            })
        });
    }
    g.bench_function("handle", |bch| {
        bch.iter(|| {
            let mut allowed = 0u64;
            for r in &recipients {
                allowed += u64::from(handle.decide(r).expect("decide").is_allowed());
            }
            black_box(allowed)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decide_batch");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    let mut out: Vec<Verdict> = Vec::with_capacity(recipients.len());
    for (name, f) in [("filter", &filter), ("filter_prepared", &prepared)] {
        g.bench_function(name, |bch| {
            bch.iter(|| {
                out.clear();
                f.decide_batch(&recipients, &mut out);
                black_box(out.len())
            })
        });
    }
    g.bench_function("handle", |bch| {
        bch.iter(|| {
            out.clear();
            handle.decide_batch(&recipients, &mut out).expect("decide");
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
