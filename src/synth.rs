//! Deterministic synthetic benchmark data: a campaign, a stop list and a consent list.
//!
//! The shape follows `shared/bench/gen_data.py` (the reference generator): Nordic mobile
//! numbers (NO 55 %, SE 30 %, DK 6 %, FI 5 %, DE 4 %) in ranges libphonenumber accepts,
//! ~9.5 % of recipients stopped, ~49 % consented, every consent older than every stop,
//! so `allowed = consented AND NOT stopped`. Used by `sendfilter bench`; pure and seeded,
//! so a run is reproducible and needs no files or Python.

use std::collections::HashSet;
use std::fmt::Write as _;

/// One generated dataset, every list as the bytes of a file.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Recipients as clean E.164, one a line, campaign order.
    pub clean: Vec<u8>,
    /// The same recipients in mixed real-world spellings (default region NO).
    pub messy: Vec<u8>,
    /// The same recipients as CSV `number,message`.
    pub csv: Vec<u8>,
    /// The same recipients as JSON lines `{"to":…,"body":…,"id":…}`.
    pub jsonl: Vec<u8>,
    /// Stops in the store's import format (`number,brand,stopped_at`), brand `ACME`.
    pub stops_csv: Vec<u8>,
    /// Consents in the store's import format, brand `ACME`, purpose `offers`, channel `sms`.
    pub consents_csv: Vec<u8>,
    /// Number of recipients.
    pub recipients: u64,
    /// Number of stops.
    pub stops: u64,
    /// Number of consents.
    pub consents: u64,
    /// Recipients that a correct filter allows (consented and not stopped).
    pub expected_allowed: u64,
}

/// A `now` at which every generated consent is valid and every stop already happened.
pub const BENCH_NOW: &str = "2026-11-01T00:00:00Z";

const MESSAGES: [&str; 6] = [
    "Hei! Ukens tilbud: 20% på alt.",
    "Black Week starter nå – se butikken.no/bw",
    "Hej! Veckans erbjudande: 2 för 1 på kaffe.",
    "Rea upp till 50% i helgen.",
    "\"Hei Kari, takk for sist! Nå 30% på vinterjakker.\"",
    "Tarjous: -25% kaikesta.",
];

/// SplitMix64: tiny, fast, good enough for test data, and stable across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Country {
    No,
    Se,
    Dk,
    Fi,
    De,
}

impl Country {
    fn cc(self) -> &'static str {
        match self {
            Country::No => "47",
            Country::Se => "46",
            Country::Dk => "45",
            Country::Fi => "358",
            Country::De => "49",
        }
    }
}

const NO_PREFIX: [&str; 16] = [
    "40", "41", "45", "46", "47", "48", "90", "91", "92", "93", "94", "95", "96", "97", "98", "99",
];
const SE_PREFIX: [&str; 5] = ["70", "72", "73", "76", "79"];
const DK_PREFIX: [&str; 21] = [
    "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "40", "41", "42", "50",
    "51", "52", "53", "60", "61",
];
const FI_PREFIX: [&str; 6] = ["40", "41", "44", "45", "46", "50"];
const DE_PREFIX: [&str; 17] = [
    "151", "152", "157", "159", "160", "162", "163", "170", "171", "172", "173", "174", "175",
    "176", "177", "178", "179",
];

fn pick<'a>(rng: &mut Rng, list: &[&'a str]) -> &'a str {
    list[rng.below(list.len() as u64) as usize]
}

