//! Spreadsheet exports as Nordic users make them (`;`-separated, Windows-1252, numbers in
//! scientific notation) and header errors that echo no personal data.

use crate::harness::Workdir;

const NOW: &str = "--now=2026-06-01T00:00:00Z";

fn store(w: &Workdir) {
    w.write(
        "consents.csv",
        "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
         +4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,2025-01-02T00:00:00Z\n",
    );
    w.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
}

fn filter(w: &Workdir, extra: &[&str], input: impl AsRef<[u8]>) -> crate::harness::Run {
    let mut args = vec![
        "filter",
        "--store",
        "s",
        "--brand",
        "ACME",
        "--purpose",
        "offers",
        "--format",
        "csv",
        "--shortcode",
        "2401",
        NOW,
        "--rejects",
        "rej.csv",
    ];
    args.extend_from_slice(extra);
    w.run(&args, input)
}

const SEMICOLONS: &str = "name;number;message\nKari;+47 910 00 001;\"Tilbud; 20 %\"\nOla;12;Hei\n";

#[test]
fn filter_says_a_semicolon_file_is_one_and_reads_it_with_delimiter() {
    let w = Workdir::new();
    store(&w);
    let r = filter(&w, &[], SEMICOLONS);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("no \"number\" column"), "{}", r.stderr);
    assert!(r.stderr.contains("--delimiter ';'"), "{}", r.stderr);
    let r = filter(&w, &["--delimiter", ";"], SEMICOLONS).ok();
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next(), Some("name;number;message"));
    let kari = lines.next().unwrap();
    assert!(kari.starts_with("Kari;+4791000001;\"Tilbud; 20 %"), "{kari}");
    assert!(kari.ends_with("STOPP til 2401\""), "{kari}");
    assert_eq!(lines.next(), None);
    assert_eq!(w.read("rej.csv"), "name;number;message;reason\nOla;12;Hei;INVALID_NUMBER\n");
    // A separator for a format without one is a mistake, not something to ignore.
    let r = w.run(
        &["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers", "--delimiter", ";"],
        "+4791000001\n",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--format csv only"), "{}", r.stderr);
    let r = filter(&w, &["--delimiter", ";;"], SEMICOLONS);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("use `,` (default), `;`, `tab` or `|`"), "{}", r.stderr);
}

#[test]
fn windows_1252_is_explained_and_read_with_encoding() {
    let w = Workdir::new();
    store(&w);
    let input = b"number,message\n+4791000001,Hei p\xe5 deg\n".to_vec();
    let r = filter(&w, &[], &input).ok();
    assert_eq!(r.stdout, "number,message\n");
    assert!(r.stderr.contains("1 MALFORMED"), "{}", r.stderr);
    assert!(r.stderr.contains("Windows-1252"), "{}", r.stderr);
    assert!(r.stderr.contains("--encoding windows-1252"), "{}", r.stderr);
    let r = filter(&w, &["--encoding", "windows-1252"], &input).ok();
    assert!(r.stdout.starts_with("number,message\n+4791000001,Hei på deg"), "{}", r.stdout);
    assert!(!r.stderr.contains("Windows-1252"), "{}", r.stderr);
}

