//! Store benchmarks: snapshot open time and `standing()` lookups (recipients/second)
//! against a `HashMap` baseline in the same group.
//!
//! By default a synthetic store (200 k stops + 800 k consents) is built in a temp dir.
//! Set `SENDFILTER_BENCH_STORE=DIR` to use an existing, compacted store instead (e.g. one
//! imported from `gen_data.py` output) and `SENDFILTER_BENCH_RECIPIENTS=FILE` for the
//! recipients (one E.164 number a line).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sendfilter::store::{Consent, Store};
use sendfilter::{E164, Standing, StandingSource};

fn synthetic(dir: &std::path::Path) -> Vec<E164> {
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
        let n = num(next());
        let e = sendfilter::store::Event::Stop(sendfilter::store::Stop {
            number: n,
            brand: "ACME".into(),
            stopped_at: 1_780_000_000,
        });
        b.push(&e).expect("push");
    }
    for _ in 0..800_000 {
        let n = num(next());
        let e = sendfilter::store::Event::Consent(Consent {
            number: n,
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
    (0..1_000_000).map(|_| num(next())).collect()
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, recipients) = match std::env::var_os("SENDFILTER_BENCH_STORE") {
        Some(d) => {
            let file = std::env::var("SENDFILTER_BENCH_RECIPIENTS")
                .unwrap_or_else(|_| "/tmp/perfdata/recipients.txt".into());
            let text = std::fs::read_to_string(file).expect("recipients file");
            let r = text
                .lines()
                .filter_map(|l| {
                    sendfilter::phone::normalize(l.as_bytes(), sendfilter::Region::NO).ok()
                })
                .take(2_000_000)
                .collect();
            (std::path::PathBuf::from(d), r)
        }
        None => {
            let d = tmp.path().join("s");
            let r = synthetic(&d);
            (d, r)
        }
    };

    // Open time of the hot path: `open_view` maps the snapshot and verifies its tables.
    let median = |mut times: Vec<std::time::Duration>| {
        times.sort();
        format!("median {:?} (min {:?}, max {:?})", times[3], times[0], times[6])
    };
    let times = (0..7)
        .map(|_| {
            let t = Instant::now();
            let v = sendfilter::store::open_view(&dir).expect("open_view");
            black_box(v.generation());
            t.elapsed()
        })
        .collect();
    eprintln!("store/open_view: {}", median(times));
    // The writer's open checksums the whole file, evidence included.
    let times = (0..7)
        .map(|_| {
            let t = Instant::now();
            let s = Store::open(&dir).expect("open");
            black_box(s.last_seq());
            t.elapsed()
        })
        .collect();
    eprintln!("store/Store::open: {}", median(times));

    // Where open time goes: map + structure, populate, verify (single runs, warm cache).
    for _ in 0..3 {
        let path = dir.join("snapshot");
        let t = Instant::now();
        let file = std::fs::File::open(&path).expect("snapshot");
        // SAFETY: published snapshots are never modified in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.expect("map");
        let snap = sendfilter::store::Snapshot::new(map, &path).expect("new");
        let t_new = t.elapsed();
        let t = Instant::now();
        snap.verify_hot().expect("verify");
        let t_verify = t.elapsed();
        let t = Instant::now();
        snap.verify_hot().expect("verify");
        let t_again = t.elapsed();
        eprintln!(
            "store/open parts: new {t_new:?}, fault-in + verify hot (no populate) {t_verify:?}, \
             verify again (mapped) {t_again:?}"
        );
    }

    let store = Store::open(&dir).expect("open");
    let view = store.view().expect("view");
    // A run's scope: prepared once (the dense per-run index), as `filter` does.
    let scope = view.prepare(view.scope("ACME", "offers"));
    let baseline: HashMap<u64, Standing> = recipients
        .iter()
        .map(|n| (n.as_u64(), view.standing(&scope, *n)))
        .filter(|(_, s)| *s != Standing::default())
        .collect();

    let mut g = c.benchmark_group("store/standing");
    g.throughput(Throughput::Elements(recipients.len() as u64));
    g.bench_function("snapshot", |b| {
        b.iter(|| {
            let mut stopped = 0u64;
            for n in &recipients {
                stopped += view.standing(&scope, *n).stopped_at.is_some() as u64;
            }
            stopped
        })
    });
    let run = |chunk: &[E164], dist: usize| {
        let mut stopped = 0u64;
        for (i, n) in chunk.iter().enumerate() {
            if let Some(ahead) = chunk.get(i + dist) {
                view.prefetch(&scope, *ahead);
            }
            stopped += view.standing(&scope, *n).stopped_at.is_some() as u64;
        }
        stopped
    };
    for dist in [8, 16, 32] {
        g.bench_function(format!("snapshot+prefetch{dist}"), |b| b.iter(|| run(&recipients, dist)));
    }
    g.bench_function("snapshot+prefetch16/2threads", |b| {
        b.iter(|| {
            let (l, r) = recipients.split_at(recipients.len() / 2);
            std::thread::scope(|s| {
                let h = s.spawn(|| run(l, 16));
                run(r, 16) + h.join().unwrap_or(0)
            })
        })
    });
    g.bench_function("baseline/HashMap", |b| {
        b.iter(|| {
            let mut stopped = 0u64;
            for n in &recipients {
                stopped += baseline.get(&n.as_u64()).is_some_and(|s| s.stopped_at.is_some()) as u64;
            }
            stopped
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
