//! Legal bases end to end: soft opt-in from imported customers, store policy (double
//! opt-in, default consent lifetime), `expiring`, and decision receipts.

use crate::harness::Workdir;

const CUSTOMERS: &str = "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
+4791000001,ACME,purchase,2024-01-10T00:00:00Z,2025-03-15T10:00:00Z,,2024-01-10T00:00:00Z\n\
+4791000002,ACME,membership,2023-01-01T00:00:00Z,,2026-06-01T00:00:00Z,2023-01-01T00:00:00Z\n\
+4791000003,ACME,subscription,2023-01-01T00:00:00Z,,2025-01-01T00:00:00Z,2023-01-01T00:00:00Z\n\
+4791000004,ACME,membership,2023-01-01T00:00:00Z,,,\n\
+4791000005,ACME,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z\n\
+4791000006,OTHER,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z\n\
+4791000007,ACME,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z\n";

const CONSENTS: &str = "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
+4791000007,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,,\n\
+4791000008,ACME,offers,sms,2024-05-20T12:00:00Z,web_form,v1,web,,2024-05-21T00:00:00Z\n\
+4791000009,ACME,offers,sms,2024-01-01T00:00:00Z,web_form,v1,web,2026-03-20T00:00:00Z,\n";

const STOPS: &str = "number,brand,stopped_at\n+4791000005,ACME,2020-01-01T00:00:00Z\n";

const RECIPIENTS: &str = "+4791000001\n+4791000002\n+4791000003\n+4791000004\n+4791000005\n\
+4791000006\n+4791000007\n+4791000008\n+4791000009\n+4791000010\n";

/// A store with customers, consents and a stop; compacted or not.
fn store(w: &Workdir, compact: bool) {
    w.write("customers.csv", CUSTOMERS);
    w.write("consents.csv", CONSENTS);
    w.write("stops.csv", STOPS);
    w.run(&["import", "customers", "--store", "s", "customers.csv"], "").ok();
    w.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
    w.run(&["import", "stops", "--store", "s", "stops.csv"], "").ok();
    if compact {
        w.run(&["compact", "--store", "s"], "").ok();
    }
}

fn filter(w: &Workdir, now: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "filter",
        "--store",
        "s",
        "--brand",
        "ACME",
        "--purpose",
        "offers",
        "--now",
        now,
        "--rejects",
        "rej.txt",
    ];
    args.extend_from_slice(extra);
    let r = w.run(&args, RECIPIENTS).ok();
    (r.stdout, w.read("rej.txt"))
}

fn reason_of(rejects: &str, n: &str) -> String {
    rejects
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{n}\t")).map(str::to_string))
        .unwrap_or_else(|| "ALLOWED".into())
}

#[test]
fn soft_opt_in_rules_snapshot_and_journal() {
    for compact in [false, true] {
        let w = Workdir::new();
        store(&w, compact);
        let now = "2026-03-15T09:59:59Z";
        // Off by default: only the consent holders pass.
        let (out, rej) = filter(&w, now, &[]);
        assert_eq!(out, "+4791000007\n+4791000008\n+4791000009\n", "compact={compact}");
        assert_eq!(reason_of(&rej, "+4791000001"), "NO_CONSENT");
        let (out, rej) = filter(&w, now, &["--soft-opt-in", "--report", "r.json"]);
        assert_eq!(
            out, "+4791000001\n+4791000002\n+4791000007\n+4791000008\n+4791000009\n",
            "compact={compact}"
        );
        assert_eq!(reason_of(&rej, "+4791000003"), "SOFT_OPT_IN_LAPSED"); // subscription ended
        assert_eq!(reason_of(&rej, "+4791000004"), "SOFT_OPT_IN_NOT_INFORMED");
        assert_eq!(reason_of(&rej, "+4791000005"), "STOPPED"); // a stop blocks soft opt-in
        assert_eq!(reason_of(&rej, "+4791000006"), "NO_CONSENT"); // another brand's customer
        assert_eq!(reason_of(&rej, "+4791000010"), "NO_CONSENT");
        let report: serde_json::Value = serde_json::from_str(&w.read("r.json")).unwrap();
        assert_eq!(report["allowed_by"]["consent"], 3);
        assert_eq!(report["allowed_by"]["soft_opt_in"], 2);
        assert_eq!(report["reasons"]["SOFT_OPT_IN_LAPSED"], 1);
        assert_eq!(report["reasons"]["SOFT_OPT_IN_NOT_INFORMED"], 1);
        // 12 months to the second: the purchase of 2025-03-15T10:00:00Z has lapsed at
        // 2026-03-15T10:00:00Z.
        let (_, rej) = filter(&w, "2026-03-15T10:00:00Z", &["--soft-opt-in"]);
        assert_eq!(reason_of(&rej, "+4791000001"), "SOFT_OPT_IN_LAPSED");
        // A wider window keeps it.
        let (_, rej) =
            filter(&w, "2026-03-15T10:00:00Z", &["--soft-opt-in", "--soft-opt-in-months", "13"]);
        assert_eq!(reason_of(&rej, "+4791000001"), "ALLOWED");
        // Membership ending at exactly now has ended.
        let (_, rej) = filter(&w, "2026-06-01T00:00:00Z", &["--soft-opt-in"]);
        assert_eq!(reason_of(&rej, "+4791000002"), "SOFT_OPT_IN_LAPSED");
    }
}

