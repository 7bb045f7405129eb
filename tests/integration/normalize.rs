//! `sendfilter normalize` end to end, and the normaliser against the reference corpus.

use std::collections::BTreeMap;

use sendfilter::phone::{Region, normalize, normalize_reference_path};

use crate::harness::Workdir;

#[test]
fn normalizes_in_order_and_marks_invalid() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize"], "+4791234567\nhello\n+4740000000\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "+4791234567\nINVALID\n+4740000000\n");
    assert!(r.stderr.contains("3 lines"), "{}", r.stderr);
}

#[test]
fn rejects_unknown_region_flag() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize", "--region", "Norway"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("region"), "{}", r.stderr);
    let r = wd.run(&["normalize", "--region", "XX"], "");
    assert_eq!(r.code, 2, "XX is not a region of the metadata");
}

#[test]
fn region_flag_and_crlf_and_missing_final_newline() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize", "--region", "se"], "070-123 45 67\r\n\r\n0046 70-123 45 67");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "+46701234567\nINVALID\n+46701234567\n");
}

#[test]
fn many_lines_stay_in_order() {
    // More than one chunk's worth, so the parallel pipeline reorders if it is wrong.
    let mut input = String::new();
    let mut want = String::new();
    for i in 0..300_000u64 {
        if i % 7 == 0 {
            input.push_str("not a number\n");
            want.push_str("INVALID\n");
        } else {
            let n = 40_000_000 + i;
            input.push_str(&format!("{} {:03}\n", n / 1000, n % 1000));
            want.push_str(&format!("+47{n}\n"));
        }
    }
    let wd = Workdir::new();
    let r = wd.run(&["normalize"], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout == want, "output differs from expected order/content");
    assert!(r.stderr.contains("300000 lines"), "{}", r.stderr);
}

#[test]
fn absurd_lines_do_not_hang() {
    let wd = Workdir::new();
    let mut input = "9".repeat(10_000);
    input.push('\n');
    input.push_str(&"+".repeat(100_000));
    input.push_str("\n\u{0}\u{ffff}\n+4791234567\n");
    let r = wd.run(&["normalize"], input.as_bytes());
    assert_eq!(r.stdout, "INVALID\nINVALID\nINVALID\n+4791234567\n");
}

/// A line longer than 1 MiB (here: input without line ends) stops both modes with its
/// line number, after the lines before it, instead of reading without bound.
#[test]
fn lines_past_one_mib_stop_with_their_line_in_both_modes() {
    let wd = Workdir::new();
    let mut input = "+4791234567\n".to_string();
    input.push_str(&"9".repeat((1 << 20) + 1));
    for mode in ["--threads=2", "--line-buffered"] {
        let r = wd.run(&["normalize", mode], input.as_bytes());
        assert_eq!(r.code, 2, "{mode}: {}", r.stderr);
        assert_eq!(r.stdout, "+4791234567\n", "{mode}");
        assert!(r.stderr.contains("line 2: a record longer than 1 MiB"), "{mode}: {}", r.stderr);
    }
}

#[test]
fn invalid_utf8_is_a_line_like_any_other() {
    let wd = Workdir::new();
    let r = wd.run(&["normalize"], b"\xff\xfe+47 912 34 567\n\xc3\n".as_slice());
    assert_eq!(r.stdout, "+4791234567\nINVALID\n");
}

