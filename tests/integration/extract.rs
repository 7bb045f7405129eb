//! `sendfilter extract`: a read-only, checksummed store for one scope that decides
//! exactly as the full store; and `filter --recheck-since`.

use crate::harness::{CONSENTS_HEADER, Workdir};

const NOW: &str = "2026-03-15T09:59:59Z";

/// A store for ACME/offers with every reason, noise of other tenants, a move, an erasure,
/// a policy and routes; part compacted, part in the journal tail.
fn store(w: &Workdir) {
    let customers = "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
+4791000001,ACME,purchase,2024-01-10T00:00:00Z,2025-03-15T10:00:00Z,,2024-01-10T00:00:00Z\n\
+4791000003,ACME,subscription,2023-01-01T00:00:00Z,,2025-01-01T00:00:00Z,2023-01-01T00:00:00Z\n\
+4791000004,ACME,membership,2023-01-01T00:00:00Z,,,\n\
+4791000006,OTHER,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z\n";
    let consents = format!(
        "{CONSENTS_HEADER}\
+4791000007,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000008,ACME,offers,sms,2024-05-20T12:00:00Z,web_form,v1,web,,\n\
+4791000009,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,2025-03-20T00:00:00Z,2024-01-02T00:00:00Z\n\
+4791000011,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000012,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000013,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000014,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000015,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+46701234567,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000016,ACME,news,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000017,OTHER,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000018,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n\
+4791000020,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,2024-01-02T00:00:00Z\n"
    );
    let stops = "number,brand,stopped_at\n\
+4791000011,ACME,2025-01-01T00:00:00Z\n\
+4791000012,*,2025-01-01T00:00:00Z\n\
+4791000013,acme,2025-01-01T00:00:00Z\n\
+4791000014,OTHER,2025-01-01T00:00:00Z\n";
    w.write("customers.csv", customers);
    w.write("consents.csv", consents);
    w.write("stops.csv", stops);
    w.run(&["brand", "add", "--store", "s", "ACME", "--shortcode", "2401"], "").ok();
    w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "true"], "")
        .ok();
    w.run(&["import", "customers", "--store", "s", "customers.csv"], "").ok();
    w.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
    w.run(&["compact", "--store", "s"], "").ok();
    // In the journal tail: stops, a move and an erasure.
    w.run(&["import", "stops", "--store", "s", "stops.csv"], "").ok();
    w.run(&["subject", "move", "--store", "s", "+4791000015", "+4791000019"], "").ok();
    w.run(&["subject", "erase", "--store", "s", "+4791000018"], "").ok();
}

/// Every reason: MALFORMED, INVALID_NUMBER, DUPLICATE, STOPPED (brand, `*`, other
/// spelling, move), NO_CONSENT, CONSENT_EXPIRED, CONSENT_UNCONFIRMED (policy),
/// SOFT_OPT_IN_LAPSED, SOFT_OPT_IN_NOT_INFORMED, NO_OPT_OUT_ROUTE, TOO_LONG, allowed.
fn campaign() -> String {
    let long = "x".repeat(200);
    let mut s = String::new();
    let mut line =
        |to: &str, body: &str| s.push_str(&format!("{{\"to\":\"{to}\",\"body\":\"{body}\"}}\n"));
    for n in ["+4791000001", "+4791000003", "+4791000004", "+4791000006", "+4791000007"] {
        line(n, "Hei");
    }
    for n in ["+4791000008", "+4791000009", "+4791000010", "+4791000011", "+4791000012"] {
        line(n, "Hei");
    }
    for n in ["+4791000013", "+4791000014", "+4791000015", "+4791000016", "+4791000017"] {
        line(n, "Hei");
    }
    for n in ["+4791000018", "+4791000019", "+46701234567", "12", "+4791000007"] {
        line(n, "Hei");
    }
    line("+4791000020", &long);
    s.push_str("{oops\n");
    s
}

fn filter(w: &Workdir, store: &str, tag: &str) -> (String, String, String) {
    let rejects = format!("rej-{tag}.jsonl");
    let receipts = format!("receipts-{tag}.csv");
    let r = w
        .run(
            &[
                "filter",
                "--store",
                store,
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--now",
                NOW,
                "--format",
                "jsonl",
                "--region",
                "NO,SE",
                "--soft-opt-in",
                "--max-segments",
                "1",
                "--rejects",
                &rejects,
                "--receipts",
                &receipts,
            ],
            campaign(),
        )
        .ok();
    (r.stdout, w.read(&rejects), w.read(&receipts))
}

