//! Opt-out intent matcher throughput, replies per second (goal: ≥ 1 M/s for the matcher).
//!
//! Input: the project's reply corpus (`src/keyword/intent/corpus.tsv`, ~330 real-world-style
//! replies in five languages, half opt-outs, many of them free text). `classify` is the
//! matcher alone on folded text; `parse` is the whole keyword parse of the raw text (fold,
//! keyword grammar, then the matcher for what the grammar does not read), as `inbound` runs
//! it per message. `naive-contains` is the baseline a first attempt would write: every
//! phrase of the data files tried as a substring of the folded text. Run with
//! `cargo bench --bench intent`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sendfilter::inbound::intent::{self, DATA};
use sendfilter::inbound::keyword::{self, fold};
use std::hint::black_box;

fn corpus() -> Vec<&'static str> {
    include_str!("../src/keyword/intent/corpus.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = corpus();
    let folded: Vec<(String, bool)> = texts.iter().map(|t| (fold(t), t.contains('?'))).collect();
    // Warm the lexicon outside the measurement.
    let _ = intent::classify("stopp", false);
    let phrases: Vec<String> = DATA
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|l| l.strip_prefix("phrase:"))
        .map(|p| fold(&p.replace(['*', '?'], "").replace("..", " ")))
        .collect();
    let mut g = c.benchmark_group("inbound-intent");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("classify", |b| {
        b.iter(|| {
            for (f, q) in &folded {
                black_box(intent::classify(black_box(f), *q));
            }
        })
    });
    g.bench_function("parse", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(keyword::parse(black_box(t)));
            }
        })
    });
    g.bench_function("naive-contains", |b| {
        b.iter(|| {
            for (f, _) in &folded {
                black_box(phrases.iter().any(|p| f.contains(p.as_str())));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
