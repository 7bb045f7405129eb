//! The matcher's rules, its data files, and the reply corpus (`corpus.tsv`) with the
//! numbers the issue asks for.

use super::*;
use crate::inbound::keyword::{Keyword, parse};
use crate::inbound::{Action, Message, Options, resolve};
use crate::phone::{E164, Region};
use crate::store::brands::{Brand, Registry};

fn c(text: &str) -> Intent {
    classify(&fold(text), text.contains('?'))
}

#[test]
fn data_files_compile() {
    let lx = Lexicon::build(&DATA).unwrap();
    assert!(lx.phrases.len() > 80, "{}", lx.phrases.len());
    assert!(!lx.unclear.is_empty());
}

#[test]
fn bad_data_lines_are_named() {
    let e = Lexicon::build(&[("xx", "phrase: a\nbogus: b\n")]).err().unwrap();
    assert_eq!(
        e,
        DataError::Bad { lang: "xx".into(), line: 2, what: "unknown section \"bogus\"".into() }
    );
    assert!(Lexicon::build(&[("xx", "no colon here")]).is_err());
    assert!(Lexicon::build(&[("xx", "phrase: a? b")]).is_err());
    assert!(Lexicon::build(&[("xx", "phrase: ..")]).is_err());
}

#[test]
fn within_one_is_one_edit_or_a_swap() {
    let w = |a: &str, b: &str| within_one(a.as_bytes(), b.as_bytes());
    assert!(w("stopp", "stopp"));
    assert!(w("stopp", "stopo")); // substitution
    assert!(w("stopp", "stoppp")); // insertion
    assert!(w("stopp", "stop")); // deletion
    assert!(w("stopp", "tsopp") && w("stopp", "stpop")); // swaps
    assert!(!w("stopp", "sotpo"));
    assert!(!w("stopp", "stoppen"));
    assert!(!w("abc", "acd"));
}

#[test]
fn first_word_rule() {
    for t in ["STOPP. Jeg vil ikke ha mer", "Stop takk", "STOP!!! nå", "Hei, stopp nå"] {
        assert_eq!(c(t), Intent::Stop { brand: None }, "{t}");
    }
    assert_eq!(c("Acme stopp nå takk"), Intent::Stop { brand: Some(0) });
    assert_eq!(c("Hei Acme stopp nå takk"), Intent::Stop { brand: Some(1) });
    // Words that only start like one stay what they are (unclear: a stop-like stem).
    assert_eq!(c("stoppeklokke til salgs"), Intent::Unclear);
    assert_eq!(c("STOPPER DU?"), Intent::Unclear);
    // A negated stop keyword is not an opt-out.
    assert_eq!(c("ikke stopp dette"), Intent::Unclear);
}

#[test]
fn phrases_with_inflections_in_five_languages() {
    for t in [
        "Meld meg av",
        "avmeldt",
        "avregistrer meg",
        "Ikke send meg flere SMS",
        "jeg vil ikke ha flere",
        "slutt å sende",
        "avsluta",
        "sluta skicka",
        "avregistrera",
        "afmeld",
        "frameld mig",
        "lopeta",
        "peru tilaus",
        "älä lähetä",
        "unsubscribe",
        "unsub",
        "opt out",
        "remove me",
    ] {
        assert_eq!(c(t), Intent::Stop { brand: None }, "{t}");
    }
}

#[test]
fn typos_only_for_words_of_five_letters_or_more() {
    assert_eq!(c("Avmled meg"), Intent::Stop { brand: None });
    assert_eq!(c("unsubscirbe"), Intent::Stop { brand: None });
    assert_eq!(c("stopo nå"), Intent::Stop { brand: None });
    // Four letters: `sopp` is a mushroom, not a `stopp`.
    assert_eq!(c("sopp er godt"), Intent::Unrelated);
    // Real words near a stop word stay what they are.
    assert_eq!(c("Slott til leie"), Intent::Unrelated);
}

#[test]
fn confusables_are_folded() {
    assert_eq!(fold("СТОП"), "stop");
    assert_eq!(fold("ЅТОР"), "stop");
    assert_eq!(fold("ΣΤΟΠ"), "stop");
    assert_eq!(parse("СТОП").keyword, Keyword::Stop);
    assert_eq!(parse("АСМЕ ЅТОРР").keyword, Keyword::Stop);
}

#[test]
fn long_replies_and_questions_are_unclear() {
    assert_eq!(c("Hva koster det?"), Intent::Unclear);
    let long = "hei ".repeat(MAX_WORDS + 1);
    assert_eq!(c(&long), Intent::Unclear);
    assert_eq!(c("Takk for sist"), Intent::Unrelated);
}

/// `(label, language, text)` rows of the corpus.
fn corpus() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("corpus.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let (a, b, t) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (a, b, t)
        })
        .collect()
}

/// ACME and Beta share 2401 (as in the corpus header).
fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(Brand::new("ACME", "2401")).unwrap();
    r.add(Brand::new("Beta", "2401")).unwrap();
    r
}

fn action_of(reg: &Registry, text: &str) -> Action {
    let msg = Message {
        from: E164::from_u64(4791234567).unwrap(),
        to: "2401",
        text,
        received_at: 1_780_000_000,
    };
    let opts = Options {
        regions: crate::phone::Regions::new(Region::NO, Vec::new()),
        compact: None,
        reload_registry: false,
    };
    resolve(&parse(text), &msg, reg, &[], &opts).action
}

#[test]
fn corpus_numbers() {
    let rows = corpus();
    let reg = registry();
    assert!(rows.len() >= 300, "{}", rows.len());
    let opt_outs = rows.iter().filter(|r| r.0 == "STOP").count();
    assert!(opt_outs * 2 >= rows.len(), "{opt_outs} of {}", rows.len());
    for lang in ["no", "sv", "da", "fi", "en"] {
        assert!(rows.iter().filter(|r| r.1 == lang && r.0 == "STOP").count() >= 25, "{lang}");
    }
    let mut missed = Vec::new();
    let mut false_stops = Vec::new();
    let mut wrong = Vec::new();
    for &(label, _, text) in &rows {
        let got = action_of(&reg, text);
        let want = match label {
            "STOP" => Action::Stop,
            "REVIEW" => Action::Review,
            "START" => Action::Start,
            // On a shared code with nothing pending a JA is NO_PENDING.
            "CONFIRM" => Action::NoPending,
            "HELP" => Action::Help,
            "UNKNOWN" => Action::Unknown,
            other => panic!("unknown label {other}"),
        };
        if want == Action::Stop && got != Action::Stop {
            missed.push(format!("{text:?}: {got:?}"));
        } else if want != Action::Stop && got == Action::Stop {
            false_stops.push(format!("{label} {text:?}"));
        } else if got != want {
            wrong.push(format!("{label} {text:?}: {got:?}"));
        }
    }
    let others = rows.len() - opt_outs;
    eprintln!(
        "corpus: {} rows, {opt_outs} opt-outs ({} missed), {others} others ({} read as STOP, {} \
         otherwise wrong)",
        rows.len(),
        missed.len(),
        false_stops.len(),
        wrong.len()
    );
    assert!(
        missed.is_empty() && wrong.is_empty(),
        "opt-outs not recorded as STOP:\n{}\nnon-opt-outs read as STOP:\n{}\nother:\n{}",
        missed.join("\n"),
        false_stops.join("\n"),
        wrong.join("\n")
    );
    assert!(
        false_stops.len() * 100 <= others * 3,
        "non-opt-outs read as STOP ({} of {others}):\n{}",
        false_stops.len(),
        false_stops.join("\n")
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
