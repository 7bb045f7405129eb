//! Issue 24 for the data-protection officer: retention as policy (a purge that would
//! change a live decision is refused), records of processing, access answers a person
//! can read.

use crate::harness::Workdir;

const N: &str = "+4791234567";
const NOW: &str = "2026-01-01T00:00:00Z";

/// A customer whose last purchase (2025-06-01) soft opt-in still allows at NOW.
fn customer_store() -> Workdir {
    let wd = Workdir::new();
    wd.write(
        "customers.csv",
        format!(
            "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n\
             {N},ACME,purchase,2025-01-01T00:00:00Z,2025-06-01T00:00:00Z,,2025-01-01T00:00:00Z\n"
        ),
    );
    wd.run(&["import", "customers", "--store", "s", "customers.csv"], "").ok();
    wd.run(&["compact", "--store", "s"], "").ok();
    wd
}

fn audit_lines(wd: &Workdir) -> Vec<serde_json::Value> {
    wd.read("s/audit").lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_purge_that_would_change_a_live_decision_is_refused_with_its_count() {
    let wd = customer_store();
    let purge = |extra: &[&str]| {
        let mut a = vec!["purge", "--store", "s", "--now", NOW];
        a.extend(extra);
        wd.run(&a, "")
    };
    let r = purge(&["--older-than", "1mo"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("would change 1 live decision(s)"), "{}", r.stderr);
    assert!(r.stderr.contains("shorter than the soft opt-in window of 12 months"), "{}", r.stderr);
    let refused = audit_lines(&wd).pop().unwrap();
    assert_eq!(refused["outcome"], "failed");
    assert_eq!(refused["counts"]["decisions_changed"], 1);
    // The dry run names what would change (masked), and changes nothing.
    let r = purge(&["--older-than", "1mo", "--dry-run"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["decisions_changed"], 1);
    assert_eq!(plan["relationships_going"], 1);
    assert_eq!(plan["changed"][0]["number"], "+47*****567");
    assert_eq!(plan["changed"][0]["after"], "NO_CONSENT");
    assert_eq!(
        plan["changes"],
        serde_json::json!([{"brand": "ACME", "now": "ALLOWED", "after": "NO_CONSENT", "count": 1}])
    );
    assert_eq!(plan["going"]["ACME"]["relationships"], 1);
    assert!(!r.stdout.contains("4791234567"));
    // A period no shorter than the window, while the purchase is recent: nothing changes.
    let r = purge(&["--older-than", "12mo"]).ok();
    assert!(r.stdout.contains("\"relationships_purged\": 0"), "{}", r.stdout);
    // --force purges, and says so in the audit trail.
    let r = purge(&["--older-than", "1mo", "--force"]).ok();
    assert!(r.stdout.contains("\"relationships_purged\": 1"), "{}", r.stdout);
    assert!(r.stderr.contains("--force: 1 live decision(s) changed"), "{}", r.stderr);
    let forced = audit_lines(&wd).pop().unwrap();
    assert!(forced["detail"].as_str().unwrap().starts_with("FORCED; older-than=1mo"), "{forced}");
    assert_eq!(forced["counts"]["relationships_purged"], 1);
}

#[test]
fn purge_without_a_period_applies_the_records_of_processing() {
    let wd = customer_store();
    let r = wd.run(&["purge", "--store", "s", "--now", NOW], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no period: pass --older-than"), "{}", r.stderr);
    set_record(&wd, "ACME", "NO");
    let r = wd.run(&["purge", "--store", "s", "--now", NOW, "--dry-run"], "").ok();
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // Each brand's own retention per category (24 months of 30.44 days).
    assert_eq!(plan["cutoffs"]["ACME"]["consents"], "2024-01-01T12:21:36Z");
    assert_eq!(plan["cutoffs"]["ACME"]["relationships"], "2024-01-01T12:21:36Z");
    assert!(plan.get("cutoff").is_none(), "{plan}");
    assert_eq!(plan["decisions_changed"], 0);
    let rec = audit_lines(&wd).pop().unwrap();
    let detail = rec["detail"].as_str().unwrap();
    assert!(detail.contains("records of processing: ACME") && detail.ends_with("=24mo"), "{rec}");
}

fn set_record(wd: &Workdir, brand: &str, country: &str) {
    wd.run(
        &[
            "processing",
            "--store",
            "s",
            "set",
            "--brand",
            brand,
            "--controller",
            "ACME AS, Storgata 1, Oslo, privacy@acme.example",
            "--dpo",
            "dpo@acme.example",
            "--country",
            country,
            "--purpose",
            "offers=consent:Offers of our own products by SMS",
            "--purpose",
            "customer_offers=soft_opt_in:Offers to customers of products like those they bought",
            "--category",
            "phone number",
            "--category",
            "consent evidence",
            "--recipient",
            "SMS gateway (Example Gateway AS)",
            "--retention",
            "consents=24mo",
            "--retention",
            "relationships=24mo",
            "--transfer",
            "none",
            "--source",
            "sign-up in our shops",
        ],
        "",
    )
    .ok();
}

#[test]
fn records_of_processing_are_set_sealed_and_shown_as_text_and_json() {
    let wd = customer_store();
    set_record(&wd, "ACME", "NO");
    let doc = wd.run(&["processing", "--store", "s", "show", "--brand", "ACME"], "").ok().stdout;
    for want in [
        "Record of processing: ACME",
        "Controller: ACME AS",
        "Data-protection officer: dpo@acme.example",
        "supervisory authority: Datatilsynet (Norway)",
        "offers (consent): Offers of our own products by SMS",
        "Recipients: SMS gateway (Example Gateway AS)",
        "consents: 24mo",
        "Transfers outside the EEA: none",
    ] {
        assert!(doc.contains(want), "{want}: {doc}");
    }
    let json = wd.run(&["processing", "--store", "s", "show", "--json"], "").ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ACME"]["purposes"][1]["legal_basis"], "soft_opt_in");
    // Bad input is refused clearly; a damaged file stops commands that read it.
    let r = wd.run(
        &["processing", "--store", "s", "set", "--brand", "ACME", "--purpose", "x=whim:y"],
        "",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("legal basis \"whim\""), "{}", r.stderr);
    let r =
        wd.run(&["processing", "--store", "s", "set", "--brand", "ACME", "--country", "DE"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("expected NO, SE, DK or FI"), "{}", r.stderr);
    let text = wd.read("s/processing").replace("24mo", "1mo");
    std::fs::write(wd.join("s/processing"), text).unwrap();
    let r = wd.run(&["processing", "--store", "s", "show"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("checksum or format mismatch"), "{}", r.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wd.join("s/processing")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Every kind of history: a consent (corrected), a stop, a customer relationship, a
/// move, for two brands of two countries.
fn rich_history() -> Workdir {
    let wd = customer_store();
    set_record(&wd, "ACME", "NO");
    set_record(&wd, "Beta", "SE");
    wd.run(
        &[
            "consent",
            "--store",
            "s",
            N,
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--granted-at",
            "2025-02-01T00:00:00Z",
            "--method",
            "web_form",
            "--text-ref",
            "acme-v1",
            "--source",
            "shop",
        ],
        "",
    )
    .ok();
    let seq = wd.run(&["info", "--store", "s"], "").ok();
    assert!(seq.stdout.contains("journal last seq:    2"), "{}", seq.stdout);
    wd.run(&["subject", "correct", "--store", "s", N, "--seq", "2", "--source", "web shop"], "")
        .ok();
    wd.run(&["stop", "--store", "s", "--brand", "Beta", N, "--at", "2025-03-01T00:00:00Z"], "")
        .ok();
    wd.run(&["subject", "move", "--store", "s", N, "+4791234599"], "").ok();
    wd
}

#[test]
fn an_access_answer_carries_every_article_15_item_in_five_languages() {
    let wd = rich_history();
    for lang in sendfilter::rights::Lang::ALL {
        let w = sendfilter::rights::words(lang);
        let code = match lang {
            sendfilter::rights::Lang::No => "no",
            sendfilter::rights::Lang::Sv => "sv",
            sendfilter::rights::Lang::Da => "da",
            sendfilter::rights::Lang::Fi => "fi",
            sendfilter::rights::Lang::En => "en",
        };
        for format in ["text", "html"] {
            let out = wd
                .run(
                    &["subject", "export", "--store", "s", N, "--format", format, "--lang", code],
                    "",
                )
                .ok()
                .stdout;
            let must = [
                // Data held: numbers, consents with evidence (corrected), stops,
                // relationships, corrections, moves.
                w.data,
                w.numbers,
                N,
                "+4791234599",
                w.consents,
                "ACME / offers (sms)",
                "acme-v1",
                "web shop",
                w.stops,
                "Beta: 2025-03-01T00:00:00Z",
                w.relationships,
                "ACME: purchase, 2025-01-01T00:00:00Z",
                w.corrections,
                w.moves,
                // Purposes and legal basis; source; recipients; transfers; retention.
                w.purposes,
                "Offers of our own products by SMS",
                w.bases[0],
                w.bases[1],
                w.origin,
                "sign-up in our shops",
                w.recipients,
                "SMS gateway (Example Gateway AS)",
                w.transfers,
                w.retention,
                "ACME – consents: 24mo",
                "Beta – relationships: 24mo",
                w.stops_kept,
                // The rights, and the authority of each brand's country.
                w.rights,
                w.r_access,
                w.r_rectify,
                w.r_erase,
                w.r_object,
                w.r_withdraw,
                w.r_complain,
                "Datatilsynet (Norway)",
                "Integritetsskyddsmyndigheten (IMY)",
                // Whom to contact.
                w.contact,
                w.controller,
                "ACME AS, Storgata 1, Oslo",
                w.dpo,
                "dpo@acme.example",
            ];
            for m in must {
                assert!(out.contains(m), "{code} {format}: {m:?} missing:\n{out}");
            }
            if format == "html" {
                assert!(out.starts_with("<!DOCTYPE html>"), "{out}");
                assert!(out.contains(&format!("<html lang=\"{}\">", lang.code())));
            }
        }
    }
    // Danish and Finnish brands name their own authorities.
    set_record(&wd, "ACME", "DK");
    set_record(&wd, "Beta", "FI");
    let out = wd.run(&["subject", "export", "--store", "s", N, "--format", "text"], "").ok().stdout;
    assert!(out.contains("Datatilsynet (Denmark)") && out.contains("Data Protection Ombudsman"));
    assert!(
        out.contains(sendfilter::rights::words(sendfilter::rights::Lang::No).title),
        "store region NO"
    );
    // JSON stays for machines.
    let out = wd.run(&["subject", "export", "--store", "s", N], "").ok().stdout;
    assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
}

#[test]
fn the_json_access_answer_carries_the_records_of_processing_in_five_languages() {
    let wd = rich_history();
    for (lang, code) in
        sendfilter::rights::Lang::ALL.into_iter().zip(["no", "sv", "da", "fi", "en"])
    {
        let w = sendfilter::rights::words(lang);
        let out = wd
            .run(&["subject", "export", "--store", "s", N, "--format", "json", "--lang", code], "")
            .ok()
            .stdout;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        // The data held stays where machines read it.
        assert_eq!(v["number"], N, "{code}");
        assert!(v["events"].as_array().is_some_and(|e| !e.is_empty()), "{code}");
        assert_eq!(v["lang"], lang.code());
        let acme = &v["processing"]["ACME"];
        assert_eq!(acme["recorded"], true, "{code}: {v}");
        let offers = &acme["purposes"][0];
        assert_eq!(offers["description"], "Offers of our own products by SMS");
        assert_eq!(offers["legal_basis"], "consent");
        assert_eq!(offers["legal_basis_text"], w.bases[0], "{code}");
        assert_eq!(acme["purposes"][1]["legal_basis_text"], w.bases[1], "{code}");
        assert_eq!(acme["categories"][0], "phone number");
        assert_eq!(acme["source"], "sign-up in our shops");
        assert_eq!(acme["recipients"][0], "SMS gateway (Example Gateway AS)");
        assert_eq!(acme["transfers"], serde_json::json!([]));
        assert_eq!(acme["retention"]["consents"], "24mo");
        assert_eq!(acme["retention"]["relationships"], "24mo");
        assert_eq!(acme["controller"], "ACME AS, Storgata 1, Oslo, privacy@acme.example");
        assert_eq!(acme["dpo"], "dpo@acme.example");
        assert_eq!(acme["supervisory_authority"]["name"], "Datatilsynet (Norway)");
        let beta = &v["processing"]["Beta"]["supervisory_authority"]["name"];
        assert_eq!(beta, "Integritetsskyddsmyndigheten (IMY)");
        let rights: Vec<&str> =
            v["rights"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
        assert_eq!(
            rights,
            [w.r_access, w.r_rectify, w.r_erase, w.r_object, w.r_withdraw, w.r_complain],
            "{code}"
        );
        assert_eq!(v["stops_kept"], w.stops_kept);
    }
}

#[test]
fn purge_without_a_period_keeps_each_brands_own_retention() {
    let wd = Workdir::new();
    for brand in ["ACME", "Beta"] {
        wd.run(
            &[
                "consent",
                "--store",
                "s",
                N,
                "--brand",
                brand,
                "--purpose",
                "offers",
                "--granted-at",
                "2021-01-01T00:00:00Z",
                "--expires-at",
                "2022-01-01T00:00:00Z",
                "--method",
                "web_form",
                "--text-ref",
                "v1",
                "--source",
                "shop",
            ],
            "",
        )
        .ok();
    }
    // ACME keeps consents 24 months; Beta has no record of processing: it keeps them.
    set_record(&wd, "ACME", "NO");
    let r = wd.run(&["purge", "--store", "s", "--now", NOW, "--dry-run"], "").ok();
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["going"]["ACME"]["consents"], 1, "{plan}");
    assert!(plan["going"].get("Beta").is_none(), "{plan}");
    let r = wd.run(&["purge", "--store", "s", "--now", NOW], "").ok();
    let receipt: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(receipt["consents_purged"], 1, "{receipt}");
    assert_eq!(receipt["cutoff"], "per brand and category");
    let out = wd.run(&["subject", "export", "--store", "s", N], "").ok().stdout;
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    let brands: Vec<&str> =
        e["consents"].as_array().unwrap().iter().filter_map(|c| c["brand"].as_str()).collect();
    assert_eq!(brands, ["Beta"], "{out}");
}