/// One corpus line: region, input, the reference's answer, style, reparsed answer.
struct Case {
    region: String,
    input: String,
    expected: String,
    style: String,
    /// The reference's answer for `expected` itself (empty if unknown or INVALID).
    reparsed: String,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn load(path: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 3, "bad corpus line {l:?}");
            Case {
                region: f[0].to_string(),
                input: unescape(f[1]),
                expected: f[2].to_string(),
                style: f.get(3).unwrap_or(&"").to_string(),
                reparsed: f.get(4).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// Scores the normaliser against a corpus and asserts the bars. Prints a report.
fn check_corpus(path: &str) {
    let cases = load(path);
    let (mut agree, mut wrong, mut ref_invalid, mut accepted_invalid) = (0u64, 0u64, 0u64, 0u64);
    let (mut ref_valid_plain, mut rejected_valid_plain, mut rejected_valid_letters) = (0, 0, 0);
    let mut per_region: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut not_idempotent = 0u64;
    let mut inherited_not_idempotent = 0u64;
    let mut fast_path_differs = 0u64;
    let mut examples = Vec::new();
    for c in &cases {
        let region: Region = c.region.parse().expect("corpus region is known");
        let answer = normalize(c.input.as_bytes(), region);
        // The fast front ends must be invisible: same answer as the general path.
        if answer != normalize_reference_path(c.input.as_bytes(), region) {
            fast_path_differs += 1;
        }
        let got = match answer {
            Ok(n) => {
                // Idempotent on its own output wherever the reference is (column 5 holds the
                // reference's answer for its own answer; it differs for a few numbers whose
                // national significant number starts with their trunk prefix).
                let again = match normalize(n.to_string().as_bytes(), Region::NO) {
                    Ok(m) => m.to_string(),
                    Err(_) => "INVALID".to_string(),
                };
                if again != n.to_string() {
                    if c.reparsed.is_empty() || c.reparsed == n.to_string() {
                        not_idempotent += 1;
                    } else if again == c.reparsed {
                        inherited_not_idempotent += 1;
                    } else {
                        wrong += 1;
                    }
                }
                n.to_string()
            }
            Err(_) => "INVALID".to_string(),
        };
        let e = per_region.entry(c.region.clone()).or_default();
        e.1 += 1;
        let letters = c.style.starts_with("letters");
        if c.expected == "INVALID" {
            ref_invalid += 1;
        } else if !letters {
            ref_valid_plain += 1;
        }
        if got == c.expected {
            agree += 1;
            e.0 += 1;
            continue;
        }
        match (got.as_str(), c.expected.as_str()) {
            ("INVALID", _) if letters => rejected_valid_letters += 1,
            ("INVALID", _) => rejected_valid_plain += 1,
            (_, "INVALID") => accepted_invalid += 1,
            _ => wrong += 1,
        }
        if examples.len() < 25 {
            examples.push(format!(
                "  {} {:?} ({}) want {} got {}",
                c.region, c.input, c.style, c.expected, got
            ));
        }
    }
    let n = cases.len() as f64;
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    eprintln!("corpus {path}: {} cases", cases.len());
    eprintln!("  agreement           {:.3} %", 100.0 * agree as f64 / n);
    eprintln!("  wrong numbers       {wrong}");
    eprintln!(
        "  accepted invalid    {accepted_invalid} / {ref_invalid} ({:.3} %)",
        pct(accepted_invalid, ref_invalid)
    );
    eprintln!(
        "  rejected valid      {rejected_valid_plain} / {ref_valid_plain} ({:.3} %), \
         plus {rejected_valid_letters} with letters/words (allowed)",
        pct(rejected_valid_plain, ref_valid_plain)
    );
    let mut worst = 100.0f64;
    for (r, (a, t)) in &per_region {
        let p = pct(*a, *t);
        worst = worst.min(p);
        eprintln!("  {r} {p:.2} % of {t}");
    }
    for e in &examples {
        eprintln!("{e}");
    }
    eprintln!(
        "  not idempotent      {not_idempotent} (plus {inherited_not_idempotent} where the \
         reference is not either, answered as it does)"
    );
    eprintln!("  fast != general     {fast_path_differs}");
    assert_eq!(wrong, 0, "emitted a number different from the reference's");
    assert_eq!(not_idempotent, 0, "normalising an answer again changed it");
    assert_eq!(fast_path_differs, 0, "the fast path disagrees with the general path");
    assert!(pct(accepted_invalid, ref_invalid) <= 0.3, "accepts too many invalid numbers");
    assert!(pct(rejected_valid_plain, ref_valid_plain) <= 0.5, "rejects too many valid numbers");
    assert!(100.0 * agree as f64 / n >= 99.0, "overall agreement below 99 %");
    assert!(worst >= 98.0, "a region is below 98 %");
}

/// The committed corpus (`tools/phonemeta/gen_corpus.py --seed 1`). Set `PHONE_CORPUS` to
/// score another one, e.g. a held-out corpus made with a different seed.
#[test]
fn agrees_with_reference_corpus() {
    let path = std::env::var("PHONE_CORPUS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/data/phone/corpus.tsv").into());
    check_corpus(&path);
}

#[test]
fn sequential_and_parallel_modes_agree() {
    let input: String = [
        "+47 912 34 567",
        "004791234567",
        "tel:+46-70-123-45-67",
        "＋４７ ９１２ ３４ ５６７",
        "call me",
        "",
        "0046 70-123 45 67",
    ]
    .iter()
    .cycle()
    .take(5_000)
    .map(|l| format!("{l}\n"))
    .collect();
    let wd = Workdir::new();
    let parallel = wd.run(&["normalize", "--threads", "3"], &input).ok();
    let one = wd.run(&["normalize", "--threads", "1"], &input).ok();
    let seq = wd.run(&["normalize", "--line-buffered"], &input).ok();
    assert_eq!(parallel.stdout, seq.stdout);
    assert_eq!(one.stdout, seq.stdout);
    assert_eq!(parallel.stderr, seq.stderr);
    assert!(
        seq.stdout.starts_with("+4791234567\n+4791234567\n+46701234567\n+4791234567\nINVALID\n")
    );
}

#[test]
fn closed_stdout_is_a_quiet_success() {
    use std::io::{Read, Write};
    use std::process::Stdio;

    let wd = Workdir::new();
    let mut child = wd
        .command(&["normalize"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning sendfilter");
    let mut sin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || {
        let line = b"+4791234567\n".repeat(100_000);
        for _ in 0..50 {
            if sin.write_all(&line).is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 12];
    child.stdout.take().expect("stdout is piped").read_exact(&mut first).expect("first answer");
    // The read end is dropped here, like `| head -1`.
    assert_eq!(&first, b"+4791234567\n");
    let out = child.wait_with_output().expect("waiting for sendfilter");
    writer.join().expect("stdin writer");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn fallback_region_reads_second_country_national_forms() {
    let wd = Workdir::new();
    let input = "070-123 45 67\n912 34 567\n+46 70 123 45 67\n";
    let r = wd.run(&["normalize", "--region", "NO"], input).ok();
    assert_eq!(r.stdout, "INVALID\n+4791234567\n+46701234567\n");
    let r = wd.run(&["normalize", "--region", "NO,SE"], input).ok();
    assert_eq!(r.stdout, "+46701234567\n+4791234567\n+46701234567\n");
    let r = wd.run(&["normalize", "--region", "NO,XX"], input);
    assert_eq!(r.code, 2, "unknown fallback region must be refused");
}
