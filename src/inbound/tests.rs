//! Resolution (brands, events, replies) and the streaming run.

use proptest::prelude::*;

use super::*;
use crate::phone::Region;
use crate::standing::StandingSource;
use crate::store::brands::Brand;

const T: Timestamp = 1_780_000_000;

fn n(v: u64) -> E164 {
    E164::from_u64(v).unwrap()
}

fn opts() -> Options {
    Options { regions: Regions::new(Region::NO, Vec::new()), compact: None, reload_registry: false }
}

/// ACME and Beta share 2401; Solo owns 2402; Svensk (sv) shares 2403 alone.
fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(Brand { consent_text_ref: Some("acme-sms-v2".into()), ..Brand::new("ACME", "2401") })
        .unwrap();
    r.add(Brand { purpose: "news".into(), ..Brand::new("Beta", "2401") }).unwrap();
    r.add(Brand { dedicated: true, keyword: "solo".into(), ..Brand::new("Solo AS", "2402") })
        .unwrap();
    r.add(Brand { language: Language::Sv, ..Brand::new("Svensk", "2403") }).unwrap();
    r
}

fn msg<'a>(to: &'a str, text: &'a str) -> Message<'a> {
    Message { from: n(4791234567), to, text, received_at: T }
}

fn go(to: &str, text: &str) -> Plan {
    resolve(&keyword::parse(text), &msg(to, text), &registry(), &[], &opts())
}

fn stops(p: &Plan) -> Vec<String> {
    p.events
        .iter()
        .map(|e| match e {
            Event::Stop(s) => {
                assert_eq!(s.stopped_at, T);
                assert_eq!(s.number, n(4791234567));
                s.brand.clone()
            }
            other => panic!("unexpected event {other:?}"),
        })
        .collect()
}

#[test]
fn stop_with_brand_word_stops_that_brand_only() {
    for text in ["ACME STOPP", "stopp acme", "Acme Stop.", "acme avmeld!"] {
        let p = go("2401", text);
        assert_eq!(p.action, Action::Stop, "{text}");
        assert_eq!(stops(&p), ["ACME"], "{text}");
        assert_eq!(p.brands, ["ACME"]);
    }
}

#[test]
fn stop_on_shared_shortcode_without_brand_stops_every_brand_there() {
    for text in ["STOPP", "stop", "Avslutt.", "UNSUBSCRIBE"] {
        let p = go("2401", text);
        assert_eq!(p.action, Action::Stop);
        assert_eq!(stops(&p), ["ACME", "Beta"], "{text}");
        assert!(p.reply.contains("ACME, Beta"), "{}", p.reply);
    }
    // An unregistered brand word on a shared code is no better than none: fail safe.
    assert_eq!(stops(&go("2401", "NOBODY STOPP")), ["ACME", "Beta"]);
    // Short code written with spaces.
    assert_eq!(stops(&go("24 01", "stopp")), ["ACME", "Beta"]);
}

#[test]
fn stop_on_dedicated_number_stops_its_owner() {
    assert_eq!(stops(&go("2402", "STOPP")), ["Solo AS"]);
    assert_eq!(stops(&go("2402", "solo stopp")), ["Solo AS"]);
}

#[test]
fn stop_to_unknown_number_stops_every_brand() {
    let p = go("9999", "STOP");
    assert_eq!(stops(&p), ["*"]);
    assert_eq!(p.brands, ["*"]);
    assert!(p.reply.contains("alle avsendere"), "{}", p.reply);
    // ... unless it names a brand registered elsewhere: that brand.
    assert_eq!(stops(&go("9999", "ACME STOPP")), ["ACME"]);
    assert_eq!(stops(&go("2401", "SOLO STOPP")), ["Solo AS", "ACME", "Beta"]);
    // A brand word naming another brand on a dedicated number: both (fail safe).
    assert_eq!(stops(&go("2402", "ACME STOPP")), ["ACME", "Solo AS"]);
}

#[test]
fn start_records_a_confirmed_sms_keyword_consent_with_evidence() {
    let p = go("2401", "ACME START");
    assert_eq!(p.action, Action::Start);
    let [Event::Consent(c)] = p.events.as_slice() else { panic!("{p:?}") };
    assert_eq!(c.brand, "ACME");
    assert_eq!(c.purpose, "offers");
    assert_eq!(c.channel, "sms");
    assert_eq!(c.method, "sms_keyword");
    assert_eq!(c.text_ref, "acme-sms-v2");
    assert_eq!(c.source, "sms to 2401: ACME START");
    assert_eq!((c.granted_at, c.confirmed_at, c.expires_at), (T, Some(T), None));
    let p = go("2401", "beta start");
    let [Event::Consent(c)] = p.events.as_slice() else { panic!("{p:?}") };
    assert_eq!(
        (c.brand.as_str(), c.purpose.as_str(), c.text_ref.as_str()),
        ("Beta", "news", "sms-keyword")
    );
    // Dedicated number: no brand word needed.
    assert_eq!(go("2402", "START").action, Action::Start);
}

#[test]
fn start_without_a_known_brand_is_never_consent() {
    for (to, text) in [
        ("2401", "START"),
        ("2401", "NOBODY START"),
        ("9999", "ACME START"),
        ("2402", "acme start"),
    ] {
        let p = go(to, text);
        assert_eq!(p.action, Action::Unknown, "{to} {text}");
        assert!(p.events.is_empty());
    }
}

#[test]
fn start_evidence_text_is_made_storable() {
    let text = format!("ACME START\u{7}{}", "x".repeat(5000));
    let p = resolve(&keyword::parse("ACME START"), &msg("2401", &text), &registry(), &[], &opts());
    let [Event::Consent(c)] = p.events.as_slice() else { panic!() };
    assert!(c.source.len() <= MAX_TEXT);
    Event::Consent(c.clone()).validate().unwrap();
}

fn consent(
    brand: &str,
    purpose: &str,
    granted: Timestamp,
    confirmed: Option<Timestamp>,
) -> Consent {
    Consent {
        number: n(4791234567),
        brand: brand.into(),
        purpose: purpose.into(),
        channel: "sms".into(),
        granted_at: granted,
        method: "web_form".into(),
        text_ref: "v1".into(),
        source: "shop".into(),
        expires_at: None,
        confirmed_at: confirmed,
    }
}

fn rec(seq: u64, c: Consent) -> Recorded {
    Recorded { seq, event: Event::Consent(c) }
}

fn confirm(to: &str, text: &str, ev: &[Recorded]) -> Plan {
    resolve(&keyword::parse(text), &msg(to, text), &registry(), ev, &opts())
}

#[test]
fn confirmation_confirms_the_newest_pending_consent_on_that_shortcode() {
    let ev = vec![
        rec(1, consent("ACME", "offers", T - 500, None)),
        rec(2, consent("Beta", "news", T - 100, None)),
        rec(3, consent("Solo AS", "offers", T - 50, None)), // other short code
    ];
    let p = confirm("2401", "JA", &ev);
    assert_eq!(p.action, Action::Confirm);
    assert_eq!(p.brands, ["Beta"]);
    let want = Consent { confirmed_at: Some(T), ..consent("Beta", "news", T - 100, None) };
    assert_eq!(p.events, [Event::Consent(want)]);
    // A brand word narrows it.
    let p = confirm("2401", "acme ja", &ev);
    assert_eq!(p.brands, ["ACME"]);
    // "Ja takk": the unknown brand word is ignored.
    assert_eq!(confirm("2401", "Ja takk!", &ev).brands, ["Beta"]);
}