/// One random mobile: (country, national significant number).
fn draw(rng: &mut Rng) -> (Country, String) {
    let r = rng.below(100);
    let c = match r {
        0..55 => Country::No,
        55..85 => Country::Se,
        85..91 => Country::Dk,
        91..96 => Country::Fi,
        _ => Country::De,
    };
    let nsn = match c {
        Country::No => loop {
            // 453xxxxx is not an assigned mobile range.
            let n = format!("{}{:06}", pick(rng, &NO_PREFIX), rng.below(1_000_000));
            if !n.starts_with("453") {
                break n;
            }
        },
        Country::Se => format!("{}{:07}", pick(rng, &SE_PREFIX), rng.below(10_000_000)),
        Country::Dk => {
            format!("{}{}{:05}", pick(rng, &DK_PREFIX), 1 + rng.below(9), rng.below(100_000))
        }
        Country::Fi => format!("{}{:07}", pick(rng, &FI_PREFIX), rng.below(10_000_000)),
        Country::De => format!("{}{:08}", pick(rng, &DE_PREFIX), rng.below(100_000_000)),
    };
    (c, nsn)
}

/// One real-world spelling of the number, as `gen_data.py` writes them.
fn messy(rng: &mut Rng, c: Country, n: &str, out: &mut String) {
    let cc = c.cc();
    let r = rng.unit();
    let _ = match c {
        Country::No if r < 0.35 => write!(out, "+{cc}{n}"),
        Country::No if r < 0.45 => write!(out, "00{cc}{n}"),
        Country::No if r < 0.65 => write!(out, "{n}"),
        Country::No if r < 0.75 => {
            write!(out, "{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8])
        }
        Country::No if r < 0.85 => write!(out, "{} {} {}", &n[0..3], &n[3..5], &n[5..8]),
        Country::No if r < 0.95 => write!(out, "+{cc} {} {} {}", &n[0..3], &n[3..5], &n[5..8]),
        Country::No => write!(out, "+{cc} {} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]),
        Country::Se if r < 0.35 => write!(out, "+{cc}{n}"),
        Country::Se if r < 0.45 => write!(out, "00{cc}{n}"),
        Country::Se if r < 0.70 => {
            write!(out, "0{}-{} {} {}", &n[0..2], &n[2..5], &n[5..7], &n[7..9])
        }
        Country::Se if r < 0.85 => write!(out, "0{n}"),
        Country::Se => write!(out, "+{cc} {} {} {} {}", &n[0..2], &n[2..5], &n[5..7], &n[7..9]),
        Country::Dk if r < 0.5 => write!(out, "+{cc}{n}"),
        Country::Dk if r < 0.7 => {
            write!(out, "00{cc} {} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8])
        }
        Country::Dk => write!(out, "+{cc} {} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]),
        Country::Fi if r < 0.5 => write!(out, "+{cc}{n}"),
        Country::Fi if r < 0.7 => write!(out, "00{cc} {} {} {}", &n[0..2], &n[2..5], &n[5..]),
        Country::Fi => write!(out, "+{cc} {} {}", &n[0..2], &n[2..]),
        Country::De if r < 0.5 => write!(out, "+{cc}{n}"),
        Country::De if r < 0.7 => write!(out, "00{cc} {} {}", &n[0..3], &n[3..]),
        Country::De if r < 0.85 => write!(out, "+{cc} {} {} {}", &n[0..3], &n[3..7], &n[7..]),
        Country::De => write!(out, "+{cc}-{}-{}", &n[0..3], &n[3..]),
    };
}

fn rfc3339(t: i64) -> String {
    crate::timefmt::format_rfc3339(t)
}

/// Generates a dataset of `n` recipients, `n/10` stops and `n/2` consents (as
/// `gen_data.py`: 95 % / 98 % of them among the recipients), deterministically from `seed`.
pub fn generate(n: u64, seed: u64) -> Dataset {
    let mut rng = Rng(seed);
    let (stop_in, stop_out) = (n * 95 / 1000, n / 200);
    let (cons_in, cons_out) = (n * 49 / 100, n / 100);
    let want = n + stop_out + cons_out;
    let mut seen = HashSet::with_capacity(want as usize);
    let mut pop: Vec<(Country, String)> = Vec::with_capacity(want as usize);
    while (pop.len() as u64) < want {
        let (c, nsn) = draw(&mut rng);
        if seen.insert(format!("{}{}", c.cc(), nsn)) {
            pop.push((c, nsn));
        }
    }
    drop(seen);
    let mut d = Dataset { recipients: n, ..Dataset::default() };
    d.csv.extend_from_slice(b"number,message\n");
    let mut line = String::with_capacity(128);
    for (i, (c, nsn)) in pop.iter().take(n as usize).enumerate() {
        let e = format!("+{}{}", c.cc(), nsn);
        d.clean.extend_from_slice(e.as_bytes());
        d.clean.push(b'\n');
        line.clear();
        messy(&mut rng, *c, nsn, &mut line);
        line.push('\n');
        d.messy.extend_from_slice(line.as_bytes());
        let msg = MESSAGES[rng.below(MESSAGES.len() as u64) as usize];
        d.csv.extend_from_slice(format!("{e},{msg}\n").as_bytes());
        let body = msg.trim_matches('"');
        d.jsonl.extend_from_slice(
            format!("{{\"to\":\"{e}\",\"body\":\"{body}\",\"id\":{i}}}\n").as_bytes(),
        );
    }
    // Choose stopped and consented recipients by partial Fisher-Yates shuffles.
    let sample = |rng: &mut Rng, k: u64| -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n as usize).collect();
        for i in 0..k as usize {
            let j = i + rng.below((idx.len() - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k as usize);
        idx
    };
    let stop_idx = sample(&mut rng, stop_in);
    let cons_idx = sample(&mut rng, cons_in);
    let mut stopped = vec![false; n as usize];
    for &i in &stop_idx {
        stopped[i] = true;
    }
    d.expected_allowed = cons_idx.iter().filter(|&&i| !stopped[i]).count() as u64;
    let e164 = |(c, nsn): &(Country, String)| format!("+{}{}", c.cc(), nsn);
    let outside = &pop[n as usize..];
    let (t_consent0, t_stop0, day) = (1_735_689_600i64, 1_767_225_600i64, 86_400i64);
    d.stops_csv.extend_from_slice(b"number,brand,stopped_at\n");
    for e in
        stop_idx.iter().map(|&i| e164(&pop[i])).chain(outside[..stop_out as usize].iter().map(e164))
    {
        let t = t_stop0 + rng.below(180 * day as u64) as i64;
        d.stops_csv.extend_from_slice(format!("{e},ACME,{}\n", rfc3339(t)).as_bytes());
        d.stops += 1;
    }
    d.consents_csv.extend_from_slice(
        b"number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n",
    );
    for e in
        cons_idx.iter().map(|&i| e164(&pop[i])).chain(outside[stop_out as usize..].iter().map(e164))
    {
        let g = t_consent0 + rng.below(360 * day as u64) as i64;
        d.consents_csv.extend_from_slice(
            format!(
                "{e},ACME,offers,sms,{},web_form,offers-v3,checkout,,{}\n",
                rfc3339(g),
                rfc3339(g + 600)
            )
            .as_bytes(),
        );
        d.consents += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let a = generate(2000, 7);
        let b = generate(2000, 7);
        assert_eq!(a.clean, b.clean);
        assert_eq!(a.messy, b.messy);
        assert_eq!(a.stops_csv, b.stops_csv);
        assert_eq!(a.clean.iter().filter(|&&c| c == b'\n').count(), 2000);
        assert_eq!(a.messy.iter().filter(|&&c| c == b'\n').count(), 2000);
        assert_eq!(a.jsonl.iter().filter(|&&c| c == b'\n').count(), 2000);
        assert_eq!(a.stops, 190 + 10);
        assert_eq!(a.consents, 980 + 20);
        assert!(a.expected_allowed > 800 && a.expected_allowed <= 980, "{}", a.expected_allowed);
        assert_ne!(generate(2000, 8).clean, a.clean);
    }

    #[test]
    fn clean_numbers_are_unique() {
        let d = generate(5000, 1);
        let lines: HashSet<&[u8]> =
            d.clean.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 5000);
    }
}
