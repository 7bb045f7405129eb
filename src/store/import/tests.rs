//! Bad-input tests for the CSV importer: every error path, and a never-panics property.

use proptest::prelude::*;

use super::*;
use crate::standing::StandingSource;
use crate::store::error::Field;

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path().join("s")).unwrap();
    (d, s)
}

fn run(kind: Kind, csv: &str, strict: bool) -> Result<ImportReport, StoreError> {
    let (_d, mut s) = store();
    import(
        &mut s,
        kind,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict, delimiter: b',' },
        |_| {},
    )
}

const C: &str =
    "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";
const CU: &str = "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n";
const GOOD: &str = "+4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,web_form,v1,web,,\n";

macro_rules! bad_rows {
    ($($name:ident: $kind:expr, $row:expr => $reason:expr;)*) => {$(
        #[test]
        fn $name() {
            let head = match $kind {
                Kind::Stops => "number,brand,stopped_at\n",
                Kind::Consents => C,
                Kind::Customers => CU,
            };
            let r = run($kind, &format!("{head}{}", $row), false).unwrap();
            assert_eq!(r.bad, 1, "{r:?}");
            assert_eq!(r.errors[0].reason, $reason);
            assert_eq!(r.errors[0].line, 2);
        }
    )*};
}

bad_rows! {
    customer_star: Kind::Customers, "+4791234567,*,purchase,2025-01-01T00:00:00Z,,,\n" =>
        Invalid::StarBrandInConsent;
    customer_no_relationship: Kind::Customers, "+4791234567,ACME,,2025-01-01T00:00:00Z,,,\n" =>
        Invalid::Empty(Field::Relationship);
    customer_no_start: Kind::Customers, "+4791234567,ACME,purchase,,,,\n" =>
        Invalid::Empty(Field::StartedAt);
    customer_bad_purchase: Kind::Customers, "+4791234567,ACME,purchase,2025-01-01T00:00:00Z,last week,,\n" =>
        Invalid::BadTime(Field::LastPurchaseAt);
    customer_bad_end: Kind::Customers, "+4791234567,ACME,membership,2025-01-01T00:00:00Z,,never,\n" =>
        Invalid::BadTime(Field::EndsAt);
    customer_bad_informed: Kind::Customers, "+4791234567,ACME,membership,2025-01-01T00:00:00Z,,,1960-01-01T00:00:00Z\n" =>
        Invalid::TimeOutOfRange(Field::InformedAt);
    customer_short_row: Kind::Customers, "+4791234567,ACME,membership,2025-01-01T00:00:00Z\n" =>
        Invalid::FieldCount;
    stop_bad_number: Kind::Stops, "hello,ACME,2026-01-01T00:00:00Z\n" =>
        Invalid::Number(crate::phone::PhoneError::NotANumber);
    stop_empty_number: Kind::Stops, ",ACME,2026-01-01T00:00:00Z\n" => Invalid::Empty(Field::Number);
    stop_empty_brand: Kind::Stops, "+4791234567,,2026-01-01T00:00:00Z\n" => Invalid::Empty(Field::Brand);
    stop_bad_time: Kind::Stops, "+4791234567,ACME,yesterday\n" => Invalid::BadTime(Field::StoppedAt);
    stop_old_time: Kind::Stops, "+4791234567,ACME,1960-01-01T00:00:00Z\n" =>
        Invalid::TimeOutOfRange(Field::StoppedAt);
    stop_short_row: Kind::Stops, "+4791234567,ACME\n" => Invalid::FieldCount;
    stop_long_row: Kind::Stops, "+4791234567,ACME,2026-01-01T00:00:00Z,x\n" => Invalid::FieldCount;
    stop_not_utf8: Kind::Stops, "+4791234567,AC\u{fffd}ME,2026-01-01T00:00:00Z\n".replace('\u{fffd}', "\x01") =>
        Invalid::ControlChar(Field::Brand);
    consent_star: Kind::Consents, "+4791234567,*,offers,sms,2026-01-01T00:00:00Z,web_form,v1,web,,\n" =>
        Invalid::StarBrandInConsent;
    consent_no_method: Kind::Consents, "+4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,,v1,web,,\n" =>
        Invalid::Empty(Field::Method);
    consent_no_purpose: Kind::Consents, "+4791234567,ACME,,sms,2026-01-01T00:00:00Z,m,v1,web,,\n" =>
        Invalid::Empty(Field::Purpose);
    consent_bad_expiry: Kind::Consents, "+4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,m,v1,web,soon,\n" =>
        Invalid::BadTime(Field::ExpiresAt);
    consent_bad_confirm: Kind::Consents, "+4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,m,v1,web,,x\n" =>
        Invalid::BadTime(Field::ConfirmedAt);
    consent_no_granted: Kind::Consents, "+4791234567,ACME,offers,sms,,m,v1,web,,\n" =>
        Invalid::Empty(Field::GrantedAt);
    consent_long_text: Kind::Consents, format!("+4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,m,{},web,,\n", "x".repeat(2000)) =>
        Invalid::TooLong(Field::TextRef);
}

