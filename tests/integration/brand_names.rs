//! One canonical spelling per brand (trimmed, Unicode NFC) wherever a brand enters, and
//! names that cannot be canonical refused with a clear error.

use crate::harness::{CONSENTS_HEADER, Run, Workdir};

/// A confirmed sms consent row for `brand` (import format).
fn consent_row(n: &str, brand: &str) -> String {
    format!("{n},{brand},offers,sms,2026-01-01T00:00:00Z,web_form,v1,web,,2026-01-01T00:00:00Z\n")
}

fn with_brand<'a>(cmd: &[&'a str], brand: &'a str) -> Vec<&'a str> {
    let mut a: Vec<&str> = cmd.to_vec();
    a.extend(["--brand", brand]);
    a
}

fn stop(wd: &Workdir, brand: &str, n: &str) -> Run {
    wd.run(&["stop", "--store", "store", "--brand", brand, "--at", "2026-02-01T00:00:00Z", n], "")
}

/// `filter --brand BRAND` on `input`: (allowed, rejects file).
fn filter(wd: &Workdir, brand: &str, input: &str) -> (String, String) {
    let run = wd
        .run(
            &[
                "filter",
                "--store",
                "store",
                "--brand",
                brand,
                "--purpose",
                "offers",
                "--now=2026-11-23T10:00:00Z",
                "--rejects",
                "rej.txt",
            ],
            input,
        )
        .ok();
    (run.stdout, wd.read("rej.txt"))
}

/// The case: `stop --brand " ACME "` was acknowledged yet did not block ACME.
#[test]
fn a_stop_under_an_untrimmed_brand_blocks_the_brand() {
    let wd = Workdir::new();
    wd.import_store(
        "",
        &(consent_row("+4791000001", "ACME") + &consent_row("+4791000002", "ACME")),
    );
    stop(&wd, " ACME ", "+4791000001").ok();
    let (out, rej) = filter(&wd, "ACME", "+4791000001\n+4791000002\n");
    assert_eq!(out, "+4791000002\n");
    assert_eq!(rej, "+4791000001\tSTOPPED\n");
    // The stop was stored under the canonical name: no other spelling to point out.
    let info = wd.run(&["info", "--store", "store"], "").ok();
    assert!(!info.stdout.contains("not canonical"), "{}", info.stdout);
    // `filter --brand " ACME "` is the same brand, also after a compaction.
    wd.run(&["compact", "--store", "store"], "").ok();
    let (out, rej) = filter(&wd, " ACME ", "+4791000001\n+4791000002\n");
    assert_eq!(out, "+4791000002\n");
    assert_eq!(rej, "+4791000001\tSTOPPED\n");
}

/// `Café` decomposed (NFD: `e` + combining acute) and composed (NFC) are one brand, from
/// every way in: import, `consent`, `stop`, `filter`, `policy`, `expiring`, `brand add`.
#[test]
fn decomposed_and_composed_spellings_are_one_brand() {
    let (nfc, nfd) = ("Caf\u{e9}", "Cafe\u{301}");
    let wd = Workdir::new();
    // Consents imported under the decomposed spelling, a stop typed composed …
    let expiring = "+4791000004,Cafe\u{301},offers,sms,2026-01-01T00:00:00Z,web_form,v1,web,\
                    2026-12-01T00:00:00Z,\n";
    wd.import_store(
        "",
        &(consent_row("+4791000001", nfd) + &consent_row("+4791000002", nfd) + expiring),
    );
    stop(&wd, nfc, "+4791000001").ok();
    // … and a consent recorded decomposed through `consent`.
    wd.run(
        &[
            "consent",
            "--store",
            "store",
            "--brand",
            nfd,
            "--purpose",
            "offers",
            "--granted-at",
            "2026-01-01T00:00:00Z",
            "--method",
            "web_form",
            "--text-ref",
            "v1",
            "--source",
            "web",
            "+4791000003",
        ],
        "",
    )
    .ok();
    for brand in [nfc, nfd] {
        let (out, rej) = filter(&wd, brand, "+4791000001\n+4791000002\n+4791000003\n");
        assert_eq!(out, "+4791000002\n+4791000003\n", "{brand:?}");
        assert_eq!(rej, "+4791000001\tSTOPPED\n", "{brand:?}");
    }
    // A stop typed decomposed blocks the composed brand.
    stop(&wd, nfd, "+4791000002").ok();
    let (out, _) = filter(&wd, nfc, "+4791000002\n+4791000003\n");
    assert_eq!(out, "+4791000003\n");
    // The policy and `expiring` find the brand by either spelling.
    wd.run(
        &["policy", "--store", "store", "set", "--brand", nfd, "--require-confirmed", "true"],
        "",
    )
    .ok();
    let show = wd.run(&["policy", "--store", "store", "show"], "").ok();
    assert!(show.stdout.contains(nfc) && !show.stdout.contains(nfd), "{}", show.stdout);
    let (out, rej) = filter(&wd, nfc, "+4791000003\n");
    assert_eq!((out.as_str(), rej.as_str()), ("", "+4791000003\tCONSENT_UNCONFIRMED\n"));
    let exp = wd
        .run(
            &[
                "expiring",
                "--store",
                "store",
                "--brand",
                nfc,
                "--within",
                "30d",
                "--now",
                "2026-11-23T10:00:00Z",
            ],
            "",
        )
        .ok();
    assert!(exp.stdout.contains("4791000004"), "{}", exp.stdout);
    // The registry stores the composed name; `set-reply` finds it by either spelling.
    wd.run(&["brand", "add", "--store", "store", nfd, "--shortcode", "2401"], "").ok();
    wd.run(&["brand", "set-reply", "--store", "store", nfc, "stop", "Bye from {brand}"], "").ok();
    let list = wd.run(&["brand", "list", "--store", "store", "--json"], "").ok();
    assert!(list.stdout.contains(nfc) && !list.stdout.contains(nfd), "{}", list.stdout);
}