#[test]
fn scientific_notation_is_named_once_in_the_summary() {
    let w = Workdir::new();
    store(&w);
    let r = w
        .run(
            &["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers", NOW],
            "4.79123E+10\n4,79123E+10\n+4791000001\nnot a number\n",
        )
        .ok();
    assert_eq!(r.stdout, "+4791000001\n");
    assert!(r.stderr.contains("3 INVALID_NUMBER"), "{}", r.stderr);
    assert!(r.stderr.contains("2 INVALID_NUMBER in scientific notation"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("scientific").count(), 1, "{}", r.stderr);
}

#[test]
fn import_names_scientific_notation_once() {
    let w = Workdir::new();
    let stops = "number,brand,stopped_at\n4.79123E+10,ACME,2026-01-01T00:00:00Z\n\
                 4.79123E+10,ACME,2026-01-01T00:00:00Z\n12,ACME,2026-01-01T00:00:00Z\n";
    let r = w.run(&["import", "stops", "--store", "s", "-"], stops);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("2 of the bad rows have their number in scientific"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("scientific").count(), 1, "{}", r.stderr);
}

#[test]
fn import_reads_semicolons_and_windows_1252() {
    let w = Workdir::new();
    let stops = "number;brand;stopped_at\n+4791000001;ACME;2026-01-01T00:00:00Z\n";
    let r = w.run(&["import", "stops", "--store", "s", "-"], stops);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--delimiter ';'"), "{}", r.stderr);
    let r = w.run(&["import", "stops", "--store", "s", "--delimiter", ";", "-"], stops).ok();
    assert!(r.stderr.contains("imported 1 of 1"), "{}", r.stderr);
    let stops = b"number,brand,stopped_at\n+4791000002,Bl\xe5b\xe6r,2026-01-01T00:00:00Z\n";
    let r = w.run(&["import", "stops", "--store", "s", "-"], stops);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--encoding windows-1252"), "{}", r.stderr);
    w.run(&["import", "stops", "--store", "s", "--encoding", "windows-1252", "-"], stops).ok();
    let ex = w.run(&["subject", "export", "--store", "s", "+4791000002"], "").ok();
    assert!(ex.stdout.contains("Blåbær"), "{}", ex.stdout);
}

#[test]
fn header_errors_mask_digits_cut_names_and_never_echo_bytes() {
    let w = Workdir::new();
    let r = w.run(
        &["import", "stops", "--store", "s", "-"],
        "tlf 912 34 567,Kari Nordmann,2026-01-01T00:00:00Z\n",
    );
    assert_eq!(r.code, 2);
    for secret in ["912", "34 567", "Kari", "Nordmann"] {
        assert!(!r.stderr.contains(secret), "{secret}: {}", r.stderr);
    }
    assert!(r.stderr.contains("looks like a data row"), "{}", r.stderr);
    // A header that is not data: names cut short, digits masked.
    let r = w.run(
        &["import", "stops", "--store", "s", "-"],
        "number,brand,stopped_at,Kari Nordmann Hansen,ref2\n",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown column(s) Kari Nordman…, ref#"), "{}", r.stderr);
    assert!(!r.stderr.contains("Hansen"), "{}", r.stderr);
    // A binary file: no raw bytes in the message.
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00";
    let r = w.run(&["import", "stops", "--store", "s", "-"], png);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("PNG") && !r.stderr.contains('\u{fffd}'), "{}", r.stderr);
    assert!(r.stderr.contains("not UTF-8"), "{}", r.stderr);
}

#[test]
fn inbound_csv_reads_semicolons() {
    let w = Workdir::new();
    let input = "from;to;text;received_at\n+4791234567;2401;Stopp;2026-06-01T10:00:00Z\n";
    let r = w.run(&["inbound", "--store", "s", "--format", "csv"], input);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = w.run(&["inbound", "--store", "s", "--format", "csv", "--delimiter", ";"], input).ok();
    assert!(r.stdout.contains("\"action\":\"STOP\""), "{}", r.stdout);
}

#[test]
fn inbound_reads_windows_1252() {
    let w = Workdir::new();
    let input = b"from,to,text,received_at\n+4791234567,2401,HJ\xc4LP,2026-06-01T10:00:00Z\n";
    let r = w.run(&["inbound", "--store", "s", "--format", "csv"], input);
    assert!(!r.stdout.contains("\"action\":\"HELP\""), "{}", r.stdout);
    let r = w
        .run(&["inbound", "--store", "s", "--format", "csv", "--encoding", "windows-1252"], input)
        .ok();
    assert!(r.stdout.contains("\"action\":\"HELP\""), "{}", r.stdout);
}