#[test]
fn confirmation_never_creates_consent() {
    for ev in [
        vec![],
        // Already confirmed.
        vec![rec(1, consent("ACME", "offers", T - 10, Some(T - 5)))],
        // Superseded by a newer confirmed consent for the same purpose.
        vec![
            rec(1, consent("ACME", "offers", T - 10, None)),
            rec(2, consent("ACME", "offers", T - 5, Some(T - 5))),
        ],
        // Granted after the reply, expired, or not sms.
        vec![rec(1, consent("ACME", "offers", T + 10, None))],
        vec![rec(1, Consent { expires_at: Some(T), ..consent("ACME", "offers", T - 10, None) })],
        vec![rec(
            1,
            Consent { channel: "email".into(), ..consent("ACME", "offers", T - 10, None) },
        )],
        // A stop is not a consent.
        vec![Recorded {
            seq: 1,
            event: Event::Stop(Stop { number: n(4791234567), brand: "ACME".into(), stopped_at: 5 }),
        }],
    ] {
        let p = confirm("2401", "JA", &ev);
        assert_eq!(p.action, Action::NoPending, "{ev:?}");
        assert!(p.events.is_empty());
    }
    // Unknown number: nothing to confirm against.
    let ev = vec![rec(1, consent("ACME", "offers", T - 10, None))];
    assert_eq!(confirm("9999", "YES", &ev).action, Action::Unknown);
}

#[test]
fn confirmation_ties_go_to_the_later_sequence() {
    // Same granted_at: the later record is the newest; it is pending, so it is confirmed.
    let ev = vec![
        rec(1, consent("ACME", "offers", T - 10, Some(T - 9))),
        rec(2, consent("ACME", "offers", T - 10, None)),
    ];
    assert_eq!(confirm("2401", "ok", &ev).action, Action::Confirm);
    let ev = vec![
        rec(1, consent("ACME", "offers", T - 10, None)),
        rec(2, consent("ACME", "offers", T - 10, Some(T - 9))),
    ];
    assert_eq!(confirm("2401", "ok", &ev).action, Action::NoPending);
}

#[test]
fn help_and_unknown_record_nothing_and_reply_in_the_brand_language() {
    let p = go("2401", "ACME HJELP");
    assert_eq!((p.action, p.events.len()), (Action::Help, 0));
    assert!(p.reply.contains("Svar ACME STOPP til 2401"), "{}", p.reply);
    let p = go("2401", "HJELP");
    assert_eq!((p.action, p.brands.len()), (Action::Help, 2));
    assert_eq!(p.reply, "Svar STOPP til 2401 for å melde deg av SMS fra ACME, Beta. Gratis.");
    let p = go("2403", "hjälp");
    assert!(p.reply.contains("Svara SVENSK STOPP till 2403"), "{}", p.reply);
    let p = go("2403", "hej då");
    assert_eq!((p.action, p.events.len()), (Action::Unknown, 0));
    assert!(p.reply.starts_with("Vi förstod inte"), "{}", p.reply);
    // A question is not clearly unrelated: REVIEW, with a reply that says how to stop.
    let p = go("2403", "vad?");
    assert_eq!((p.action, p.events.len()), (Action::Review, 0));
    assert!(p.reply.contains("Svara STOPP till 2403"), "{}", p.reply);
    // Unknown number: the store region's language.
    let p = resolve(
        &keyword::parse("help"),
        &msg("9999", "help"),
        &registry(),
        &[],
        &Options { regions: "FI".parse().unwrap(), compact: None, reload_registry: false },
    );
    assert!(p.reply.contains("LOPETA"), "{}", p.reply);
}

#[test]
fn replies_use_brand_overrides() {
    let mut r = registry();
    r.set_reply("ACME", "stop", Some("{brand}: avmeldt. Mvh {brand} ({shortcode})")).unwrap();
    let text = "acme stopp";
    let p = resolve(&keyword::parse(text), &msg("2401", text), &r, &[], &opts());
    assert_eq!(p.reply, "ACME: avmeldt. Mvh ACME (2401)");
    // Beta has no override: built-in Norwegian.
    let p = resolve(&keyword::parse("beta stopp"), &msg("2401", "beta stopp"), &r, &[], &opts());
    assert_eq!(p.reply, "Du er meldt av og får ingen flere SMS-tilbud fra Beta.");
}

/// The confirmed copy really wins in the store: overlay, a fresh view, and after compaction.
#[test]
fn confirmed_copy_wins_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let pending = consent("ACME", "offers", T - 100, None);
    store.append_stop(n(4791234567), "ACME", T - 200).unwrap();
    store.append_consent(pending.clone()).unwrap();
    store.compact().unwrap(); // the pending consent now lives in the snapshot
    let check = |store: &Store, want: Option<Timestamp>| {
        for view in [store.view().unwrap(), crate::store::open_view(dir.path()).unwrap()] {
            let scope = view.scope("ACME", "offers");
            let st = view.standing(&scope, n(4791234567));
            assert_eq!(st.consent.map(|c| (c.granted_at, c.confirmed_at)), Some((T - 100, want)));
        }
    };
    check(&store, None);
    let ev = store.evidence(n(4791234567)).unwrap();
    let p = confirm("2401", "JA", &ev);
    assert_eq!(p.action, Action::Confirm);
    for e in &p.events {
        store.append(e).unwrap();
    }
    check(&store, Some(T));
    store.compact().unwrap();
    check(&store, Some(T));
    // A second JA finds nothing pending.
    let ev = store.evidence(n(4791234567)).unwrap();
    assert_eq!(confirm("2401", "JA", &ev).action, Action::NoPending);
}

fn run_text(
    store: &mut Store,
    reg: &Registry,
    input: &str,
    format: Format,
) -> (Vec<serde_json::Value>, Summary) {
    let mut out = Vec::new();
    let s =
        run(store, reg, std::io::Cursor::new(input.as_bytes().to_vec()), format, &mut out, &opts())
            .unwrap();
    let lines =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (lines, s)
}

#[test]
fn run_jsonl_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let input = concat!(
        r#"{"from":"+4791234567","to":"2401","text":"ACME START","received_at":"2026-06-01T10:00:00Z"}"#,
        "\n",
        "\n",
        r#"{"from":"91234568","to":2401,"text":"stopp","received_at":1780000000}"#,
        "\n",
        "not json\n",
        r#"{"from":"+4791234567","to":"2401","text":"hjelp"}"#,
        "\n",
        r#"{"from":"12","to":"2401","text":"stop","received_at":"2026-06-01T10:00:00Z"}"#,
        "\n",
        r#"{"from":"+4791234567","to":"2401","text":"stop","received_at":"yesterday"}"#,
        "\n",
        r#"{"from":"+4791234567","to":"2401","text":"JA","received_at":"2026-06-01T10:00:05Z"}"#,
        "\n",
        r#"{"from":"+4791234567","to":"2401","text":"hei","received_at":"2026-06-01T10:00:05Z"}"#,
        "\n",
    );
    let (lines, s) = run_text(&mut store, &reg, input, Format::Jsonl);
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["START", "STOP", "ERROR", "HELP", "ERROR", "STOP", "NO_PENDING", "UNKNOWN"]
    );
    let line_nos: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(line_nos, [1, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(lines[0]["from"], "+47*****567");
    assert_eq!(lines[1]["brands"], serde_json::json!(["ACME", "Beta"]));
    assert!(lines[2]["reason"].as_str().unwrap().contains("bad JSON"));
    // A missing or unreadable received_at is the receipt time, and the record says so.
    assert_eq!(lines[3]["time_source"], "received", "{}", lines[3]);
    assert_eq!(lines[5]["time_source"], "received", "{}", lines[5]);
    assert!(lines[0].get("time_source").is_none(), "{}", lines[0]);
    assert!(lines[4]["reason"].as_str().unwrap().contains("not a valid phone number"));
    assert!(lines[5]["from"].as_str().unwrap().contains('*'));
    for l in &lines {
        assert!(!l.to_string().contains("91234567"), "{l}");
    }
    assert_eq!((s.count(Action::Error), s.events), (2, 5));
    assert_eq!(store.last_seq(), 5);
}

#[test]
fn run_csv_with_quoted_text_and_a_bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let input = "received_at,from,to,text,extra\n\
                 2026-06-01T10:00:00Z,+4791234567,2402,\"Stopp, takk\",x\n\
                 2026-06-01T10:00:00Z,+4791234567,2402,\"STOPP!\",x\n\
                 2026-06-01T10:00:00Z,+4791234567\n";
    let (lines, _) = run_text(&mut store, &reg, input, Format::Csv);
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["STOP", "STOP", "ERROR"]);
    assert_eq!(lines[2]["line"], 4);
    let mut out = Vec::new();
    let err = run(
        &mut store,
        &reg,
        std::io::Cursor::new(b"from,to\n".to_vec()),
        Format::Csv,
        &mut out,
        &opts(),
    );
    assert!(err.unwrap_err().to_string().contains("from,to,text"));
}