#[test]
fn not_utf8_is_reported() {
    let (_d, mut s) = store();
    let mut csv = b"number,brand,stopped_at\n+4791234567,AC".to_vec();
    csv.extend_from_slice(b"\xff\xfe,2026-01-01T00:00:00Z\n");
    let r = import(
        &mut s,
        Kind::Stops,
        &csv[..],
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!(r.errors[0].reason, Invalid::NotUtf8(Field::Brand));
}

#[test]
fn header_errors_name_columns() {
    for (csv, missing, extra, dup) in [
        ("number,brand\n", vec!["stopped_at"], vec![], vec![]),
        ("number,brand,stopped_at,extra\n", vec![], vec!["extra"], vec![]),
        ("number,brand,stopped_at,brand\n", vec![], vec![], vec!["brand"]),
        ("", vec!["number", "brand", "stopped_at"], vec![], vec![]),
    ] {
        match run(Kind::Stops, csv, false) {
            Err(StoreError::Header(h)) => {
                assert_eq!(h.missing, missing, "{csv}");
                assert_eq!(h.extra, extra, "{csv}");
                assert_eq!(h.duplicate, dup, "{csv}");
            }
            other => panic!("{csv}: {other:?}"),
        }
    }
}

#[test]
fn columns_in_any_order_and_bom() {
    let r = run(
        Kind::Stops,
        "\u{feff}stopped_at,number,brand\n2026-01-01T00:00:00Z,+4791234567,ACME\n",
        true,
    )
    .unwrap();
    assert_eq!((r.imported, r.bad), (1, 0));
}

#[test]
fn strict_writes_nothing_default_writes_good_rows() {
    let csv = format!("{C}{GOOD}bad,ACME,offers,sms,2026-01-01T00:00:00Z,m,v,s,,\n{GOOD}");
    let (_d, mut s) = store();
    let r = import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: true, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert!(r.aborted);
    assert_eq!(s.last_seq(), 0);
    let r = import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!((r.imported, r.bad, r.errors[0].line), (2, 1, 3));
    assert_eq!(s.last_seq(), 2);
}

#[test]
fn masks_numbers_in_row_errors() {
    let r = run(Kind::Stops, "number,brand,stopped_at\n+4791234567,ACME,never\n", false).unwrap();
    let text = r.errors[0].to_string();
    assert!(!text.contains("4791234567"), "{text}");
    assert!(text.contains("+47*****567"), "{text}");
}

#[test]
fn counts_consents_that_do_not_lift_a_stop() {
    let (_d, mut s) = store();
    let n = crate::phone::normalize(b"+4791234567", Region::NO).unwrap();
    s.append_stop(n, "ACME", parse_rfc3339("2026-06-01T00:00:00Z").unwrap()).unwrap();
    let csv = format!(
        "{C}+4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,m,v,s,,\n\
         +4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,m,v,s,,2026-07-02T00:00:00Z\n\
         +4791234567,ACME,offers,sms,2026-01-01T00:00:00Z,m,v,s,,\n"
    );
    let r = import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!(r.not_lifted, 1);
}

#[test]
fn not_lifted_is_counted_per_brand_and_purpose_when_rows_alternate() {
    let (_d, mut s) = store();
    let at = |t: &str| parse_rfc3339(t).unwrap();
    for (n, b) in [("+4791234567", "ACME"), ("+4791234568", "*"), ("+4791234569", "OTHER")] {
        let n = crate::phone::normalize(n.as_bytes(), Region::NO).unwrap();
        s.append_stop(n, b, at("2026-06-01T00:00:00Z")).unwrap();
    }
    // Rows switch brand and purpose every row (each scope resolved once, reused). Counted:
    // unconfirmed sms consents granted after a stop that applies to their brand.
    let mut csv = C.to_string();
    for _ in 0..3 {
        for (n, b, p, conf) in [
            ("+4791234567", "ACME", "offers", ""),  // counted
            ("+4791234567", "ACME", "news", ""),    // counted
            ("+4791234567", "OTHER", "offers", ""), // no stop for OTHER
            ("+4791234568", "OTHER", "news", ""),   // `*` stop: counted
            ("+4791234569", "OTHER", "news", "2026-07-01T00:00:00Z"), // confirmed: lifts
            ("+4791234569", "ACME", "offers", ""),  // no stop for ACME
        ] {
            csv.push_str(&format!("{n},{b},{p},sms,2026-07-01T00:00:00Z,m,v,s,,{conf}\n"));
        }
    }
    let r = import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!((r.imported, r.bad, r.not_lifted), (18, 0, 9), "{r:?}");
}

#[test]
fn a_row_the_store_refuses_is_a_bad_row_with_its_line_and_the_rest_imports() {
    // Confirmed before granted: refused by the event's validation (done once, by the batch).
    let csv = format!(
        "{C}{GOOD}+4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,m,v,s,,2026-06-01T00:00:00Z\n{GOOD}"
    );
    let r = run(Kind::Consents, &csv, false).unwrap();
    assert_eq!((r.imported, r.bad), (2, 1), "{r:?}");
    assert_eq!(r.errors[0].line, 3);
    assert_eq!(r.errors[0].reason, Invalid::ConfirmedBeforeGranted);
    assert_eq!(r.errors[0].number.as_deref(), Some("+47*****567"));
    assert_eq!(r.last_seq, 2);
}

#[test]
fn a_stop_is_found_for_a_row_deep_in_a_large_import() {
    // The view of the store before the import is taken at the first unconfirmed consent,
    // after many rows already written to the journal (uncommitted): it holds the stop,
    // none of the import's own rows, and the import commits whole.
    let (_d, mut s) = store();
    let at = |t: &str| parse_rfc3339(t).unwrap();
    let stopped = crate::phone::normalize(b"+4791234567", Region::NO).unwrap();
    s.append_stop(stopped, "ACME", at("2026-06-01T00:00:00Z")).unwrap();
    let mut csv = C.to_string();
    let rows = 80_000u64;
    for i in 0..rows {
        csv.push_str(&format!(
            "+479{:07},ACME,offers,sms,2026-07-01T00:00:00Z,m,v,s,,2026-07-01T00:00:00Z\n",
            2_000_000 + i
        ));
    }
    csv.push_str("+4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,m,v,s,,\n");
    let r = import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!((r.imported, r.bad, r.not_lifted, r.last_seq), (rows + 1, 0, 1, rows + 2));
    let v = s.view().unwrap();
    assert_eq!(v.overlay_len(), rows + 2);
    let scope = v.scope("ACME", "offers");
    let n = crate::phone::normalize(b"+4792000000", Region::NO).unwrap();
    assert!(v.standing(&scope, n).consent.is_some());
}

proptest! {
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), stops in any::<bool>()) {
        let (_d, mut s) = store();
        let kind = if stops { Kind::Stops } else { Kind::Consents };
        let mut input = if stops { b"number,brand,stopped_at\n".to_vec() } else { C.as_bytes().to_vec() };
        input.extend_from_slice(&body);
        let _ = import(&mut s, kind, &input[..], ImportOptions { region: Region::NO, strict: false, delimiter: b',' }, |_| {});
        let _ = import(&mut s, kind, &body[..], ImportOptions { region: Region::NO, strict: true, delimiter: b',' }, |_| {});
    }

    #[test]
    fn never_panics_on_field_soup(fields in proptest::collection::vec("[ -~]{0,30}", 10)) {
        let csv = format!("{C}{}\n", fields.join(","));
        let _ = run(Kind::Consents, &csv, false);
    }
}