#[test]
fn extract_decides_exactly_as_the_store() {
    let w = Workdir::new();
    store(&w);
    let (out, rej, receipts) = filter(&w, "s", "full");
    for reason in [
        "MALFORMED",
        "INVALID_NUMBER",
        "DUPLICATE",
        "STOPPED",
        "NO_CONSENT",
        "CONSENT_EXPIRED",
        "CONSENT_UNCONFIRMED",
        "SOFT_OPT_IN_LAPSED",
        "SOFT_OPT_IN_NOT_INFORMED",
        "NO_OPT_OUT_ROUTE",
        "TOO_LONG",
    ] {
        assert!(rej.contains(&format!("\"reason\":\"{reason}\"")), "{reason} missing:\n{rej}");
    }
    assert!(out.contains("+4791000007") && out.contains("+4791000001"), "{out}");
    let e =
        w.run(&["extract", "--store", "s", "--brand", "ACME", "--purpose", "offers", "x"], "").ok();
    let info = w.run(&["info", "--store", "s", "--json"], "").ok();
    let seq: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    let name = format!("ACME-offers-g{}-s{}", seq["generation"], seq["journal_last_seq"]);
    assert_eq!(e.stdout.trim(), name);
    assert!(e.stderr.contains(" bytes"), "{}", e.stderr);
    assert_eq!(filter(&w, "x", "extract"), (out, rej, receipts), "extract decides otherwise");
    // Named in `info`; other tenants' data is not in it.
    let i = w.run(&["info", "--store", "x"], "").ok();
    assert!(i.stdout.contains(&name) && i.stdout.contains("read-only"), "{}", i.stdout);
    assert!(!i.stdout.contains("OTHER"), "{}", i.stdout);
    assert!(i.stdout.contains("consents ACME/offers/sms"), "{}", i.stdout);
    assert!(!i.stdout.contains("ACME/news"), "{}", i.stdout);
}

#[test]
fn extract_is_read_only_and_checked() {
    let w = Workdir::new();
    store(&w);
    w.run(&["extract", "--store", "s", "--brand", "ACME", "--purpose", "offers", "x"], "").ok();
    // Every file written durably: owner-only, and no temporary file left behind.
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(w.join("x")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name} left behind");
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // A second extract into it is refused; so is every write.
    let again =
        w.run(&["extract", "--store", "s", "--brand", "ACME", "--purpose", "offers", "x"], "");
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    w.write("more.csv", "number,brand,stopped_at\n+4791000007,ACME,\n");
    for args in [
        &["import", "stops", "--store", "x", "more.csv"][..],
        &["stop", "--store", "x", "+4791000007"],
        &["compact", "--store", "x"],
        &["policy", "--store", "x", "set", "--brand", "ACME", "--require-confirmed", "false"],
    ] {
        let r = w.run(args, "");
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains("read-only extract"), "{args:?}: {}", r.stderr);
    }
    let inbound = w.run(
        &["inbound", "--store", "x"],
        "{\"from\":\"+4791000007\",\"to\":\"2401\",\"text\":\"STOPP\"}\n",
    );
    assert_ne!(inbound.code, 0);
    assert!(inbound.stderr.contains("read-only extract"), "{}", inbound.stderr);
    w.run(&["extract", "--verify", "x"], "").ok();
    // Flip one byte of the snapshot: every reader refuses it.
    let path = w.join("x/snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let r = w.run(
        &["filter", "--store", "x", "--brand", "ACME", "--purpose", "offers"],
        "+4791000007\n",
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("damaged extract"), "{}", r.stderr);
    assert_eq!(w.run(&["extract", "--verify", "x"], "").code, 2);
    assert_eq!(w.run(&["info", "--store", "x"], "").code, 2);
}

#[test]
fn recheck_catches_what_came_after_the_extract() {
    let w = Workdir::new();
    store(&w);
    let e =
        w.run(&["extract", "--store", "s", "--brand", "ACME", "--purpose", "offers", "x"], "").ok();
    let seq = e.stdout.trim().rsplit("-s").next().unwrap().to_string();
    // After the extract: a STOP for ACME by the CLI, one for another brand.
    w.run(&["stop", "--store", "s", "--brand", "ACME", "+4791000007"], "").ok();
    w.run(&["stop", "--store", "s", "--brand", "OTHER", "+4791000020"], "").ok();
    let allowed = "{\"to\":\"+4791000007\",\"body\":\"a\"}\n{\"to\":\"+4791000020\",\"body\":\"b\"}\n\
{\"to\":\"+4791000011\",\"body\":\"c\"}\n{\"to\":\"12\",\"body\":\"d\"}\n";
    let recheck = |tag: &str| {
        let rej = format!("rej-{tag}.jsonl");
        let r = w
            .run(
                &[
                    "recheck",
                    "--store",
                    "s",
                    "--brand",
                    "ACME",
                    "--since",
                    &seq,
                    "--format",
                    "jsonl",
                    "--rejects",
                    &rej,
                ],
                allowed,
            )
            .ok();
        (r, w.read(&rej))
    };
    let (r, rej) = recheck("tail");
    // +4791000011 was stopped before the extract: not read again (the extract has it).
    assert_eq!(
        r.stdout,
        "{\"to\":\"+4791000020\",\"body\":\"b\"}\n{\"to\":\"+4791000011\",\"body\":\"c\"}\n"
    );
    assert!(
        rej.contains("\"to\":\"+4791000007\"") && rej.contains("\"reason\":\"STOPPED\""),
        "{rej}"
    );
    assert!(rej.contains("INVALID_NUMBER"), "{rej}");
    assert!(r.stderr.contains("2 events after sequence"), "{}", r.stderr);
    // Compacted since: the events after the sequence are read from the snapshot.
    w.run(&["compact", "--store", "s"], "").ok();
    let (r2, rej2) = recheck("compacted");
    assert_eq!(r2.stdout, r.stdout);
    assert_eq!(rej2, rej);
    assert!(r2.stderr.contains("snapshot evidence included"), "{}", r2.stderr);
}
