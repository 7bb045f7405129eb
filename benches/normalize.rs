//! Normaliser throughput, recipients per second, against the `phonenumber` crate (0.3.10)
//! as the baseline in the same group.
//!
//! Inputs are synthetic but shaped like `/work/shared/bench/gen_data.py`'s: mobile numbers
//! of NO 55 %, SE 30 %, DK 6 %, FI 5 %, DE 4 %; `clean` is E.164, `messy` the same numbers
//! in that script's mix of real-world spellings (national NO forms, `00` prefixes, spaced
//! groups, Swedish `07x-…` forms that are invalid with default region NO; `messy NO,SE`
//! reads them with Swedish as the fallback region). `reference-path` is the normaliser
//! without its fast path (`phone::normalize_reference`). Run with
//! `cargo bench --bench normalize`, or `cargo bench --bench normalize -- 'sendfilter|reference'`
//! to skip the slow baseline.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sendfilter::phone::{self, Region};

/// A small deterministic generator (xorshift64*), so the bench needs no data files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// (country calling code, national number, country) like gen_data.py's `draw_number`.
fn draw(rng: &mut Rng) -> (&'static str, String, &'static str) {
    let r = rng.below(100);
    if r < 55 {
        let p = rng.pick(&[
            "40", "41", "45", "46", "47", "48", "90", "91", "92", "93", "94", "95", "96", "97",
            "98", "99",
        ]);
        loop {
            let n = format!("{p}{}", rng.digits(6));
            if !n.starts_with("453") {
                return ("47", n, "NO");
            }
        }
    } else if r < 85 {
        ("46", format!("{}{}", rng.pick(&["70", "72", "73", "76", "79"]), rng.digits(7)), "SE")
    } else if r < 91 {
        let p = rng.pick(&["20", "21", "22", "30", "31", "40", "41", "42", "50", "60", "61"]);
        ("45", format!("{p}{}{}", 1 + rng.below(9), rng.digits(5)), "DK")
    } else if r < 96 {
        (
            "358",
            format!("{}{}", rng.pick(&["40", "41", "44", "45", "46", "50"]), rng.digits(7)),
            "FI",
        )
    } else {
        let p = rng.pick(&["151", "152", "157", "160", "170", "171", "172", "176", "179"]);
        ("49", format!("{p}{}", rng.digits(8)), "DE")
    }
}

fn messy(rng: &mut Rng, cc: &str, n: &str, c: &str) -> String {
    let r = rng.below(100);
    match c {
        "NO" => match r {
            0..35 => format!("+{cc}{n}"),
            35..45 => format!("00{cc}{n}"),
            45..65 => n.to_string(),
            65..75 => format!("{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]),
            75..85 => format!("{} {} {}", &n[0..3], &n[3..5], &n[5..8]),
            85..95 => format!("+{cc} {} {} {}", &n[0..3], &n[3..5], &n[5..8]),
            _ => format!("+{cc} {} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]),
        },
        "SE" => match r {
            0..35 => format!("+{cc}{n}"),
            35..45 => format!("00{cc}{n}"),
            45..70 => format!("0{}-{} {} {}", &n[0..2], &n[2..5], &n[5..7], &n[7..9]),
            70..85 => format!("0{n}"),
            _ => format!("+{cc} {} {} {} {}", &n[0..2], &n[2..5], &n[5..7], &n[7..9]),
        },
        _ => match r {
            0..50 => format!("+{cc}{n}"),
            50..75 => format!("00{cc}{n}"),
            _ => format!("+{cc} {n}"),
        },
    }
}

fn inputs(n: usize) -> (Vec<String>, Vec<String>) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut clean = Vec::with_capacity(n);
    let mut mess = Vec::with_capacity(n);
    for _ in 0..n {
        let (cc, nsn, c) = draw(&mut rng);
        clean.push(format!("+{cc}{nsn}"));
        mess.push(messy(&mut rng, cc, &nsn, c));
    }
    (clean, mess)
}

fn bench(c: &mut Criterion) {
    let (clean, mess) = inputs(10_000);
    let mut g = c.benchmark_group("normalize");
    for (name, input) in [("clean", &clean), ("messy", &mess)] {
        g.throughput(Throughput::Elements(input.len() as u64));
        g.bench_with_input(BenchmarkId::new("sendfilter", name), input, |b, input| {
            b.iter(|| {
                input.iter().filter(|s| phone::normalize(s.as_bytes(), Region::NO).is_ok()).count()
            })
        });
        // The path the fast path replaced (issue #4), kept callable for exactly this.
        g.bench_with_input(BenchmarkId::new("reference-path", name), input, |b, input| {
            b.iter(|| {
                input
                    .iter()
                    .filter(|s| phone::normalize_reference(s.as_bytes(), Region::NO).is_ok())
                    .count()
            })
        });
        g.bench_with_input(BenchmarkId::new("phonenumber-crate", name), input, |b, input| {
            b.iter(|| {
                input
                    .iter()
                    .filter(|s| {
                        phonenumber::parse(Some(phonenumber::country::Id::NO), s.as_str())
                            .is_ok_and(|n| n.is_valid())
                    })
                    .count()
            })
        });
    }
    // Mixed Norwegian and Swedish national forms, read as `--region NO,SE` reads them.
    let no_se: phone::Regions = "NO,SE".parse().expect("known regions");
    g.throughput(Throughput::Elements(mess.len() as u64));
    g.bench_with_input(BenchmarkId::new("sendfilter", "messy NO,SE"), &mess, |b, input| {
        b.iter(|| input.iter().filter(|s| no_se.normalize(s.as_bytes()).is_ok()).count())
    });
    g.bench_with_input(BenchmarkId::new("reference-path", "messy NO,SE"), &mess, |b, input| {
        b.iter(|| {
            input
                .iter()
                .filter(|s| {
                    let s = s.as_bytes();
                    phone::normalize_reference(s, Region::NO)
                        .or_else(|_| phone::normalize_reference(s, no_se.fallbacks()[0]))
                        .is_ok()
                })
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
