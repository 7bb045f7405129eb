//! Filter tests: every reason, every format, quoting and footer edge cases, and the
//! parallel run against a simple sequential model.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::standing::{ConsentState, MemorySource};

const NOW: Timestamp = 1_000;
const ACME: &str = "ACME";

fn e(s: &str) -> E164 {
    crate::phone::normalize(s.as_bytes(), crate::phone::Region::NO).expect("test number is valid")
}

fn consent(g: i64, c: Option<i64>, x: Option<i64>) -> ConsentState {
    ConsentState { granted_at: g, confirmed_at: c, expires_at: x, event_seq: 1 }
}

/// +479100000N: 1 allowed, 2 stopped, 3 no consent, 4 expires at NOW, 5 unconfirmed,
/// 6 consent after the stop (allowed), 7 stopped for every brand, 8 consent for another
/// purpose only, 9 consent for another brand only.
fn source() -> MemorySource {
    let mut s = MemorySource::default();
    let mut c = |n: &str, brand: &str, purpose: &str, st: ConsentState| {
        s.consents.insert((e(n), brand.into(), purpose.into()), st);
    };
    c("+4791000001", ACME, "offers", consent(10, Some(11), None));
    c("+4791000002", ACME, "offers", consent(10, Some(11), None));
    c("+4791000004", ACME, "offers", consent(10, Some(11), Some(NOW)));
    c("+4791000005", ACME, "offers", consent(10, None, None));
    c("+4791000006", ACME, "offers", consent(60, Some(61), None));
    c("+4791000007", ACME, "offers", consent(60, Some(61), None));
    c("+4791000008", ACME, "news", consent(10, Some(11), None));
    c("+4791000009", "OTHER", "offers", consent(10, Some(11), None));
    s.stops.insert((e("+4791000002"), ACME.into()), 50);
    s.stops.insert((e("+4791000006"), ACME.into()), 50);
    s.stops.insert((e("+4791000007"), "*".into()), 70);
    s
}

fn footer() -> Footer {
    Footer::new("Svar {brand} STOPP til {shortcode}", ACME, Some("2401")).expect("valid template")
}

fn options(format: Format) -> RunOptions {
    let mut f = FilterOptions::at(NOW);
    f.footer = Some(footer());
    let mut o = RunOptions::new(ACME, "offers", f).with_format(format);
    o.threads = 2;
    o
}

fn run(src: &MemorySource, opts: &RunOptions, input: &[u8]) -> (String, String, Report) {
    let (mut out, mut rej) = (Vec::new(), Vec::new());
    let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
    let report = run_with(src, opts, input, sinks).expect("run succeeds");
    (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&rej).into_owned(), report)
}

#[test]
fn every_reason_in_lines() {
    let mut o = options(Format::Lines);
    o.filter.require_confirmed = true;
    o.filter.max_segments = Some(1);
    let input = "+4791000001\nnot a number\n+4791000001\n+4791000002\n+4791000003\n+4791000004\n\
                 +4791000005\n+4791000006\n+4791000007\n+4791000008\n+4791000009\n";
    let (out, rej, report) = run(&source(), &o, input.as_bytes());
    assert_eq!(out, "+4791000001\n+4791000006\n");
    assert_eq!(
        rej,
        "not a number\tINVALID_NUMBER\n+4791000001\tDUPLICATE\n+4791000002\tSTOPPED\n\
         +4791000003\tNO_CONSENT\n+4791000004\tCONSENT_EXPIRED\n+4791000005\tCONSENT_UNCONFIRMED\n\
         +4791000007\tSTOPPED\n+4791000008\tNO_CONSENT\n+4791000009\tNO_CONSENT\n"
    );
    assert_eq!(report.counts.input(), 11);
    assert_eq!(report.counts.allowed(), 2);
    assert_eq!(report.counts.reasons[Reason::NoConsent.index()], 3);
    // TOO_LONG and MALFORMED need messages and records: see the csv/jsonl tests.
    let mut o = options(Format::Lines);
    o.message = Some("x".repeat(150));
    o.filter.max_segments = Some(1);
    let (out, rej, _) = run(&source(), &o, b"+4791000001\n");
    assert_eq!((out.as_str(), rej.as_str()), ("", "+4791000001\tTOO_LONG\n"));
}

#[test]
fn lines_crlf_bom_blank_and_no_final_newline() {
    let (out, rej, report) =
        run(&source(), &options(Format::Lines), b"\xEF\xBB\xBF+4791000001\r\n\r\n\n+4791000006");
    assert_eq!(out, "+4791000001\n+4791000006\n");
    assert_eq!(rej, "");
    assert_eq!(report.counts.blank_lines, 2);
    assert_eq!(report.counts.input(), 2);
}