#[test]
fn channel_is_lowercased() {
    let (_d, mut s) = store();
    let csv = format!("{C}+4791234567,ACME,offers,SMS,2026-01-01T00:00:00Z,web_form,v1,web,,\n");
    import(
        &mut s,
        Kind::Consents,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: false, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    let v = s.view().unwrap();
    let n = crate::phone::normalize(b"+4791234567", Region::NO).unwrap();
    assert!(v.standing(&v.scope("ACME", "offers"), n).consent.is_some());
}

#[test]
fn customers_import_and_fold() {
    use crate::standing::StandingSource;
    let (_d, mut s) = store();
    let csv = format!(
        "{CU}+4791234567,ACME,Membership,2025-01-01T00:00:00Z,,2027-01-01T00:00:00Z,2025-01-01T00:00:00Z\n\
         +4791234568,ACME,purchase,2025-01-01T00:00:00Z,2025-06-01T00:00:00Z,,\n"
    );
    let r = import(
        &mut s,
        Kind::Customers,
        csv.as_bytes(),
        ImportOptions { region: Region::NO, strict: true, delimiter: b',' },
        |_| {},
    )
    .unwrap();
    assert_eq!((r.imported, r.bad), (2, 0));
    let n = E164::from_u64(4791234567).unwrap();
    let m = E164::from_u64(4791234568).unwrap();
    for compacted in [false, true] {
        if compacted {
            s.compact().unwrap();
        }
        let v = s.view().unwrap();
        let scope = v.scope("ACME", "offers");
        let a = v.relationship(&scope, n).unwrap();
        assert!(a.lasting, "relationship codes are case-insensitive");
        assert_eq!(a.ends_at, Some(crate::timefmt::parse_rfc3339("2027-01-01T00:00:00Z").unwrap()));
        let b = v.relationship(&scope, m).unwrap();
        assert!(!b.lasting);
        assert_eq!(b.informed_at, None);
        assert!(v.relationship(&v.scope("OTHER", "offers"), n).is_none());
    }
    // The evidence keeps the event in full, before and after compaction.
    let ev = s.evidence(n).unwrap();
    assert!(
        matches!(&ev[0].event, crate::store::Event::Relationship(r) if r.relationship == "membership")
    );
}

/// A quote never closed makes the rest of the input one field: past the limit the import
/// fails at that record's line, and none of its rows is acknowledged.
#[test]
fn overlong_record_is_an_error_with_its_line_and_imports_nothing() {
    let (_d, mut s) = store();
    let mut csv = format!("{C}{GOOD}+4791234568,\"ACME,offers\n");
    csv.push_str(&"a".repeat(IMPORT_RECORD_LIMIT + (2 << 20))); // past the read-ahead too
    let opts = ImportOptions { region: Region::NO, strict: false, delimiter: b',' };
    let err = import(&mut s, Kind::Consents, csv.as_bytes(), opts, |_| {}).unwrap_err();
    assert!(matches!(err, StoreError::Csv { line: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(s.view().unwrap().overlay_len(), 0);
}

#[test]
fn stop_without_a_time_is_taken_at_the_import_time_and_counted() {
    let before = crate::timefmt::now();
    let r =
        run(Kind::Stops, "number,brand,stopped_at\n+4791234567,ACME,\n+4791234568,ACME, \n", false)
            .unwrap();
    assert_eq!((r.bad, r.imported, r.undated_stops), (0, 2, 2), "{r:?}");
    assert!(before > 0);
}