/// A repeated key is refused, not resolved by taking its last value: consent was once
/// recorded for the second `from` of such a line.
#[test]
fn run_refuses_records_with_a_repeated_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let input = concat!(
        r#"{"from":"+4791111111","to":"2401","text":"ACME START","received_at":"2026-06-01T10:00:00Z","from":"+4792222222"}"#,
        "\n",
        r#"{"from":"+4791111111","to":"2401","text":"ACME START","received_at":"2026-06-01T10:00:00Z","x":1,"x":2}"#,
        "\n",
        r#"{"from":"+4791111111","to":"2401","text":"ACME START","received_at":"2026-06-01T10:00:00Z"}"#,
        "\n",
    );
    let (lines, s) = run_text(&mut store, &reg, input, Format::Jsonl);
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["ERROR", "ERROR", "START"]);
    assert_eq!(lines[0]["reason"], "bad record: from appears twice");
    assert_eq!(lines[1]["reason"], "bad record: a key appears twice");
    for l in &lines {
        assert!(!l.to_string().contains("92222222"), "{l}");
    }
    assert_eq!((s.count(Action::Error), s.events, store.last_seq()), (2, 1, 1));
    let view = store.view().unwrap();
    let st = view.standing(&view.scope("ACME", "offers"), n(4792222222));
    assert_eq!(st.consent, None);
    let st = view.standing(&view.scope("ACME", "offers"), n(4791111111));
    assert!(st.consent.is_some());
}

/// The CSV counterpart: a header naming one of our columns twice is refused outright.
#[test]
fn run_csv_refuses_a_repeated_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let input = "from,to,text,received_at,from\n\
                 +4791111111,2401,ACME START,2026-06-01T10:00:00Z,+4792222222\n";
    let mut out = Vec::new();
    let err = run(
        &mut store,
        &reg,
        std::io::Cursor::new(input.as_bytes().to_vec()),
        Format::Csv,
        &mut out,
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("names the \"from\" column more than once"), "{err}");
    assert!(out.is_empty());
    assert_eq!(store.last_seq(), 0);
    // Extra columns may repeat: they are ignored.
    let input = "note,from,to,text,received_at,note\n\
                 a,+4791111111,2401,ACME START,2026-06-01T10:00:00Z,b\n";
    let (lines, _) = run_text(&mut store, &reg, input, Format::Csv);
    assert_eq!(lines[0]["action"], "START");
}

proptest! {
    /// Any text to any receiving number: resolution never panics, a STOP keyword always
    /// records at least one stop, and only START or a confirmation ever adds a consent.
    #[test]
    fn resolve_is_total_and_fail_safe(
        text in "\\PC{0,40}",
        to in prop::sample::select(vec!["2401", "2402", "2403", "9999", ""]),
        stop_word in prop::sample::select(keyword::STOP_WORDS),
        brand in prop::sample::select(vec!["", "acme", "beta", "solo", "nobody"]),
    ) {
        let reg = registry();
        let p = resolve(&keyword::parse(&text), &msg(to, &text), &reg, &[], &opts());
        let has_consent = p.events.iter().any(|e| matches!(e, Event::Consent(_)));
        prop_assert!(!has_consent || p.action == Action::Start);
        let stop_text = format!("{brand} {stop_word}");
        let p = resolve(&keyword::parse(&stop_text), &msg(to, &stop_text), &reg, &[], &opts());
        prop_assert_eq!(p.action, Action::Stop);
        prop_assert!(!p.events.is_empty());
        for e in &p.events {
            prop_assert!(e.validate().is_ok());
        }
    }
}