#[test]
fn lines_need_no_footer_without_messages() {
    let mut o = options(Format::Lines);
    o.filter.footer = None;
    let (out, _, _) = run(&source(), &o, b"+4791000001\n");
    assert_eq!(out, "+4791000001\n");
    o.message = Some("Hei".into());
    let mut sink = Vec::new();
    let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
    assert!(matches!(run_with(&source(), &o, &b"+4791000001\n"[..], sinks), Err(Error::Footer(_))));
    assert!(sink.is_empty(), "nothing may be written before the checks");
}

#[test]
fn service_class_skips_consent_and_footer() {
    let mut o = options(Format::Csv);
    o.filter.class = Class::Service;
    o.filter.footer = None;
    let input = "number,message\n+4791000002,Din ordre er klar\n+4791000003,Time i morgen\n";
    let (out, rej, report) = run(&source(), &o, input.as_bytes());
    assert_eq!(out, input);
    assert_eq!(rej, "number,message,reason\n");
    assert_eq!(report.counts.messages, 0);
}

#[test]
fn csv_replaces_number_stamps_message_and_keeps_other_fields_raw() {
    let input = "id,number,message,note\n\
                 1,+4791000001,Hei!,\"a, b\"\n\
                 2,+4791000006,\"Tilbud \"\"nå\"\"\",\"multi\nline\"\n\
                 3,+4791000003,Hei,x\n";
    let (out, rej, report) = run(&source(), &options(Format::Csv), input.as_bytes());
    assert_eq!(
        out,
        "id,number,message,note\n\
         1,+4791000001,Hei! Svar ACME STOPP til 2401,\"a, b\"\n\
         2,+4791000006,\"Tilbud \"\"nå\"\" Svar ACME STOPP til 2401\",\"multi\nline\"\n"
    );
    assert_eq!(rej, "id,number,message,note,reason\n3,+4791000003,Hei,x,NO_CONSENT\n");
    assert_eq!(report.counts.footer_added, 2);
}

#[test]
fn csv_crlf_bom_and_quoted_header() {
    let input =
        "\u{feff}\"number\",\"message\"\r\n+4791000001,\"Hei,\r\nKari\"\r\n+4791000003,x\r\n";
    let (out, rej, report) = run(&source(), &options(Format::Csv), input.as_bytes());
    assert_eq!(
        out,
        "\"number\",\"message\"\n+4791000001,\"Hei,\r\nKari Svar ACME STOPP til 2401\"\n"
    );
    assert_eq!(rej, "\"number\",\"message\",reason\n+4791000003,x,NO_CONSENT\n");
    assert_eq!(report.counts.input(), 2);
}

#[test]
fn csv_number_with_spaces_is_unquoted_and_normalised() {
    // Whatever the normaliser accepts, the output holds the E.164 form only.
    let input = "number,message\n\" +4791000001 \",Hei\n";
    let (out, _, _) = run(&source(), &options(Format::Csv), input.as_bytes());
    assert_eq!(out, "number,message\n+4791000001,Hei Svar ACME STOPP til 2401\n");
}

#[test]
fn csv_message_fill_for_missing_column_and_empty_cells() {
    let mut o = options(Format::Csv);
    o.message = Some("Tilbud, i dag".into());
    let (out, _, report) = run(&source(), &o, b"number\n+4791000001\n");
    assert_eq!(out, "number,message\n+4791000001,\"Tilbud, i dag Svar ACME STOPP til 2401\"\n");
    assert_eq!(report.counts.messages, 1);
    let (out, _, _) = run(&source(), &o, b"number,message\n+4791000001,\n+4791000006,Egen\n");
    assert_eq!(
        out,
        "number,message\n+4791000001,\"Tilbud, i dag Svar ACME STOPP til 2401\"\n\
         +4791000006,Egen Svar ACME STOPP til 2401\n"
    );
}

/// Without --message an empty message is still a marketing message: it gets the footer
/// (alone), never goes out without the opt-out. No message at all (no column, no field,
/// `null`) is left as it is, as for `lines`: the filter stamps the messages it is given.
#[test]
fn empty_messages_get_the_footer_alone() {
    let (out, _, report) =
        run(&source(), &options(Format::Csv), b"number,message\n+4791000001,\n+4791000006,\"\"\n");
    assert_eq!(
        out,
        "number,message\n+4791000001,Svar ACME STOPP til 2401\n+4791000006,\"Svar ACME STOPP til 2401\"\n"
    );
    assert_eq!((report.counts.messages, report.counts.footer_added), (2, 2));
    let input = "{\"to\":\"+4791000001\",\"body\":\"\"}\n{\"to\":\"+4791000006\"}\n{\"to\":\"+4791000006\",\"body\":null}\n";
    let (out, _, _) = run(&source(), &options(Format::Jsonl), input.as_bytes());
    assert_eq!(
        out,
        "{\"to\":\"+4791000001\",\"body\":\"Svar ACME STOPP til 2401\"}\n{\"to\":\"+4791000006\"}\n"
    );
    let (out, _, _) = run(&source(), &options(Format::Csv), b"number\n+4791000001\n");
    assert_eq!(out, "number\n+4791000001\n");
}