#[test]
fn a_newer_customer_row_replaces_the_older_one() {
    let w = Workdir::new();
    store(&w, true);
    // After compaction, the membership of ...002 is ended early in the journal tail.
    w.write(
        "update.csv",
        "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
         +4791000002,ACME,membership,2023-01-01T00:00:00Z,,2025-12-31T00:00:00Z,2023-01-01T00:00:00Z\n",
    );
    w.run(&["import", "customers", "--store", "s", "update.csv"], "").ok();
    for round in 0..2 {
        let (_, rej) = filter(&w, "2026-03-01T00:00:00Z", &["--soft-opt-in"]);
        assert_eq!(reason_of(&rej, "+4791000002"), "SOFT_OPT_IN_LAPSED", "round {round}");
        w.run(&["compact", "--store", "s"], "").ok();
    }
}

#[test]
fn bad_customer_rows_are_reported() {
    let w = Workdir::new();
    w.write(
        "c.csv",
        "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
         +4791000001,ACME,purchase,yesterday,,,\n",
    );
    let r = w.run(&["import", "customers", "--store", "s", "c.csv"], "");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("line 2") && r.stderr.contains("started_at"), "{}", r.stderr);
    assert!(!r.stderr.contains("4791000001"), "numbers are masked: {}", r.stderr);
    w.write("h.csv", "number,brand,relationship\n");
    let r = w.run(&["import", "customers", "--store", "s", "h.csv"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("informed_at"), "{}", r.stderr);
}

#[test]
fn store_policy_requires_confirmation_and_limits_lifetime() {
    let w = Workdir::new();
    store(&w, true);
    let now = "2026-03-15T00:00:00Z";
    let (out, _) = filter(&w, now, &[]);
    assert_eq!(out, "+4791000007\n+4791000008\n+4791000009\n");
    w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "true"], "")
        .ok();
    let (out, rej) = filter(&w, now, &[]);
    assert_eq!(out, "+4791000008\n");
    assert_eq!(reason_of(&rej, "+4791000007"), "CONSENT_UNCONFIRMED");
    // Another brand is not affected.
    let r = w
        .run(
            &["filter", "--store", "s", "--brand", "OTHER", "--purpose", "offers", "--now", now],
            "+4791000006\n",
        )
        .ok();
    assert_eq!(r.stdout, "");
    // A 24-month default lifetime: ...008 granted 2024-05-20T12:00:00Z, no expires_at.
    w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--consent-lifetime", "24mo"], "")
        .ok();
    let show = w.run(&["policy", "--store", "s", "show"], "").ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["brands"]["ACME"]["require_confirmed"], true);
    assert_eq!(v["brands"]["ACME"]["consent_lifetime_months"], 24);
    let (out, _) = filter(&w, "2026-05-20T11:59:59Z", &[]);
    assert_eq!(out, "+4791000008\n");
    let (out, rej) = filter(&w, "2026-05-20T12:00:00Z", &[]);
    assert_eq!(out, "");
    assert_eq!(reason_of(&rej, "+4791000008"), "CONSENT_EXPIRED");
    // An explicit expires_at is kept: ...009 ends 2026-03-20 whatever the policy says.
    w.run(
        &["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "false"],
        "",
    )
    .ok();
    let (out, _) = filter(&w, "2026-03-19T00:00:00Z", &[]);
    assert!(out.contains("+4791000009"));
    let (_, rej) = filter(&w, "2026-03-20T00:00:00Z", &[]);
    assert_eq!(reason_of(&rej, "+4791000009"), "CONSENT_EXPIRED");
    // Bad values are refused.
    let r =
        w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--consent-lifetime", "0"], "");
    assert_eq!(r.code, 2);
}