#[test]
fn json_line_parser_rejects_bad_input_with_reasons() {
    let ok =
        parse_json_line(r#"{"from":"+4791234567","to":2401,"text":"x","received_at":5}"#).unwrap();
    assert_eq!((ok.to.as_str(), ok.received_at.as_str()), ("2401", "5"));
    let cases = [
        (r#""+4791234567""#, "bad record"),
        ("", "bad JSON"),
        ("{", "bad JSON"),
        ("[1,2]", "bad record"),
        (r#"{"from":"+4791234567","to":"2401","received_at":"x"}"#, "text is missing"),
        (
            r#"{"from":["+4791234567"],"to":"2401","text":"x","received_at":"x"}"#,
            "from must be a string",
        ),
        (r#"{"from":"+4791234567","to":null,"text":"x","received_at":"x"}"#, "to is missing"),
        (
            r#"{"from":"+4791234567","to":"2401","text":"x","received_at":"x","text":"y"}"#,
            "text appears twice",
        ),
        // Bad JSON after a repeated key is reported as bad JSON.
        (r#"{"from":"+4791234567","from":"+4791234567","#, "bad JSON"),
    ];
    for (line, want) in cases {
        let e = parse_json_line(line).unwrap_err();
        assert!(e.contains(want), "{line}: {e}");
        assert!(!e.contains("4791234567"), "{e}");
    }
}

#[test]
fn time_parser() {
    assert_eq!(parse_time("1780000000"), Ok(1_780_000_000));
    assert_eq!(parse_time("1780000000123"), Ok(1_780_000_000));
    assert_eq!(parse_time(" 2026-06-01T10:00:00Z "), Ok(1_780_308_000));
    for bad in ["", "yesterday", "99999999999999999999999", "2026-13-01T00:00:00Z", "-5"] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

/// Confirmations in a run see consents from the snapshot, the journal tail and the same
/// batch (the run's cache), and each pending consent is confirmed once.
#[test]
fn run_confirms_from_snapshot_tail_and_same_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = consent("ACME", "offers", T - 100, None); // +4791234567, into the snapshot
    store.append_consent(a.clone()).unwrap();
    store.compact().unwrap();
    let b = Consent { number: n(4791234568), ..consent("Beta", "news", T - 50, None) };
    store.append_consent(b).unwrap(); // journal tail
    let reg = registry();
    let ja = |from: &str| {
        format!(r#"{{"from":"{from}","to":"2401","text":"JA","received_at":"{T}"}}"#) + "\n"
    };
    let input =
        [ja("+4791234567"), ja("+4791234568"), ja("+4791234567"), ja("+4791234569")].concat();
    let (lines, s) = run_text(&mut store, &reg, &input, Format::Jsonl);
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["CONFIRM", "CONFIRM", "NO_PENDING", "NO_PENDING"]);
    assert_eq!(lines[1]["brands"], serde_json::json!(["Beta"]));
    assert_eq!(s.events, 2);
    // A second run (cache rebuilt from the journal) finds nothing pending either.
    let (lines, _) = run_text(&mut store, &reg, &input, Format::Jsonl);
    assert!(lines.iter().all(|l| l["action"] == "NO_PENDING"), "{lines:?}");
    let view = store.view().unwrap();
    let st = view.standing(&view.scope("ACME", "offers"), n(4791234567));
    assert_eq!(st.consent.map(|c| c.confirmed_at), Some(Some(T)));
    let st = view.standing(&view.scope("Beta", "news"), n(4791234568));
    assert_eq!(st.consent.map(|c| c.confirmed_at), Some(Some(T)));
}

/// A consent recorded before an erasure is erased data even while the compaction that
/// drops it is still to run: a JA must not confirm it (the confirmed copy would be a new
/// event holding the erased number and its old evidence, surviving the compaction).
#[test]
fn a_confirmation_after_an_erasure_finds_nothing_pending_from_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let x = n(4791234567);
    store.append_consent(consent("ACME", "offers", T - 100, None)).unwrap();
    crate::rights::erase(&mut store, x, T - 50, false).unwrap();
    let reg = registry();
    let ja = format!(r#"{{"from":"+4791234567","to":"2401","text":"JA","received_at":"{T}"}}"#);
    let (lines, s) = run_text(&mut store, &reg, &(ja.clone() + "\n"), Format::Jsonl);
    assert_eq!(lines[0]["action"], "NO_PENDING", "{lines:?}");
    assert_eq!(s.events, 0);
    store.compact().unwrap();
    assert!(store.evidence(x).unwrap().is_empty());
    // A consent given after the erasure is the person's again and can be confirmed.
    store.append_consent(consent("ACME", "offers", T - 10, None)).unwrap();
    let (lines, _) = run_text(&mut store, &reg, &(ja + "\n"), Format::Jsonl);
    assert_eq!(lines[0]["action"], "CONFIRM", "{lines:?}");
}

/// With a compaction policy, a long run compacts as it goes and confirmations still see
/// every consent (snapshot, tail and cache overlap without changing answers).
#[test]
fn run_compacts_when_advised() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_consent(consent("ACME", "offers", T - 100, None)).unwrap();
    let reg = registry();
    let line = |from: u64, text: &str| {
        format!(r#"{{"from":"+{from}","to":"2401","text":"{text}","received_at":"{T}"}}"#) + "\n"
    };
    let mut input: String = (0..20).map(|i| line(4791000000 + i, "stopp")).collect();
    input.push_str(&line(4791234567, "JA"));
    input.push_str(&line(4791234567, "JA"));
    let o = Options {
        compact: Some(crate::store::CompactPolicy { min_events: 3, ratio_percent: 10 }),
        ..opts()
    };
    let mut out = Vec::new();
    // Trickle the input through a pipe-like reader one line at a time so every line commits.
    struct Slow(std::io::Cursor<Vec<u8>>);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(40);
            self.0.read(&mut buf[..n])
        }
    }
    let s = run(
        &mut store,
        &reg,
        Slow(std::io::Cursor::new(input.into_bytes())),
        Format::Jsonl,
        &mut out,
        &o,
    )
    .unwrap();
    assert!(s.compactions >= 1, "{s:?}");
    let text = String::from_utf8(out).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions.len(), 22);
    assert_eq!(actions[20..], ["CONFIRM", "NO_PENDING"]);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.evidence(n(4791000019)).unwrap().len(), 2);
}

/// A model of what a stream of replies should leave in the store, per (number, brand):
/// newest stop, newest consent (granted, confirmed). Times increase, so "newest" is "last".
#[derive(Default, Debug)]
struct Model {
    stop: std::collections::HashMap<(u64, &'static str), Timestamp>,
    consent: std::collections::HashMap<(u64, &'static str), (Timestamp, Option<Timestamp>)>,
}

impl Model {
    fn apply(&mut self, num: u64, to: &str, text: &str, t: Timestamp) {
        let shared = to == "2401";
        let stop_brands: &[&'static str] = match (text, shared) {
            ("STOPP", true) => &["ACME", "Beta"],
            ("STOPP", false) => &["Solo AS"],
            ("acme stopp", true) => &["ACME"],
            ("acme stopp", false) => &["ACME", "Solo AS"],
            ("beta stopp", true) => &["Beta"],
            ("beta stopp", false) => &["Beta", "Solo AS"],
            _ => &[],
        };
        for b in stop_brands {
            self.stop.insert((num, *b), t);
        }
        let start: Option<&'static str> = match (text, shared) {
            ("ACME START", true) => Some("ACME"),
            ("beta start", true) => Some("Beta"),
            ("START", false) => Some("Solo AS"),
            _ => None,
        };
        if let Some(b) = start {
            self.consent.insert((num, b), (t, Some(t)));
        }
        if text == "JA" {
            let cands: &[&'static str] = if shared { &["ACME", "Beta"] } else { &["Solo AS"] };
            // Newest pending among the candidates; ties go to the later-recorded one, which
            // the generator avoids (seeded consents have distinct times).
            let pick = cands
                .iter()
                .filter_map(|b| self.consent.get(&(num, *b)).map(|c| (*b, *c)))
                .filter(|(_, (g, c))| c.is_none() && *g <= t)
                .max_by_key(|(_, (g, _))| *g);
            if let Some((b, (g, _))) = pick {
                self.consent.insert((num, b), (g, Some(t)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any stream of STOP / START / JA / HELP replies leaves the store exactly as the model
    /// says: the same newest stop and newest consent for every number and brand.
    #[test]
    fn run_matches_model(
        seeds in prop::collection::vec((0u64..3, 0usize..3), 0..4),
        msgs in prop::collection::vec(
            (0u64..3, prop::sample::select(vec!["2401", "2402"]),
             prop::sample::select(vec!["STOPP", "acme stopp", "beta stopp", "ACME START",
                                       "beta start", "START", "JA", "hjelp"]),
             1i64..3),
            0..25),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut model = Model::default();
        let brands = ["ACME", "Beta", "Solo AS"];
        let purpose = |b: &str| if b == "Beta" { "news" } else { "offers" };
        // Pending (double opt-in) consents collected elsewhere, at distinct times.
        for (i, (num, b)) in seeds.iter().enumerate() {
            let g = T - 1000 + i as i64;
            let c = Consent { number: n(4791000000 + num), ..consent(brands[*b], purpose(brands[*b]), g, None) };
            store.append_consent(c).unwrap();
            model.consent.insert((*num, brands[*b]), (g, None));
        }
        let mut t = T;
        let mut input = String::new();
        for (num, to, text, dt) in &msgs {
            t += dt;
            model.apply(*num, to, text, t);
            input.push_str(&format!(
                r#"{{"from":"+{}","to":"{to}","text":"{text}","received_at":"{t}"}}"#,
                4791000000 + num
            ));
            input.push('\n');
        }
        let (lines, _) = run_text(&mut store, &registry(), &input, Format::Jsonl);
        prop_assert_eq!(lines.len(), msgs.len());
        let view = store.view().unwrap();
        for num in 0..3u64 {
            for b in brands {
                let st = view.standing(&view.scope(b, purpose(b)), n(4791000000 + num));
                prop_assert_eq!(st.stopped_at, model.stop.get(&(num, b)).copied(), "stop {} {}", num, b);
                let got = st.consent.map(|c| (c.granted_at, c.confirmed_at));
                prop_assert_eq!(got, model.consent.get(&(num, b)).copied(), "consent {} {}", num, b);
            }
        }
    }
}

proptest! {
    /// The input parsers never panic, and their reasons never quote a number.
    #[test]
    fn input_parsers_never_panic(s in "\\PC{0,80}", digits in "[0-9]{8,12}") {
        let _ = parse_json_line(&s);
        let _ = parse_time(&s);
        let line = format!(r#"{{"from":{{"x":"{digits}"}},"to":"{digits}","text":1,"received_at":"{digits}"}}"#);
        if let Err(e) = parse_json_line(&line) {
            prop_assert!(!e.contains(&digits), "{}", e);
        }
        let quoted = format!(r#""+47{digits}""#);
        let e = parse_json_line(&quoted).unwrap_err();
        prop_assert!(!e.contains(&digits), "{}", e);
    }
}

/// Input without line ends, or a CSV quote never closed, stops the reading at that
/// record's line after handing on the records before it (no buffer without bound).
#[test]
fn overlong_records_stop_reading_at_their_line() {
    let mut jsonl =
        br#"{"from":"+4791000001","to":"2401","text":"STOP","received_at":"1"}"#.to_vec();
    jsonl.push(b'\n');
    jsonl.extend(std::iter::repeat_n(b'x', crate::bounded::MAX_RECORD + 5));
    let (tx, rx) = crossbeam_channel::unbounded();
    let err = super::read_jsonl(&jsonl[..], &tx).unwrap_err();
    assert_eq!(
        crate::bounded::RecordTooLong::of(&err),
        Some(crate::bounded::RecordTooLong { line: 2 })
    );
    assert_eq!(rx.try_iter().count(), 1);

    let mut csv =
        b"from,to,text,received_at\n+4791000001,2401,STOP,1\n+4791000001,2401,\"STOP\n".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 5 * crate::bounded::MAX_RECORD));
    let (tx, rx) = crossbeam_channel::unbounded();
    let err = super::read_csv(&csv[..], &tx).unwrap_err();
    assert!(matches!(err, crate::error::Error::Csv { line: 3, .. }), "{err:?}");
    assert_eq!(rx.try_iter().count(), 1);
}

/// Input fed line by line from a channel: the test decides when the next message arrives.
struct Fed {
    rx: crossbeam_channel::Receiver<String>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for Fed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(line) => (self.buf, self.at) = (line.into_bytes(), 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Opens the store as another writer, waiting (up to 10 s) until the lock is free.
fn other_writer(dir: &std::path::Path) -> Store {
    let t = std::time::Instant::now();
    let o = crate::store::StoreOptions { create: false, region: None, wait: false };
    loop {
        match Store::open_with(dir, o) {
            Ok(s) => return s,
            Err(crate::store::StoreError::Locked { .. })
                if t.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// While it waits for input, a run releases the store's lock: another writer records a
/// consent (then another, and compacts) between two messages, and the next `JA` confirms
/// it, so the run read the store afresh. Nothing is lost on either side.
#[test]
fn run_lets_other_writers_in_while_waiting_and_sees_what_they_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let mut store = Store::open(&path).unwrap();
    store.append_consent(consent("ACME", "offers", T - 100, None)).unwrap();
    let ja = |from: u64| {
        format!(r#"{{"from":"+{from}","to":"2401","text":"JA","received_at":"{T}"}}"#) + "\n"
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let feeder = std::thread::spawn(move || {
        tx.send(ja(4791234567)).unwrap(); // also loads the run's cache of the journal tail
        let mut other = other_writer(&path);
        let b = Consent { number: n(4791234568), ..consent("Beta", "news", T - 50, None) };
        other.append_consent(b).unwrap();
        drop(other);
        tx.send(ja(4791234568)).unwrap();
        let mut other = other_writer(&path);
        let c = Consent { number: n(4791234569), ..consent("ACME", "offers", T - 40, None) };
        other.append_consent(c).unwrap();
        other.compact().unwrap(); // a new snapshot and a rotated journal
        drop(other);
        tx.send(ja(4791234569)).unwrap();
    });
    let mut out = Vec::new();
    let input = Fed { rx, buf: Vec::new(), at: 0 };
    let s = run(&mut store, &registry(), input, Format::Jsonl, &mut out, &opts()).unwrap();
    feeder.join().unwrap();
    let text = String::from_utf8(out).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions, [r#""CONFIRM""#; 3], "{text}");
    assert_eq!(s.events, 3);
    // 3 consents + 3 confirmations, all readable by the run's store afterwards.
    assert_eq!(store.last_seq(), 6);
    let view = store.view().unwrap();
    for (brand, purpose, number) in [
        ("ACME", "offers", 4791234567),
        ("Beta", "news", 4791234568),
        ("ACME", "offers", 4791234569),
    ] {
        let st = view.standing(&view.scope(brand, purpose), n(number));
        assert_eq!(st.consent.map(|c| c.confirmed_at), Some(Some(T)), "{number}");
    }
}

/// Input that never runs dry (a STOP from a new number each line) until `done` is set
/// (or, so that a failing test ends, until `until`).
struct Busy {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Messages handed to the run so far.
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    until: std::time::Instant,
    next: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Read for Busy {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.done.load(std::sync::atomic::Ordering::Acquire)
                || std::time::Instant::now() > self.until
            {
                return Ok(0);
            }
            self.next += 1;
            self.served.store(self.next, std::sync::atomic::Ordering::Release);
            let from = 4790000000 + self.next;
            let line =
                format!(r#"{{"from":"+{from}","to":"2402","text":"stopp","received_at":"{T}"}}"#);
            (self.buf, self.at) = ((line + "\n").into_bytes(), 0);
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A run that never waits for input still lets another writer in (at least every
/// `MAX_HOLD`), and nothing either side records is lost.
#[test]
fn a_busy_run_lets_other_writers_in_now_and_then() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let mut store = Store::open(&path).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_input = std::sync::Arc::clone(&done);
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run_served = std::sync::Arc::clone(&served);
    let other = std::thread::spawn(move || {
        // Wait until the run is busy: it has taken (and so holds the lock for) a few
        // messages already.
        let busy = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while run_served.load(std::sync::atomic::Ordering::Acquire) < 3
            && std::time::Instant::now() < busy
        {
            std::thread::yield_now();
        }
        let t = std::time::Instant::now();
        // Blocking, as the CLI's writers wait: woken when the run releases the lock.
        let o = crate::store::StoreOptions { create: false, region: None, wait: true };
        let mut s = Store::open_with(&path, o).unwrap();
        let waited = t.elapsed();
        let seq = s.append_stop(n(4799999999), "*", T).unwrap();
        drop(s);
        stop_input.store(true, std::sync::atomic::Ordering::Release);
        (waited, seq)
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let input = Busy { done, served, until, next: 0, buf: Vec::new(), at: 0 };
    let mut out = Vec::new();
    let s = run(&mut store, &registry(), input, Format::Jsonl, &mut out, &opts()).unwrap();
    let (waited, seq) = other.join().unwrap();
    assert!(waited < std::time::Duration::from_secs(10), "the other writer waited {waited:?}");
    let lines = String::from_utf8(out).unwrap().lines().count() as u64;
    assert!(lines > 0 && s.events == lines, "one stop per message (Solo AS owns 2402)");
    // Both sides' events are in the store, in one sequence.
    assert_eq!(store.last_seq(), lines + 1);
    assert!(seq >= 1 && seq <= lines + 1);
    let view = store.view().unwrap();
    assert!(view.standing(&view.scope("ACME", "offers"), n(4799999999)).stopped_at.is_some());
}

#[test]
fn message_id_is_read_from_id_or_message_id() {
    let base = r#""from":"+4791234567","to":"2401","text":"stopp","received_at":"1780000000""#;
    let id = |extra: &str| parse_json_line(&format!("{{{base}{extra}}}")).map(|r| r.id);
    assert_eq!(id(""), Ok(None));
    assert_eq!(id(r#","id":"m-1""#), Ok(Some("m-1".into())));
    assert_eq!(id(r#","message_id":42"#), Ok(Some("42".into())));
    assert_eq!(id(r#","id":null"#), Ok(None));
    assert!(id(r#","id":"a","message_id":"b""#).is_err());
    assert!(id(r#","id":[1]"#).is_err());
}

#[test]
fn unusable_gateway_times_become_the_receipt_time() {
    let now = T + 1000;
    let gw = |s: &str| message_time(s, now);
    assert_eq!(gw("1780000000"), (T, TimeSource::Gateway));
    assert_eq!(gw("1780000000000"), (T, TimeSource::Gateway));
    assert_eq!(gw("2026-05-28T20:26:40Z"), (T, TimeSource::Gateway));
    assert_eq!(gw(&(now + MAX_FUTURE).to_string()), (now + MAX_FUTURE, TimeSource::Gateway));
    for bad in [
        "",
        "0",
        "  ",
        "yesterday",
        "9999-12-31T23:59:59Z",
        "253402300799",
        "99999999999999999999999",
        "1999-01-01T00:00:00Z",
    ] {
        assert_eq!(gw(bad), (now, TimeSource::Received), "{bad:?}");
    }
    assert_eq!(gw(&(now + MAX_FUTURE + 1).to_string()), (now, TimeSource::Received));
}

#[test]
fn international_digits_without_plus_are_read_as_e164_first() {
    let no = Regions::new(Region::NO, Vec::new());
    let r = |s: &str| read_from(s, &no).map(|e| e.to_string());
    assert_eq!(r("46701234567").unwrap(), "+46701234567");
    assert_eq!(r("4791234567").unwrap(), "+4791234567");
    assert_eq!(r(" 4791234567 ").unwrap(), "+4791234567");
    // National forms stay national.
    assert_eq!(r("91234567").unwrap(), "+4791234567");
    assert_eq!(r("+46701234567").unwrap(), "+46701234567");
    assert!(r("0701234567").is_err());
    let no_se: Regions = "NO,SE".parse().unwrap();
    assert_eq!(read_from("0701234567", &no_se).unwrap().to_string(), "+46701234567");
}

/// Every spelling of a dedicated long number and of a short code reaches its brands.
#[test]
fn to_is_compared_as_a_number_in_every_spelling() {
    let mut reg = registry();
    reg.add(Brand { dedicated: true, keyword: "lang".into(), ..Brand::new("Lang", "+4759440000") })
        .unwrap();
    for to in [
        "+4759440000",
        "4759440000",
        "004759440000",
        "59440000",
        "+47 59 44 00 00",
        "0047-5944-0000",
        "594 40 000",
    ] {
        let p = resolve(&keyword::parse("START"), &msg(to, "START"), &reg, &[], &opts());
        assert_eq!((p.action, p.brands.clone()), (Action::Start, vec!["Lang".into()]), "{to}");
        let p = resolve(&keyword::parse("STOPP"), &msg(to, "STOPP"), &reg, &[], &opts());
        assert_eq!(stops(&p), ["Lang"], "{to}");
    }
    for to in ["2401", "+472401", "00472401", "+47 2401", "+462401", "24 01"] {
        let p = resolve(&keyword::parse("STOPP"), &msg(to, "STOPP"), &reg, &[], &opts());
        assert_eq!(stops(&p), ["ACME", "Beta"], "{to}");
    }
    // Not registered in any spelling: every brand, as before.
    let p = resolve(&keyword::parse("STOPP"), &msg("+4759440001", "STOPP"), &reg, &[], &opts());
    assert_eq!(stops(&p), ["*"]);
}

/// The same gateway message twice (same id, in one run or the next) records once and is
/// answered the same both times; the id is echoed.
#[test]
fn a_repeated_message_id_is_answered_as_the_first_time_without_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let rec = |id: &str, text: &str| {
        format!(
            r#"{{"from":"+4791234567","to":"2401","text":"{text}","received_at":"{T}","id":"{id}"}}"#
        ) + "\n"
    };
    let input = [rec("m-1", "ACME STOPP"), rec("m-1", "ACME STOPP"), rec("m-2", "ACME START")];
    let (lines, s) = run_text(&mut store, &reg, &input.concat(), Format::Jsonl);
    assert_eq!((s.events, s.repeats), (2, 1), "{s:?}");
    assert_eq!(lines[0]["id"], "m-1");
    assert_eq!(lines[1]["id"], "m-1");
    assert_eq!(lines[1]["action"], lines[0]["action"]);
    assert_eq!(lines[1]["reply"], lines[0]["reply"]);
    assert_eq!((lines[1]["events"].as_u64(), lines[1]["repeat"].as_bool()), (Some(0), Some(true)));
    assert_eq!(lines[1]["line"], 2);
    // The next run remembers: m-1 again is a repeat, m-3 is new.
    let (lines, s) = run_text(
        &mut store,
        &reg,
        &[rec("m-1", "ACME STOPP"), rec("m-3", "stopp")].concat(),
        Format::Jsonl,
    );
    assert_eq!((s.events, s.repeats), (2, 1), "{s:?}");
    assert_eq!(lines[0]["action"], "STOP");
    assert_eq!(lines[0]["repeat"], true);
    assert!(lines[1].get("repeat").is_none());
    assert_eq!(store.last_seq(), 4);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(IDS_FILE)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A gateway id is unique only per gateway: the same id on another person's message (or on
/// other words) is a new message, never a repeat. Before, the id alone was the key, so a
/// second gateway's STOP with id "1" recorded nothing: a lost opt-out.
#[test]
fn an_id_on_another_message_is_not_a_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let rec = |from: &str, text: &str| {
        format!(r#"{{"from":"{from}","to":"2401","text":"{text}","received_at":"{T}","id":"1"}}"#)
            + "\n"
    };
    let input = [
        rec("+4791234567", "ACME START"),
        rec("+4791234568", "ACME STOPP"),
        rec("+4791234567", "ACME STOPP"),
        rec("+4791234567", "ACME STOPP"),
    ];
    let (lines, s) = run_text(&mut store, &reg, &input.concat(), Format::Jsonl);
    assert_eq!((s.events, s.repeats), (3, 1), "{s:?}");
    assert_eq!(lines[1]["action"], "STOP");
    assert!(lines[1].get("repeat").is_none());
    assert_eq!(lines[2]["action"], "STOP");
    assert!(lines[2].get("repeat").is_none());
    assert_eq!(lines[3]["repeat"], true);
}

/// Replies teach the brand's keyword (which the parser reads), not its name.
#[test]
fn help_teaches_the_keyword_the_parser_reads() {
    let mut reg = registry();
    reg.add(Brand { keyword: "kaffe".into(), ..Brand::new("Kaffe Ærlig AS", "2404") }).unwrap();
    let p = resolve(&keyword::parse("hjelp"), &msg("2404", "hjelp"), &reg, &[], &opts());
    assert!(p.reply.contains("Svar KAFFE STOPP til 2404"), "{}", p.reply);
    assert!(p.reply.contains("KAFFE START"), "{}", p.reply);
    assert!(p.reply.starts_with("Kaffe Ærlig AS:"), "{}", p.reply);
    for (taught, want) in [("KAFFE START", Action::Start), ("KAFFE STOPP", Action::Stop)] {
        let p = resolve(&keyword::parse(taught), &msg("2404", taught), &reg, &[], &opts());
        assert_eq!((p.action, p.brands), (want, vec!["Kaffe Ærlig AS".to_string()]), "{taught}");
    }
}

/// 25 brands on one short code: a STOP stops them all, and the reply stays one SMS.
#[test]
fn replies_are_bounded_however_many_brands_share_a_code() {
    let mut reg = Registry::default();
    for i in 0..25 {
        reg.add(Brand::new(&format!("Butikkjeden nummer {i}"), "2409")).unwrap();
    }
    let p = resolve(&keyword::parse("STOPP"), &msg("2409", "STOPP"), &reg, &[], &opts());
    assert_eq!(p.events.len(), 25);
    assert_eq!(crate::sms::count(&p.reply).segments, 1, "{}", p.reply);
    let p = resolve(&keyword::parse("HJELP"), &msg("2409", "HJELP"), &reg, &[], &opts());
    assert!(crate::sms::count(&p.reply).segments <= reply::MAX_REPLY_SEGMENTS, "{}", p.reply);
    assert!(p.reply.contains("STOPP til 2409"), "{}", p.reply);
    assert!(bounded("x".repeat(2000)).len() <= 3 * 153);
}

/// A standing of +4791234567 with Solo AS (dedicated 2402) before a message at `T`.
#[derive(Clone, Copy, Debug)]
enum Before {
    NoHistory,
    Consented,
    Stopped,
    StoppedThenConsentedUnconfirmed,
    ConsentedThenStopped,
    StoppedEveryBrand,
    PendingDoubleOptIn,
    /// A stop newer than the message (the message arrives late).
    StoppedAfterMessage,
    /// A stop of every brand newer than the message.
    StoppedEveryBrandAfterMessage,
}

fn set_up(store: &mut Store, before: Before) {
    let c = |granted, confirmed| consent("Solo AS", "offers", granted, confirmed);
    let who = n(4791234567);
    match before {
        Before::NoHistory => {}
        Before::Consented => {
            store.append_consent(c(T - 300, Some(T - 300))).unwrap();
        }
        Before::Stopped => {
            store.append_stop(who, "Solo AS", T - 100).unwrap();
        }
        Before::StoppedThenConsentedUnconfirmed => {
            store.append_stop(who, "Solo AS", T - 200).unwrap();
            store.append_consent(c(T - 100, None)).unwrap();
        }
        Before::ConsentedThenStopped => {
            store.append_consent(c(T - 300, Some(T - 300))).unwrap();
            store.append_stop(who, "Solo AS", T - 100).unwrap();
        }
        Before::StoppedEveryBrand => {
            store.append_stop(who, "*", T - 100).unwrap();
        }
        Before::PendingDoubleOptIn => {
            store.append_consent(c(T - 100, None)).unwrap();
        }
        Before::StoppedAfterMessage => {
            store.append_consent(c(T - 300, Some(T - 300))).unwrap();
            store.append_stop(who, "Solo AS", T + 100).unwrap();
        }
        Before::StoppedEveryBrandAfterMessage => {
            store.append_stop(who, "*", T + 100).unwrap();
        }
    }
}

/// Every keyword × standing (× a store policy with and without double opt-in): after
/// `inbound`, the reply's wording class is `filter`'s verdict for (number, brand, purpose).
#[test]
fn replies_state_the_standing_filter_decides() {
    use crate::filter::{Filter, FilterOptions};
    use crate::store::policy::{BrandPolicy, Policy};
    use standing::Subscription;
    let befores = [
        Before::NoHistory,
        Before::Consented,
        Before::Stopped,
        Before::StoppedThenConsentedUnconfirmed,
        Before::ConsentedThenStopped,
        Before::StoppedEveryBrand,
        Before::PendingDoubleOptIn,
        Before::StoppedAfterMessage,
        Before::StoppedEveryBrandAfterMessage,
    ];
    let reg = registry();
    let solo = reg.get("Solo AS").unwrap();
    let text_of = |kind| reply::render_keyword(kind, Language::No, None, "Solo AS", "SOLO", "2402");
    let mut seen = std::collections::HashSet::new();
    for require_confirmed in [false, true] {
        for before in befores {
            for word in ["STOPP", "START", "JA", "HJELP"] {
                let case = format!("{word} after {before:?}, double opt-in {require_confirmed}");
                let dir = tempfile::tempdir().unwrap();
                let mut store = Store::open(dir.path()).unwrap();
                let mut policy = Policy::default();
                policy.brands.insert(
                    "Solo AS".into(),
                    BrandPolicy { require_confirmed, ..Default::default() },
                );
                crate::store::policy::write(&store, &policy).unwrap();
                set_up(&mut store, before);
                let input = format!(
                    r#"{{"from":"+4791234567","to":"2402","text":"{word}","received_at":"{T}"}}"#
                );
                let (out, _) = run_text(&mut store, &reg, &input, Format::Jsonl);
                let reply = out[0]["reply"].as_str().unwrap().to_string();
                let view = store.view().unwrap();
                let opts =
                    FilterOptions::at(crate::timefmt::now()).with_policy(policy.brand("Solo AS"));
                let verdict =
                    Filter::new(&view, "Solo AS", &solo.purpose, opts).decide_e164(n(4791234567));
                let class = Subscription::of(verdict);
                seen.insert((word, class));
                if word == "STOPP" {
                    // A stop's reply says "unsubscribed", and it is so.
                    assert_eq!(class, Subscription::Unsubscribed, "{case}");
                    assert_eq!(reply, text_of(Kind::Stop), "{case}");
                    assert!(out[0].get("standing").is_none(), "{case}");
                    continue;
                }
                assert_eq!(out[0]["standing"], class.as_str(), "{case}: {reply}");
                let wording = match class {
                    Subscription::Subscribed => {
                        vec![
                            text_of(Kind::Start),
                            text_of(Kind::Confirm),
                            text_of(Kind::Subscribed),
                        ]
                    }
                    Subscription::Pending => vec![text_of(Kind::Pending)],
                    Subscription::Unsubscribed => vec![text_of(Kind::Unsubscribed)],
                };
                assert!(wording.contains(&reply), "{case} ({verdict:?}): {reply}");
            }
        }
    }
    // The matrix reaches every class for the replies that state one.
    for word in ["START", "JA", "HJELP"] {
        assert!(seen.contains(&(word, Subscription::Subscribed)), "{word}");
        assert!(seen.contains(&(word, Subscription::Unsubscribed)), "{word}");
    }
    assert!(seen.contains(&("HJELP", Subscription::Pending)));
}

/// A START that does not lift a newer stop says so (and how to subscribe); a JA with
/// nothing pending while stopped too; a confirmed re-subscription says it is confirmed.
#[test]
fn start_that_does_not_lift_a_newer_stop_says_still_unsubscribed() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_stop(n(4791234567), "*", T + 100).unwrap();
    let line = |text: &str, at: Timestamp| {
        format!(r#"{{"from":"+4791234567","to":"2402","text":"{text}","received_at":"{at}"}}"#)
    };
    let input = [line("START", T), line("JA", T + 50)].join("\n");
    let (out, _) = run_text(&mut store, &reg, &input, Format::Jsonl);
    assert_eq!(out[0]["action"], "START");
    assert_eq!(out[0]["events"], 1, "the consent is kept as evidence");
    assert_eq!(out[0]["standing"], "unsubscribed");
    let r = out[0]["reply"].as_str().unwrap();
    assert!(r.contains("ikke påmeldt") && r.contains("SOLO START til 2402"), "{r}");
    assert_eq!(out[1]["action"], "NO_PENDING");
    assert_eq!(out[1]["standing"], "unsubscribed");
    // A START after the stop lifts it: subscribed, and the reply says so.
    let (out, _) = run_text(&mut store, &reg, &line("SOLO START", T + 200), Format::Jsonl);
    assert_eq!(out[0]["standing"], "subscribed");
    assert!(out[0]["reply"].as_str().unwrap().starts_with("Takk! Du får nå"), "{}", out[0]);
    // A pending consent confirmed after a stop: a confirmed re-subscription.
    store.append_stop(n(4791234567), "Solo AS", T + 300).unwrap();
    store.append_consent(consent("Solo AS", "offers", T + 400, None)).unwrap();
    let (out, _) = run_text(&mut store, &reg, &line("JA", T + 500), Format::Jsonl);
    assert_eq!((&out[0]["action"], &out[0]["standing"]), (&"CONFIRM".into(), &"subscribed".into()));
    assert!(out[0]["reply"].as_str().unwrap().contains("bekreftet"), "{}", out[0]);
}

/// A repeated gateway id in one batch, whose first answer states the standing, is
/// answered with that answer (no second event).
#[test]
fn repeat_of_a_drafted_reply_in_one_batch_gets_the_first_answer() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let line = r#"{"id":"m-1","from":"+4791234567","to":"2402","text":"START","received_at":"1780000000"}"#;
    let input = [line, line, line].join("\n");
    let (out, s) = run_text(&mut store, &reg, &input, Format::Jsonl);
    assert_eq!((s.events, s.repeats), (1, 2));
    assert_eq!(out.len(), 3);
    for o in &out[1..] {
        assert_eq!(o["repeat"], true);
        assert_eq!(o["reply"], out[0]["reply"]);
        assert_eq!(o["standing"], "subscribed");
    }
}

/// HELP to a number no brand is registered on names who sends and how to stop.
#[test]
fn help_to_an_unregistered_number_names_a_sender_and_how_to_stop() {
    let p = go("9999", "HJELP");
    assert_eq!((p.action, p.brands.len()), (Action::Help, 0));
    assert_eq!(
        p.reply,
        "SMS fra denne tjenesten (9999). Svar STOPP til 9999 for å melde deg av alle SMS herfra. \
         Gratis."
    );
}

/// A brand's `help` override is kept as written (with the standing in the record); its
/// `start` override only when the START subscribed: otherwise the built-in reply says the
/// person is still not subscribed.
#[test]
fn overrides_are_kept_only_where_they_do_not_contradict_the_standing() {
    let mut reg = registry();
    reg.set_reply("Solo AS", "help", Some("Solo: ring oss. STOPP til {shortcode}")).unwrap();
    reg.set_reply("Solo AS", "start", Some("Velkommen til {brand}! STOPP til {shortcode}"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.append_stop(n(4791234567), "Solo AS", T + 100).unwrap();
    let line = |text: &str, at: Timestamp| {
        format!(r#"{{"from":"+4791234567","to":"2402","text":"{text}","received_at":"{at}"}}"#)
    };
    let input = [line("HJELP", T), line("START", T)].join("\n");
    let (out, _) = run_text(&mut store, &reg, &input, Format::Jsonl);
    assert_eq!(out[0]["reply"], "Solo: ring oss. STOPP til 2402");
    assert_eq!(out[0]["standing"], "unsubscribed");
    assert_eq!(out[1]["standing"], "unsubscribed");
    assert!(out[1]["reply"].as_str().unwrap().contains("ikke påmeldt"), "{}", out[1]);
    let (out, _) = run_text(&mut store, &reg, &line("START", T + 200), Format::Jsonl);
    assert_eq!(out[0]["standing"], "subscribed");
    assert_eq!(out[0]["reply"], "Velkommen til Solo AS! STOPP til 2402");
}

/// Messages read together are answered with the standing when their replies are written:
/// a START followed by a STOP in one batch is not answered "subscribed".
#[test]
fn replies_in_one_batch_state_the_standing_when_they_are_written() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let line = |text: &str, at: Timestamp| {
        format!(r#"{{"from":"+4791234567","to":"2402","text":"{text}","received_at":"{at}"}}"#)
    };
    let input = [line("START", T), line("STOPP", T + 1)].join("\n");
    let (out, _) = run_text(&mut store, &reg, &input, Format::Jsonl);
    assert_eq!((&out[0]["action"], &out[0]["standing"]), (&"START".into(), &"unsubscribed".into()));
    assert_eq!(out[1]["action"], "STOP");
}

/// Answered ids are remembered for a window, not forever (`inbound_ids` grew without
/// bound): a message re-delivered after its id was dropped is decided again, and the
/// file no longer holds the old ids.
#[test]
fn message_ids_older_than_the_window_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reg = registry();
    let rec = |id: &str| {
        format!(
            r#"{{"from":"+4791234567","to":"2401","text":"ACME STOPP","received_at":"{T}","id":"{id}"}}"#
        ) + "\n"
    };
    let (_, s) = run_text(&mut store, &reg, &[rec("m-1"), rec("m-2")].concat(), Format::Jsonl);
    assert_eq!((s.events, s.repeats), (2, 0), "{s:?}");
    // Age m-1's line past the window (as if it was noted 8 days ago).
    let path = dir.path().join(IDS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let old = crate::timefmt::now() - seen::KEEP - 86_400;
    let aged: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut parts = l.splitn(3, ' ');
            let (h, at, answer) =
                (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let at = if i == 0 { old.to_string() } else { at.to_string() };
            format!("{h} {at} {answer}\n")
        })
        .collect();
    std::fs::write(&path, aged).unwrap();
    let (lines, s) = run_text(&mut store, &reg, &[rec("m-1"), rec("m-2")].concat(), Format::Jsonl);
    // m-1 is decided again (a second stop), m-2 is still a repeat.
    assert_eq!((s.events, s.repeats), (1, 1), "{s:?}");
    assert!(lines[0].get("repeat").is_none());
    assert_eq!(lines[1]["repeat"], true);
    // The aged line was dropped from the file (half of it stale: rewritten).
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains(&format!(" {old} ")), "{text}");
}

/// The policy is kept between batches, and read again once its file is replaced (as
/// `policy set` does while a run has let go of the store's lock).
#[test]
fn the_policy_is_read_again_when_its_file_changes() {
    use crate::store::policy::{BrandPolicy, Policy};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut cache = PolicyCache::default();
    assert!(!cache.get(dir.path()).unwrap().brand("ACME").require_confirmed);
    let mut policy = Policy::default();
    policy
        .brands
        .insert("ACME".into(), BrandPolicy { require_confirmed: true, ..Default::default() });
    crate::store::policy::write(&store, &policy).unwrap();
    assert!(cache.get(dir.path()).unwrap().brand("ACME").require_confirmed);
    // Unchanged: the same answer without reading the file.
    assert!(cache.get(dir.path()).unwrap().brand("ACME").require_confirmed);
    crate::store::policy::write(&store, &Policy::default()).unwrap();
    assert!(!cache.get(dir.path()).unwrap().brand("ACME").require_confirmed);
}