#[test]
fn csv_custom_columns_and_missing_column_error() {
    let mut o = options(Format::Csv);
    o.number_column = "msisdn".into();
    o.message_column = "text".into();
    let (out, _, _) = run(&source(), &o, b"text,msisdn\nHei,+4791000001\n");
    assert_eq!(out, "text,msisdn\nHei Svar ACME STOPP til 2401,+4791000001\n");
    let mut sink = Vec::new();
    let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
    let err = run_with(&source(), &options(Format::Csv), &b"phone\n+4791000001\n"[..], sinks)
        .unwrap_err();
    assert!(matches!(err, Error::Csv { line: 1, .. }), "{err}");
    assert!(err.to_string().contains("--number-column"), "{err}");
    assert!(sink.is_empty());
    let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
    assert!(matches!(
        run_with(&source(), &options(Format::Csv), &b""[..], sinks),
        Err(Error::Csv { .. })
    ));
}

/// Regression: a header naming the number or the message column twice was accepted; the
/// run decided and stamped the first while the other went out as it came, so a consumer
/// reading columns by name (the last one wins in many) could send to a number never
/// decided, or a message without the opt-out footer. Refused before any output.
#[test]
fn csv_header_naming_a_column_twice_is_refused() {
    for input in [
        &b"number,message,number\n+4791000001,Hei,+4740000000\n"[..],
        b"number,message,message\n+4791000001,Hei,Uten bunntekst\n",
        b"\"number\",message,number\n+4791000001,Hei,+4740000000\n",
    ] {
        let mut sink = Vec::new();
        let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
        let err = run_with(&source(), &options(Format::Csv), input, sinks).unwrap_err();
        assert!(matches!(err, Error::Csv { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("more than once"), "{err}");
        assert!(sink.is_empty(), "nothing may be written before the header is checked");
    }
    // Other columns may repeat.
    let (out, _, _) = run(&source(), &options(Format::Csv), b"x,number,x\n1,+4791000001,2\n");
    assert_eq!(out, "x,number,x\n1,+4791000001,2\n");
}

/// Regression: with CR-only line ends (classic Mac) the input has no line end the reader
/// knows, so the whole file became the header: 0 records, exit 0, and the file written to
/// the output as its header line, numbers and messages undecided, where a reader that
/// ends lines at CR (Python's csv, spreadsheets) finds every record again. A carriage
/// return left in the header line is refused before any output.
#[test]
fn csv_header_with_a_bare_carriage_return_is_refused() {
    for input in [
        &b"number,message\r+4791000002,Hei\r+4791000003,Hei\r"[..],
        b"id,number,message\r1,+4791000002,Hei\r",
        b"number,message\r\r\n+4791000001,Hei\n",
    ] {
        let mut sink = Vec::new();
        let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
        let err = run_with(&source(), &options(Format::Csv), input, sinks).unwrap_err();
        assert!(matches!(err, Error::Csv { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("carriage return"), "{err}");
        assert!(!err.to_string().contains("9100000"), "no number in the error: {err}");
        assert!(sink.is_empty(), "nothing may be written before the header is checked");
    }
}

#[test]
fn same_number_and_message_column_is_refused() {
    let mut o = options(Format::Csv);
    o.message_column = "number".into();
    let mut sink = Vec::new();
    let sinks = Sinks { output: &mut sink, rejects: None, progress: None };
    assert!(matches!(
        run_with(&source(), &o, &b"number\n+4791000001\n"[..], sinks),
        Err(Error::Options(_))
    ));
}

#[test]
fn csv_bad_records_are_malformed_and_the_run_continues() {
    let input = b"number,message\n\
                 +4791000001,ok\n\
                 +4791000006,bad\"quote\"s\n\
                 \"+4791000006\"x,after\n\
                 +4791000006,too,many\n\
                 +4791000006\n\
                 +4791000006,\xff\xfe\n\
                 +4791000006,fine\n\
                 +4791000003,\"never closed\nat all\n";
    let (out, rej, report) = run(&source(), &options(Format::Csv), input);
    assert_eq!(
        out,
        "number,message\n+4791000001,ok Svar ACME STOPP til 2401\n+4791000006,fine Svar ACME STOPP til 2401\n"
    );
    assert_eq!(report.counts.reasons[Reason::Malformed.index()], 6);
    assert_eq!(report.malformed_lines, [3, 4, 5, 6, 7, 9]);
    // Records that do not split are kept whole as one quoted field.
    assert!(
        rej.starts_with(
            "number,message,reason\n\"+4791000006,bad\"\"quote\"\"s\",MALFORMED\n\
             \"\"\"+4791000006\"\"x,after\",MALFORMED\n+4791000006,too,many,MALFORMED\n"
        ),
        "{rej}"
    );
    assert!(rej.ends_with(",\"\"never closed\nat all\n\",MALFORMED\n"), "{rej}");
    // The rejects file is valid CSV: every record splits, its last field is the reason,
    // and unquoting the kept-whole ones gives the original records back.
    let mut originals = Vec::new();
    let mut pos = 0;
    while pos < rej.len() {
        let (range, next, _) = crate::filter::csv::next_record_reference(rej.as_bytes(), pos);
        let rec = &rej.as_bytes()[range];
        pos = next;
        let mut fields = Vec::new();
        crate::filter::csv::split_fields_reference(rec, &mut fields).expect("valid csv");
        let last = fields.last().expect("a field").value(rec);
        assert!(last.as_ref() == b"reason" || last.as_ref() == b"MALFORMED", "{rej}");
        if fields.len() == 2 {
            originals.push(fields[0].value(rec).into_owned());
        }
    }
    assert!(originals.contains(&b"+4791000006,bad\"quote\"s".to_vec()));
    assert!(originals.contains(&b"+4791000003,\"never closed\nat all\n".to_vec()));
}

/// A carriage return inside an unquoted field (a lone CR, or `\r\r\n`) ends the line for
/// many CSV readers: written out as it came, the record would read back as a message
/// without the footer and a second record. It is MALFORMED, kept whole (quoted) in the
/// rejects; inside quotes it is the field's text and goes out quoted.
#[test]
fn csv_carriage_return_outside_quotes_is_malformed() {
    let input = b"number,message\n\
                 +4791000006,a\rb\n\
                 +4791000006,Hei\r\r\n\
                 +4791000001,\"line\rbreak\"\n";
    let (out, rej, report) = run(&source(), &options(Format::Csv), input);
    assert_eq!(out, "number,message\n+4791000001,\"line\rbreak Svar ACME STOPP til 2401\"\n");
    assert_eq!(report.malformed_lines, [2, 3]);
    assert_eq!(
        rej,
        "number,message,reason\n\"+4791000006,a\rb\",MALFORMED\n\"+4791000006,Hei\r\",MALFORMED\n"
    );
}

/// Messages longer than one SIMD block (the UTF-8 check works in 64-byte blocks) are
/// checked to their last byte: any invalid sequence anywhere makes the record MALFORMED.
#[test]
fn long_messages_with_invalid_utf8_anywhere_are_malformed() {
    let long = "Hei på deg! Nå er det 30 % på alt i butikken vår i hele helgen. ".repeat(3);
    let bad: [&[u8]; 5] = [b"\xff", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80"];
    for at in [0, 63, 64, 100, long.len()] {
        for b in bad {
            let mut msg = long.as_bytes()[..at].to_vec();
            msg.extend_from_slice(b);
            msg.extend_from_slice(&long.as_bytes()[at..]);
            let mut input = b"number,message\n+4791000001,".to_vec();
            input.extend_from_slice(&msg);
            input.extend_from_slice(b"\n+4791000006,");
            input.extend_from_slice(long.as_bytes());
            input.push(b'\n');
            let (out, _, report) = run(&source(), &options(Format::Csv), &input);
            assert_eq!(report.counts.reasons[Reason::Malformed.index()], 1, "{b:?} at {at}");
            assert!(out.contains("+4791000006,Hei på deg"), "{b:?} at {at}: {out}");
        }
    }
}

/// A chunk that is not valid UTF-8 as a whole is checked message by message: bytes that
/// are not UTF-8 in another column (passed through untouched) reject nothing, and a bad
/// message rejects only its own record, wherever it is in the chunk.
#[test]
fn invalid_utf8_outside_messages_rejects_nothing() {
    let mut input = b"number,note,message\n+4791000006,\xff\xfe,Hei p\xc3\xa5 deg\n".to_vec();
    input.extend_from_slice(b"+4791000006,ok,bad \xc3\n+4791000006,\"q\xe2\",fine\n");
    let (out, _, report) = run(&source(), &options(Format::Csv), &input);
    assert_eq!(report.counts.reasons[Reason::Malformed.index()], 1, "{out}");
    assert_eq!(report.counts.reasons[Reason::Duplicate.index()], 1, "{out}");
    assert!(out.contains("Hei på deg Svar ACME STOPP til 2401"), "{out}");
}

/// Known quirk, by design: record boundaries follow quote parity (so parallel chunks
/// agree with a sequential read), so an odd bare quote runs on to the next quote. Every
/// line it swallows is rejected as part of one MALFORMED record, never passed through.
#[test]
fn csv_odd_bare_quote_swallows_until_the_next_quote() {
    let input =
        b"number,message\n+4791000006,it\"s\n+4791000001,a\n+4791000001,b\"\n+4791000006,c\n";
    let (out, rej, report) = run(&source(), &options(Format::Csv), input);
    assert_eq!(out, "number,message\n+4791000006,c Svar ACME STOPP til 2401\n");
    assert_eq!(report.counts.reasons[Reason::Malformed.index()], 1);
    assert_eq!(report.malformed_lines, [2]);
    assert!(rej.contains("MALFORMED"));
}

/// A quote never closed makes the rest of the input one field: past 1 MiB the run stops
/// with the line it started on (counting the header), the records before it written.
#[test]
fn a_quote_never_closed_stops_the_run_at_its_line() {
    let mut input = b"number,message\n+4791000001,a\n+4791000001,\"b\n".to_vec();
    while input.len() <= crate::bounded::MAX_RECORD + 100 {
        input.extend_from_slice(b"+4791000006,\"c\"\n");
    }
    let (mut out, mut rej) = (Vec::new(), Vec::new());
    let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
    let err = run_with(&source(), &options(Format::Csv), &input[..], sinks).unwrap_err();
    assert!(
        matches!(err, crate::Error::RecordTooLong(crate::bounded::RecordTooLong { line: 3 })),
        "{err:?}"
    );
    assert_eq!(out, b"number,message\n+4791000001,a Svar ACME STOPP til 2401\n");
    assert_eq!(rej, b"number,message,reason\n");
}

#[test]
fn jsonl_passes_fields_through_and_stamps_body() {
    let input = concat!(
        r#"{"id":1,"to":"+4791000001","body":"Hei \u00e6","meta":{"to":"x"}}"#,
        "\n",
        r#"{ "body" : "Tilbud\n" , "to" : "+4791000006" }"#,
        "\n",
        r#"{"to":"+4791000003","body":"x"}"#,
        "\n",
        r#"{"to":"+4791000001","body":"again"}"#,
        "\n",
    );
    let (out, rej, report) = run(&source(), &options(Format::Jsonl), input.as_bytes());
    assert_eq!(
        out,
        concat!(
            r#"{"id":1,"to":"+4791000001","body":"Hei \u00e6 Svar ACME STOPP til 2401","meta":{"to":"x"}}"#,
            "\n",
            r#"{ "body" : "Tilbud\nSvar ACME STOPP til 2401" , "to" : "+4791000006" }"#,
            "\n",
        )
    );
    assert_eq!(
        rej,
        concat!(
            r#"{"to":"+4791000003","body":"x","reason":"NO_CONSENT"}"#,
            "\n",
            r#"{"to":"+4791000001","body":"again","reason":"DUPLICATE"}"#,
            "\n",
        )
    );
    assert_eq!(report.counts.input(), 4);
    for line in out.lines().chain(rej.lines()) {
        serde_json::from_str::<serde_json::Value>(line).expect("output is JSON");
    }
}

#[test]
fn jsonl_custom_fields_fill_and_numbers() {
    let mut o = options(Format::Jsonl);
    o.number_field = "msisdn".into();
    o.message_field = "text".into();
    o.message = Some("Hei \"du\"".into());
    let input = "{\"msisdn\":\"+4791000001\"}\n{\"text\":null,\"msisdn\":\"+4791000006\"}\n";
    let (out, _, _) = run(&source(), &o, input.as_bytes());
    assert_eq!(
        out,
        "{\"msisdn\":\"+4791000001\",\"text\":\"Hei \\\"du\\\" Svar ACME STOPP til 2401\"}\n\
         {\"text\":\"Hei \\\"du\\\" Svar ACME STOPP til 2401\",\"msisdn\":\"+4791000006\"}\n"
    );
}

#[test]
fn jsonl_bad_lines_are_malformed_with_line_numbers() {
    let input = "{\"to\":\"+4791000001\",\"body\":\"ok\"}\n\
                 not json\n\
                 {\"body\":\"no number\"}\n\
                 [1,2]\n\
                 {\"to\":null}\n\
                 {\"to\":\"+4791000006\",\"body\":7}\n\
                 {\"to\":\"+4791000006\",\"body\":\"\\ud800\"}\n\
                 {\"to\":\"+4791000006\",\"to\":\"+4791000001\"}\n\
                 \n\
                 {\"to\":\"+4791000006\",\"body\":\"ok\"}\n";
    let (out, rej, report) = run(&source(), &options(Format::Jsonl), input.as_bytes());
    assert_eq!(out.lines().count(), 2);
    assert_eq!(report.malformed_lines, [2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(report.counts.blank_lines, 1);
    let first = rej.lines().next().unwrap();
    assert_eq!(first, r#"{"record":"not json","reason":"MALFORMED"}"#);
    assert_eq!(rej.lines().count(), 7);
    for line in rej.lines() {
        assert!(line.ends_with(r#""reason":"MALFORMED"}"#), "{line}");
        if !line.contains("ud800") {
            let v: serde_json::Value = serde_json::from_str(line).expect("rejects are JSON");
            assert_eq!(v["reason"], "MALFORMED");
        }
    }
}

#[test]
fn footer_and_segment_edge_cases() {
    let mut o = options(Format::Csv);
    o.filter.max_segments = Some(1);
    let long_gsm = "a".repeat(140); // + " Svar ACME STOPP til 2401" = 165 > 160
    let euro = "€".repeat(67); // 134 septets + 25 = 159: still one segment
    let emoji = format!("{}🎉", "b".repeat(40)); // UCS-2: 42 + 25 = 67 units
    let input = format!(
        "number,message\n+4791000001,{long_gsm}\n+4791000006,{euro}\n+4791000006,x\n\
         +4791000001,y\n"
    );
    let (out, rej, report) = run(&source(), &o, input.as_bytes());
    assert_eq!(out, format!("number,message\n+4791000006,{euro} Svar ACME STOPP til 2401\n"));
    assert!(rej.contains(&format!("{long_gsm},TOO_LONG")), "{rej}");
    assert_eq!(report.counts.reasons[Reason::TooLong.index()], 1);
    // The same long message without a limit: allowed, pushed into a second segment.
    o.filter.max_segments = None;
    let input = format!(
        "number,message\n+4791000001,{long_gsm}\n+4791000006,{emoji}\n+4791000005,Hei SVAR acme stopp TIL 2401\n+4791000004,x\n"
    );
    let mut src = source();
    src.consents
        .insert((e("+4791000005"), ACME.into(), "offers".into()), consent(10, Some(11), None));
    let (out, _, report) = run(&src, &o, input.as_bytes());
    assert_eq!(
        out,
        format!(
            "number,message\n+4791000001,{long_gsm} Svar ACME STOPP til 2401\n\
             +4791000006,{emoji} Svar ACME STOPP til 2401\n+4791000005,Hei SVAR acme stopp TIL 2401\n"
        )
    );
    let c = report.counts;
    assert_eq!((c.messages, c.footer_added, c.footer_extra_segment), (3, 2, 1));
    assert_eq!((c.segments_before, c.segments_after), (3, 4));
}

#[test]
fn message_ending_in_whitespace_gets_no_extra_space() {
    let (out, _, _) =
        run(&source(), &options(Format::Csv), b"number,message\n+4791000001,\"Hei \"\n");
    assert_eq!(out, "number,message\n+4791000001,\"Hei Svar ACME STOPP til 2401\"\n");
}

#[test]
fn expiry_boundaries_follow_now() {
    let src = source();
    let at = |now| {
        Filter::new(&src, ACME, "offers", FilterOptions::at(now)).decide("+4791000004").reason
    };
    assert_eq!(at(NOW - 1), Reason::Allowed);
    assert_eq!(at(NOW), Reason::ConsentExpired);
    assert_eq!(at(NOW + 1), Reason::ConsentExpired);
    assert_eq!(at(9), Reason::NoConsent); // before the consent was granted
}

#[test]
fn filter_batch_equals_single_decisions() {
    let src = source();
    let f = Filter::new(&src, ACME, "offers", FilterOptions::at(NOW));
    let numbers: Vec<String> = (0..100)
        .map(|i| if i % 7 == 0 { "junk".into() } else { format!("+47910000{:02}", i % 12) })
        .collect();
    let mut batch = Vec::new();
    f.decide_batch(&numbers, &mut batch);
    let single: Vec<Verdict> = numbers.iter().map(|n| f.decide(n)).collect();
    assert_eq!(batch, single);
    // Usable from many threads.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(f.decide("+4791000001").reason, Reason::Allowed));
        }
    });
}

#[test]
fn decide_message_stamps_and_checks_length() {
    let src = source();
    let mut o = FilterOptions::at(NOW);
    let mut out = String::new();
    assert!(
        Filter::new(&src, ACME, "offers", o.clone())
            .decide_message("+4791000001", "Hei", &mut out)
            .is_err()
    );
    o.footer = Some(footer());
    o.max_segments = Some(1);
    let f = Filter::new(&src, ACME, "offers", o);
    let v = f.decide_message("+4791000001", "Hei", &mut out).unwrap();
    assert_eq!((v.reason, out.as_str()), (Reason::Allowed, "Hei Svar ACME STOPP til 2401"));
    let v = f.decide_message("+4791000001", &"x".repeat(150), &mut out).unwrap();
    assert_eq!(v.reason, Reason::TooLong);
}

/// The simple single-threaded model of `lines`: split, skip blank lines, normalise,
/// first occurrence wins, decide.
fn model_lines(f: &Filter<'_, MemorySource>, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut rej) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let reason = match f.normalize(line) {
            Err(r) => r,
            Ok(n) if !seen.insert(n) => Reason::Duplicate,
            Ok(n) => f.decide_e164(n),
        };
        if reason.is_allowed() {
            out.extend_from_slice(format!("{}\n", f.normalize(line).unwrap()).as_bytes());
        } else {
            rej.extend_from_slice(line);
            rej.extend_from_slice(format!("\t{reason}\n").as_bytes());
        }
    }
    (out, rej)
}

fn run_bytes(src: &MemorySource, o: &RunOptions, input: &[u8]) -> (Vec<u8>, Vec<u8>, Report) {
    let (mut out, mut rej) = (Vec::new(), Vec::new());
    let sinks = Sinks { output: &mut out, rejects: Some(&mut rej), progress: None };
    let report = run_with(src, o, input, sinks).unwrap();
    (out, rej, report)
}

fn number_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (1u32..13).prop_map(|i| format!("+47910000{i:02}")),
        1 => Just("junk".to_string()),
        1 => Just(String::new()),
        1 => Just("+4791000001\r".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any input, chunk size and thread count: the parallel `lines` run writes exactly
    /// what the sequential model writes, duplicates across chunks included.
    #[test]
    fn parallel_lines_equal_model(numbers in proptest::collection::vec(number_strategy(), 0..300),
                                  threads in 1usize..4, chunk in 1usize..200) {
        let src = source();
        let mut o = options(Format::Lines);
        (o.threads, o.chunk_bytes) = (threads, chunk);
        let input = numbers.join("\n");
        let (out, rej, report) = run_bytes(&src, &o, input.as_bytes());
        let f = Filter::new(&src, ACME, "offers", o.filter.clone());
        let (mout, mrej) = model_lines(&f, input.as_bytes());
        prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&mout));
        prop_assert_eq!(String::from_utf8_lossy(&rej), String::from_utf8_lossy(&mrej));
        prop_assert_eq!(report.counts.input() as usize, numbers.iter().filter(|n| !n.is_empty()).count());
    }

    /// csv and jsonl, with messages, quoting and malformed records: many small chunks on
    /// several threads give the same bytes and counts as one chunk on one thread.
    #[test]
    fn parallel_csv_and_jsonl_equal_sequential(
        rows in proptest::collection::vec((number_strategy(), "[a-c ,\"\n€🎉]{0,8}", 0u8..4), 0..60),
        threads in 2usize..4, chunk in 1usize..300,
    ) {
        let src = source();
        let mut csv = b"number,message\n".to_vec();
        let mut jsonl = Vec::new();
        for (n, m, kind) in &rows {
            let n = n.trim_end_matches('\r');
            match kind {
                0 => { crate::filter::csv::push_field(&mut csv, n.as_bytes()); }
                _ => csv.extend_from_slice(n.as_bytes()),
            }
            csv.push(b',');
            match kind {
                3 => { csv.extend_from_slice(m.as_bytes()); } // may be malformed
                _ => crate::filter::csv::push_field(&mut csv, m.as_bytes()),
            }
            csv.push(b'\n');
            let obj = if *kind == 3 {
                format!("{{\"to\":\"{n}\",\"body\":{m}}}")
            } else {
                serde_json::json!({"to": n, "body": m, "k": kind}).to_string()
            };
            jsonl.extend_from_slice(obj.as_bytes());
            jsonl.push(b'\n');
        }
        for (format, input) in [(Format::Csv, &csv), (Format::Jsonl, &jsonl)] {
            let mut par = options(format);
            (par.threads, par.chunk_bytes) = (threads, chunk);
            let mut seq = options(format);
            (seq.threads, seq.chunk_bytes) = (1, 1 << 30);
            let (po, pr, prep) = run_bytes(&src, &par, input);
            let (so, sr, srep) = run_bytes(&src, &seq, input);
            prop_assert_eq!(String::from_utf8_lossy(&po), String::from_utf8_lossy(&so));
            prop_assert_eq!(String::from_utf8_lossy(&pr), String::from_utf8_lossy(&sr));
            prop_assert_eq!(prep.counts, srep.counts);
            prop_assert_eq!(prep.malformed_lines, srep.malformed_lines);
        }
    }
}

/// The sequential csv run agrees with the `csv` crate on well-formed input: every
/// record decided once, allowed rows keep their other fields.
#[test]
fn csv_agrees_with_csv_crate() {
    let mut input = b"number,message,extra\n".to_vec();
    for i in 0..500u32 {
        let n = format!("+47910000{:02}", i % 13);
        let m = match i % 4 {
            0 => "plain".to_string(),
            1 => "with, comma".to_string(),
            2 => format!("quote \"{i}\""),
            _ => "multi\r\nline".to_string(),
        };
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record([n.as_str(), m.as_str(), &i.to_string()]).unwrap();
        input.extend_from_slice(&w.into_inner().unwrap());
    }
    let src = source();
    let mut o = options(Format::Csv);
    (o.threads, o.chunk_bytes) = (3, 97);
    let (out, rej, report) = run_bytes(&src, &o, &input);
    let read =
        |b: &[u8]| ::csv::Reader::from_reader(b).records().map(|r| r.unwrap()).collect::<Vec<_>>();
    let (out, rej, all) = (read(&out), read(&rej), read(&input));
    assert_eq!(out.len() + rej.len(), all.len());
    assert_eq!(report.counts.input() as usize, all.len());
    let f = Filter::new(&src, ACME, "offers", o.filter.clone());
    let mut seen = HashSet::new();
    let (mut oi, mut ri) = (0, 0);
    for rec in &all {
        let n = f.normalize(rec[0].as_bytes()).unwrap();
        let reason = if seen.insert(n) { f.decide_e164(n) } else { Reason::Duplicate };
        if reason.is_allowed() {
            assert_eq!(&out[oi][0], n.to_string());
            assert_eq!(out[oi][1], format!("{} Svar ACME STOPP til 2401", &rec[1]));
            assert_eq!(&out[oi][2], &rec[2]);
            oi += 1;
        } else {
            assert_eq!(&rej[ri][3], reason.as_str());
            assert_eq!(&rej[ri][1], &rec[1]);
            ri += 1;
        }
    }
}

/// Heavy duplicates across many small chunks on four threads: equal to the model (the
/// first occurrence of each number races between neighbouring chunks).
#[test]
fn cross_chunk_duplicates_stress() {
    let src = source();
    let mut o = options(Format::Lines);
    (o.threads, o.chunk_bytes) = (4, 64);
    let mut input = String::new();
    for i in 0..20_000u32 {
        // Each number recurs within a few dozen records, so first occurrences race
        // between neighbouring chunks.
        input.push_str(&format!("+4791{:06}\n", (i + (i * 7919) % 29) / 4));
    }
    let f = Filter::new(&src, ACME, "offers", o.filter.clone());
    let (mout, mrej) = model_lines(&f, input.as_bytes());
    for _ in 0..20 {
        let (out, rej, report) = run_bytes(&src, &o, input.as_bytes());
        assert!(out == mout && rej == mrej, "parallel output differs from the model");
        assert_eq!(report.counts.input(), 20_000);
    }
}

/// Opt-out routes by country (issue 22): the library's `Filter` and the stream agree; a
/// country without a route is NO_OPT_OUT_ROUTE only where the consent rules allowed, each
/// country's footer is stamped, `--message` fills with each country's footer, and the
/// report counts the rejected by country.
#[test]
fn routes_pick_the_footer_and_reject_countries_without_one() {
    let mut src = source();
    let dk = crate::phone::normalize(b"+4540100011", crate::phone::Region::NO).expect("valid");
    let fi = crate::phone::normalize(b"+358401234567", crate::phone::Region::NO).expect("valid");
    src.consents.insert((dk, ACME.into(), "offers".into()), consent(10, Some(11), None));
    src.consents.insert((fi, ACME.into(), "offers".into()), consent(10, Some(11), None));
    let dk_footer = Footer::new("Send {brand} STOP til {shortcode}", ACME, Some("+4570202020"))
        .expect("valid template");
    let routes = Routes::new(vec![
        (crate::phone::Region::NO, footer()),
        ("DK".parse().expect("region"), dk_footer),
    ]);
    let mut opts = options(Format::Csv);
    opts.filter.routes = Some(std::sync::Arc::new(routes));
    let f = Filter::new(&src, ACME, "offers", opts.filter.clone());
    assert_eq!(f.decide("+4540100011").reason, Reason::Allowed);
    assert_eq!(f.decide("+358401234567").reason, Reason::NoOptOutRoute);
    assert_eq!(f.decide("+4791000002").reason, Reason::Stopped);
    let mut stamped = String::new();
    f.decide_message("+4540100011", "Hej", &mut stamped).expect("decided");
    assert_eq!(stamped, "Hej Send ACME STOP til +4570202020");
    let input =
        "number,message\n+4791000001,Hei\n+4540100011,Hej\n+358401234567,Moi\n+4791000003,Hei\n";
    let (out, rej, report) = run(&src, &opts, input.as_bytes());
    assert_eq!(
        out,
        "number,message\n+4791000001,Hei Svar ACME STOPP til 2401\n\
         +4540100011,Hej Send ACME STOP til +4570202020\n"
    );
    assert_eq!(
        rej,
        "number,message,reason\n+358401234567,Moi,NO_OPT_OUT_ROUTE\n+4791000003,Hei,NO_CONSENT\n"
    );
    assert_eq!(report.counts.no_route_by_country(), vec![("FI".to_string(), 1)]);
    assert!(report.summary().contains("1 NO_OPT_OUT_ROUTE (FI 1)"), "{}", report.summary());
    // --message: each country's footer.
    opts.message = Some("Tilbud".into());
    let input = "number\n+4791000001\n+4540100011\n";
    let (out, _, _) = run(&src, &opts, input.as_bytes());
    assert_eq!(
        out,
        "number,message\n+4791000001,Tilbud Svar ACME STOPP til 2401\n\
         +4540100011,Tilbud Send ACME STOP til +4570202020\n"
    );
}
