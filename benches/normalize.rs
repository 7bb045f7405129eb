//! Normaliser throughput (placeholder; the normaliser issue fills this in).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let input: Vec<String> = (0..10_000u64).map(|i| format!("+4791{i:06}")).collect();
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Elements(input.len() as u64));
    g.bench_function("sendfilter/clean", |b| {
        b.iter(|| {
            input
                .iter()
                .filter(|s| {
                    sendfilter::phone::normalize(s.as_bytes(), sendfilter::Region::NO).is_ok()
                })
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