/// Names that cannot be canonical are refused with a clear error before anything is
/// written: empty (also after trimming), `*` where one brand is meant, control characters.
#[test]
fn names_that_cannot_be_canonical_are_refused() {
    let wd = Workdir::new();
    wd.import_store("", &consent_row("+4791000001", "ACME"));
    let journal = std::fs::read(wd.join("store/journal")).unwrap();
    let commands: [&[&str]; 5] = [
        &["filter", "--store", "store", "--purpose", "offers"],
        &["stop", "--store", "store", "+4791000001"],
        &[
            "consent",
            "--store",
            "store",
            "--purpose",
            "offers",
            "--method",
            "m",
            "--text-ref",
            "t",
            "--source",
            "s",
            "+4791000001",
        ],
        &["policy", "--store", "store", "set", "--require-confirmed", "true"],
        &["expiring", "--store", "store", "--within", "30d"],
    ];
    for cmd in commands {
        for (brand, why) in [("", "empty"), ("   ", "empty"), ("AC\tME", "control character")] {
            let r = wd.run(&with_brand(cmd, brand), "+4791000001\n");
            assert_eq!(r.code, 2, "{cmd:?} {brand:?}: {}", r.stderr);
            assert!(r.stderr.contains(why) && r.stderr.contains("--brand"), "{}", r.stderr);
            assert_eq!(r.stdout, "", "{cmd:?} {brand:?}");
        }
        // `*` means every brand: only a stop may say so.
        let r = wd.run(&with_brand(cmd, "*"), "+4791000001\n");
        if cmd[0] == "stop" {
            assert_eq!(r.code, 0, "{}", r.stderr);
        } else {
            assert_eq!(r.code, 2, "{cmd:?}: {}", r.stderr);
            assert!(r.stderr.contains("every brand"), "{}", r.stderr);
        }
    }
    for name in ["", " ", "*", "AC\nME"] {
        let r = wd.run(&["brand", "add", "--store", "store", name, "--shortcode", "2401"], "");
        assert_eq!(r.code, 2, "{name:?}: {}", r.stderr);
    }
    // Nothing but the one `stop --brand '*'` was recorded.
    let after = std::fs::read(wd.join("store/journal")).unwrap();
    assert!(after.len() > journal.len() && after.starts_with(&journal));
    let info = wd.run(&["info", "--store", "store", "--json"], "").ok();
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(v["journal_tail"]["stops"], 1, "{}", info.stdout);
}

/// Import rows name brands in canonical form whatever the file's spelling.
#[test]
fn import_stores_the_canonical_spelling() {
    let wd = Workdir::new();
    wd.write("c.csv", format!("{CONSENTS_HEADER}{}", consent_row("+4791000001", " Cafe\u{301} ")));
    wd.run(&["import", "consents", "--store", "store", "c.csv"], "").ok();
    let (out, _) = filter(&wd, "Caf\u{e9}", "+4791000001\n");
    assert_eq!(out, "+4791000001\n");
    let info = wd.run(&["info", "--store", "store", "--json"], "").ok();
    assert!(info.stdout.contains("Caf\u{e9}/offers/sms"), "{}", info.stdout);
}