#[test]
fn a_damaged_policy_fails_closed() {
    let w = Workdir::new();
    store(&w, false);
    w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "true"], "")
        .ok();
    let p = w.join("s/policy");
    let text = std::fs::read_to_string(&p).unwrap().replace("true", "fals");
    std::fs::write(&p, text).unwrap();
    let r =
        w.run(&["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers"], RECIPIENTS);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "", "nothing is let through");
    assert!(r.stderr.contains("policy"), "{}", r.stderr);
}

#[test]
fn expiring_lists_consents_ending_in_the_window() {
    let w = Workdir::new();
    store(&w, true);
    let r = w
        .run(
            &[
                "expiring",
                "--store",
                "s",
                "--brand",
                "ACME",
                "--within",
                "30d",
                "--now",
                "2026-03-01T00:00:00Z",
            ],
            "",
        )
        .ok();
    assert_eq!(
        r.stdout,
        "number,purpose,ends_at,event_seq\n+4791000009,offers,2026-03-20T00:00:00Z,10\n"
    );
    // Ends exactly now: no longer listed (it has ended).
    let r = w
        .run(
            &[
                "expiring",
                "--store",
                "s",
                "--brand",
                "ACME",
                "--within",
                "30d",
                "--now",
                "2026-03-20T00:00:00Z",
            ],
            "",
        )
        .ok();
    assert_eq!(r.stdout, "number,purpose,ends_at,event_seq\n");
    // With a default lifetime, open-ended consents get an end too.
    w.run(&["policy", "--store", "s", "set", "--brand", "ACME", "--consent-lifetime", "2y"], "")
        .ok();
    let r = w
        .run(
            &[
                "expiring",
                "--store",
                "s",
                "--brand",
                "ACME",
                "--within",
                "2w",
                "--now",
                "2025-12-25T00:00:00Z",
            ],
            "",
        )
        .ok();
    assert!(r.stdout.contains("+4791000007,offers,2026-01-01T00:00:00Z"), "{}", r.stdout);
    let r = w.run(&["expiring", "--store", "s", "--brand", "ACME", "--within", "soon"], "");
    assert_eq!(r.code, 2);
}

#[test]
fn receipts_explain_every_record() {
    let w = Workdir::new();
    store(&w, true);
    let input = format!("{RECIPIENTS}not a number\n+4791000001\n");
    let r = w
        .run(
            &[
                "filter",
                "--store",
                "s",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--now",
                "2026-03-01T00:00:00Z",
                "--soft-opt-in",
                "--receipts",
                "receipts.csv",
            ],
            input,
        )
        .ok();
    assert!(r.stdout.contains("+4791000001"));
    let text = w.read("receipts.csv");
    let mut lines = text.lines();
    let comment = lines.next().unwrap();
    assert!(comment.starts_with("# sendfilter receipts v2 brand=ACME purpose=offers"), "{comment}");
    assert!(comment.contains("soft_opt_in=12m"), "{comment}");
    assert_eq!(
        lines.next().unwrap(),
        "number_hash,verdict,reason,basis,event_seq,generation,journal_seq"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12, "one line per record, in input order");
    // Keyed: found again through the store (`subject receipt-hash`), never the unkeyed
    // xxh3 of the number that anyone could compute for every number.
    let hash = |n: &str| {
        let r = w.run(&["subject", "receipt-hash", "--store", "s", n], "").ok();
        let v: u64 = n.trim_start_matches('+').parse().unwrap();
        let h = r.stdout.trim().to_string();
        assert_ne!(h, format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&v.to_le_bytes())));
        h
    };
    // ...001 is the first customer row (seq 1); ...007's consent is seq 8; gen 1, seq 11.
    assert_eq!(
        rows[0],
        [hash("+4791000001").as_str(), "allow", "ALLOWED", "soft_opt_in", "1", "1", "11"]
    );
    assert_eq!(
        rows[6],
        [hash("+4791000007").as_str(), "allow", "ALLOWED", "consent", "8", "1", "11"]
    );
    assert_eq!(rows[3][1..4], ["reject", "SOFT_OPT_IN_NOT_INFORMED", "-"]);
    assert_eq!(rows[10], ["", "reject", "INVALID_NUMBER", "-", "0", "1", "11"]);
    assert_eq!(rows[11][2], "DUPLICATE");
    assert!(!text.contains("4791000001"), "no full numbers in receipts");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.join("receipts.csv")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
