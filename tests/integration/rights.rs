//! Data-subject rights end to end: `sendfilter subject {export,erase,correct,move}` and
//! `sendfilter purge`, on real stores.

use crate::harness::{Run, Workdir};

/// The data subject of most tests.
const N: &str = "+4791234567";
/// Someone else.
const OTHER: &str = "+4798765432";

fn consent(wd: &Workdir, number: &str, brand: &str, source: &str, extra: &[&str]) -> Run {
    let mut a = vec![
        "consent",
        "--store",
        "store",
        "--brand",
        brand,
        "--purpose",
        "offers",
        "--method",
        "web_form",
        "--text-ref",
        "offers-v1",
        "--source",
        source,
    ];
    a.extend_from_slice(extra);
    a.push(number);
    wd.run(&a, "").ok()
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Every written form of `digits` (E.164 without `+`): E.164 with and without `+`, `00`
/// prefix, national (Norwegian: the last 8 digits), and the number's u64 bytes both
/// little-endian (journal, tables) and big-endian (the number index).
fn forms(e164_digits: u64) -> Vec<Vec<u8>> {
    let s = e164_digits.to_string();
    let national = &s[s.len() - 8..];
    vec![
        format!("+{s}").into_bytes(),
        s.clone().into_bytes(),
        format!("00{s}").into_bytes(),
        national.as_bytes().to_vec(),
        format!("{} {} {}", &national[..3], &national[3..5], &national[5..]).into_bytes(),
        e164_digits.to_le_bytes().to_vec(),
        e164_digits.to_be_bytes().to_vec(),
    ]
}

/// Files of the store directory holding any form of the number (byte scan).
fn files_holding(wd: &Workdir, e164_digits: u64) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(wd.join("store")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for f in forms(e164_digits) {
            if bytes.windows(f.len()).any(|w| w == f.as_slice()) {
                hits.push(format!("{} holds {:?}", path.display(), String::from_utf8_lossy(&f)));
            }
        }
    }
    hits
}

/// A store where N has a rich history and OTHER some events, the number's digits also
/// written into free-text evidence in every form.
fn rich_store() -> Workdir {
    let wd = Workdir::new();
    let g = ["--granted-at", "2025-01-01T00:00:00Z", "--confirmed-at", "2025-01-02T00:00:00Z"];
    consent(&wd, N, "ACME", "web form, typed +4791234567", &g); // seq 1
    consent(
        &wd,
        N,
        "BETA",
        "shop 912 34 567 / 91234567",
        &["--granted-at", "2025-02-01T00:00:00Z"],
    ); // 2
    consent(&wd, OTHER, "ACME", "web form", &g); // 3
    wd.run(&["stop", "--store", "store", "--brand", "BETA", "--at", "2025-03-01T00:00:00Z", N], "")
        .ok(); // 4
    wd.run(&["stop", "--store", "store", "--at", "2025-03-01T00:00:00Z", OTHER], "").ok(); // 5
    wd.run(
        &["subject", "correct", "--store", "store", N, "--seq", "1", "--source", "0047 91234567"],
        "",
    )
    .ok(); // 6
    wd
}

fn filter(wd: &Workdir, input: &str, now: &str) -> (String, String) {
    let now = format!("--now={now}");
    let r = wd
        .run(
            &[
                "filter",
                "--store",
                "store",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                &now,
                "--rejects",
                "rej.txt",
            ],
            input,
        )
        .ok();
    (r.stdout, wd.read("rej.txt"))
}

#[test]
fn erase_leaves_no_form_of_the_number_in_any_file_after_compaction() {
    let wd = rich_store();
    wd.run(&["compact", "--store", "store"], "").ok();
    // Some events only in the journal tail, too.
    consent(&wd, N, "GAMMA", "late +4791234567", &["--granted-at", "2025-04-01T00:00:00Z"]);
    // The scan can fail: before erasure the number is everywhere.
    assert!(!files_holding(&wd, 4791234567).is_empty());
    assert!(!files_holding(&wd, 4798765432).is_empty());

    let r = wd
        .run(&["subject", "erase", "--store", "store", "--at", "2026-01-01T00:00:00Z", N], "")
        .ok();
    let receipt = json(&r);
    assert_eq!(receipt["verified"], true, "{}", r.stdout);
    assert_eq!(receipt["generation"], 2);
    assert_eq!(receipt["erased_at"], "2026-01-01T00:00:00Z");
    let e = &receipt["erased"][0];
    assert_eq!(e["number"], "+47*****567");
    assert_eq!(e["removed"]["consents"], 3);
    assert_eq!(e["removed"]["stops"], 1);
    assert_eq!(e["removed"]["corrections"], 1);
    assert_eq!(receipt["events_dropped"], 5);
    assert!(!r.stdout.contains("4791234567") && !r.stderr.contains("4791234567"));

    assert_eq!(files_holding(&wd, 4791234567), Vec::<String>::new());
    // Nothing else was lost.
    assert!(!files_holding(&wd, 4798765432).is_empty());
    let other = json(&wd.run(&["subject", "export", "--store", "store", OTHER], "").ok());
    assert_eq!(other["events"].as_array().unwrap().len(), 2);
    // The key file is private, the export says the number was erased and holds nothing.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wd.join("store/suppress.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let ex = json(&wd.run(&["subject", "export", "--store", "store", N], "").ok());
    assert_eq!(ex["events"], serde_json::json!([]));
    assert_eq!(ex["erased_at"], "2026-01-01T00:00:00Z");
}

#[test]
fn erase_blanks_the_number_in_other_peoples_free_text() {
    let wd = rich_store();
    let g = ["--granted-at", "2025-06-01T00:00:00Z", "--confirmed-at", "2025-06-02T00:00:00Z"];
    consent(&wd, OTHER, "BETA", "referred by 91234567 (Kari)", &g);
    // A correction's free text too (of OTHER's consent, seq 3).
    let fix = ["subject", "correct", "--store", "store", OTHER, "--seq", "3"];
    wd.run(&[&fix[..], &["--source", "moved from 912 34 567"]].concat(), "").ok();
    wd.run(&["compact", "--store", "store"], "").ok();
    // One in the snapshot, one only in the journal tail.
    consent(&wd, OTHER, "GAMMA", "tlf +47 912 34 567, shop 12", &g);
    wd.run(&["subject", "erase", "--store", "store", N], "").ok();
    assert_eq!(files_holding(&wd, 4791234567), Vec::<String>::new());
    let other = json(&wd.run(&["subject", "export", "--store", "store", OTHER], "").ok());
    let sources: Vec<&str> =
        other["events"].as_array().unwrap().iter().filter_map(|e| e["source"].as_str()).collect();
    assert_eq!(
        sources,
        ["web form", "referred by [erased] (Kari)", "moved from [erased]", "tlf [erased], shop 12"]
    );
    // Their own number, their consents and the correction are untouched otherwise.
    assert!(!files_holding(&wd, 4798765432).is_empty());
    assert_eq!(other["events"].as_array().unwrap().len(), 5);
}

#[test]
fn erase_without_compaction_takes_effect_at_the_next_one() {
    let wd = rich_store();
    let r = wd.run(&["subject", "erase", "--store", "store", "--no-compact", N], "").ok();
    let receipt = json(&r);
    assert_eq!(receipt["generation"], serde_json::Value::Null);
    assert_eq!(receipt["verified"], false);
    // The erasure event itself holds no form of the number, but the old events still do.
    assert!(!files_holding(&wd, 4791234567).is_empty());
    wd.run(&["compact", "--store", "store"], "").ok();
    assert_eq!(files_holding(&wd, 4791234567), Vec::<String>::new());
}

#[test]
fn erased_number_is_stopped_for_every_brand_until_consent_confirmed_after_erasure() {
    let wd = rich_store();
    let now = "2026-06-01T00:00:00Z";
    assert_eq!(filter(&wd, &format!("{N}\n{OTHER}\n"), now).0, format!("{N}\n"));
    wd.run(
        &[
            "subject",
            "erase",
            "--store",
            "store",
            "--no-compact",
            "--at",
            "2026-01-01T00:00:00Z",
            N,
        ],
        "",
    )
    .ok();
    // Before compaction the old consent is still held: the suppression stops it.
    let (out, rej) = filter(&wd, &format!("{N}\n"), now);
    assert_eq!(out, "");
    assert_eq!(rej, format!("{N}\tSTOPPED\n"));
    wd.run(&["compact", "--store", "store"], "").ok();
    // A new consent after the erasure, not confirmed after it: still stopped.
    consent(&wd, N, "ACME", "came back", &["--granted-at", "2026-02-01T00:00:00Z"]);
    assert_eq!(filter(&wd, &format!("{N}\n"), now).1, format!("{N}\tSTOPPED\n"));
    // Granted and confirmed after the erasure: the person came back.
    let g = ["--granted-at", "2026-02-01T00:00:00Z", "--confirmed-at", "2026-02-02T00:00:00Z"];
    consent(&wd, N, "ACME", "came back", &g);
    assert_eq!(filter(&wd, &format!("{N}\n"), now).0, format!("{N}\n"));
    wd.run(&["compact", "--store", "store"], "").ok();
    assert_eq!(filter(&wd, &format!("{N}\n"), now).0, format!("{N}\n"));
}

#[test]
fn missing_key_file_fails_closed() {
    let wd = rich_store();
    wd.run(&["subject", "erase", "--store", "store", N], "").ok();
    std::fs::remove_file(wd.join("store/suppress.key")).unwrap();
    let r = wd.run(
        &["filter", "--store", "store", "--brand", "ACME", "--purpose", "offers"],
        format!("{OTHER}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("suppression key"), "{}", r.stderr);
}

#[test]
fn export_of_a_rich_history() {
    let wd = rich_store();
    // A move from an older number of the same person into N.
    let old = "+4741234567";
    consent(&wd, old, "DELTA", "old phone", &["--granted-at", "2024-01-01T00:00:00Z"]); // 7
    wd.run(&["subject", "move", "--store", "store", "--at", "2025-05-01T00:00:00Z", old, N], "")
        .ok(); // 8, copy 9
    wd.run(&["compact", "--store", "store"], "").ok();
    consent(
        &wd,
        N,
        "ACME",
        "renewed",
        &["--granted-at", "2025-06-01T00:00:00Z", "--expires-at", "2025-07-01T00:00:00Z"],
    ); // 10
    let r = wd
        .run(&["subject", "export", "--store", "store", "--at", "2026-01-01T00:00:00Z", N], "")
        .ok();
    let ex = json(&r);
    assert_eq!(ex["number"], N);
    let kinds: Vec<(u64, &str)> = ex["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, "consent"),
            (2, "consent"),
            (4, "stop"),
            (6, "correction"),
            (8, "move"),
            (9, "consent"),
            (10, "consent")
        ]
    );
    let ev = &ex["events"];
    assert_eq!(ev[0]["source"], "web form, typed +4791234567");
    assert_eq!(ev[3]["corrects"], 1);
    assert_eq!(ev[3]["source"], "0047 91234567");
    assert_eq!(ev[3]["method"], serde_json::Value::Null);
    assert_eq!(ev[4]["from"], old);
    assert_eq!(ev[4]["to"], N);
    assert_eq!(ev[5]["brand"], "DELTA");
    // Corrections applied in `consents`, the original kept beside them.
    let c0 = &ex["consents"][0];
    assert_eq!(c0["seq"], 1);
    assert_eq!(c0["evidence"]["source"], "0047 91234567");
    assert_eq!(c0["recorded"]["source"], "web form, typed +4791234567");
    assert_eq!(c0["corrected_by"], serde_json::json!([6]));
    // Verdicts per (brand, purpose): ACME's newest consent expired, BETA stopped, DELTA
    // copied over (not confirmed).
    let verdicts: Vec<(String, String)> = ex["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (v["brand"].as_str().unwrap().to_string(), v["reason"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("ACME".to_string(), "CONSENT_EXPIRED".to_string()),
            ("BETA".to_string(), "STOPPED".to_string()),
            ("DELTA".to_string(), "ALLOWED".to_string()),
        ]
    );
    assert_eq!(ex["verdicts"][2]["reason_if_confirmation_required"], "CONSENT_UNCONFIRMED");
    assert!(ex["kept_after_erasure"].as_str().unwrap().contains("keyed hash"));
    // Nothing about other numbers.
    assert!(!r.stdout.contains("98765432"), "{}", r.stdout);
}

#[test]
fn move_copies_consents_and_stops_and_stops_the_old_number() {
    let wd = rich_store();
    let new = "+4790000001";
    let r = wd
        .run(&["subject", "move", "--store", "store", "--at", "2025-05-01T00:00:00Z", N, new], "")
        .ok();
    let m = json(&r);
    assert_eq!(m["consents_copied"], 2);
    assert_eq!(m["stops_copied"], 1);
    assert!(!r.stdout.contains("4791234567"), "masked: {}", r.stdout);
    let now = "2026-01-01T00:00:00Z";
    let (out, rej) = filter(&wd, &format!("{N}\n{new}\n"), now);
    assert_eq!(out, format!("{new}\n"));
    assert_eq!(rej, format!("{N}\tSTOPPED\n"));
    wd.run(&["compact", "--store", "store"], "").ok();
    let (out, rej) = filter(&wd, &format!("{N}\n{new}\n"), now);
    assert_eq!(out, format!("{new}\n"));
    assert_eq!(rej, format!("{N}\tSTOPPED\n"));
    // The old number's history is kept; the new one shows the move and the copies.
    let old = json(&wd.run(&["subject", "export", "--store", "store", N], "").ok());
    assert_eq!(old["events"].as_array().unwrap().len(), 5);
    let newx = json(&wd.run(&["subject", "export", "--store", "store", new], "").ok());
    let types: Vec<&str> =
        newx["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["move", "consent", "consent", "stop"]);
    // Copies carry the corrected evidence.
    assert_eq!(newx["events"][1]["source"], "0047 91234567");
    // Erasing the new number erases the old one too (they are one person).
    let receipt = json(&wd.run(&["subject", "erase", "--store", "store", new], "").ok());
    assert_eq!(receipt["erased"].as_array().unwrap().len(), 2);
    assert_eq!(files_holding(&wd, 4790000001), Vec::<String>::new());
    assert_eq!(files_holding(&wd, 4791234567), Vec::<String>::new());
}

#[test]
fn purge_drops_ended_consents_past_retention_and_keeps_stops() {
    let wd = Workdir::new();
    let a = "+4791000001";
    let b = "+4791000002";
    let c = "+4791000003";
    // a: expired in 2022 (purged); b: withdrawn by a stop in 2022 (purged, stop kept);
    // c: expired 2025 (within 24 months of 2026-06: kept).
    consent(
        &wd,
        a,
        "ACME",
        "src-expired-old",
        &["--granted-at", "2021-01-01T00:00:00Z", "--expires-at", "2022-01-01T00:00:00Z"],
    );
    consent(&wd, b, "ACME", "src-withdrawn-old", &["--granted-at", "2021-01-01T00:00:00Z"]);
    wd.run(&["stop", "--store", "store", "--at", "2022-01-01T00:00:00Z", b], "").ok();
    consent(
        &wd,
        c,
        "ACME",
        "src-recent",
        &["--granted-at", "2024-01-01T00:00:00Z", "--expires-at", "2025-01-01T00:00:00Z"],
    );
    wd.run(
        &["subject", "correct", "--store", "store", a, "--seq", "1", "--text-ref", "src-fixed"],
        "",
    )
    .ok();
    let r = wd
        .run(
            &["purge", "--store", "store", "--older-than", "24mo", "--now", "2026-06-01T00:00:00Z"],
            "",
        )
        .ok();
    let p = json(&r);
    assert_eq!(p["consents_purged"], 2);
    assert_eq!(p["corrections_purged"], 1);
    assert_eq!(p["numbers_affected"], 2);
    assert_eq!(p["generation"], 1);
    assert_eq!(p["verified"], true);
    let all: Vec<u8> = std::fs::read_dir(wd.join("store"))
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let has = |s: &str| all.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(!has("src-expired-old") && !has("src-withdrawn-old") && !has("src-fixed"));
    assert!(has("src-recent"));
    let bx = json(&wd.run(&["subject", "export", "--store", "store", b], "").ok());
    let types: Vec<&str> =
        bx["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["stop"], "the stop stays");
    // Decisions are unchanged by the purge.
    let (out, rej) = filter(&wd, &format!("{a}\n{b}\n{c}\n"), "2026-06-01T00:00:00Z");
    assert_eq!(out, "");
    assert_eq!(rej, format!("{a}\tNO_CONSENT\n{b}\tSTOPPED\n{c}\tCONSENT_EXPIRED\n"));
}

#[test]
fn bad_input_is_refused() {
    let wd = rich_store();
    for period in ["24", "m", "0m", "-3m", "24x", "99999999999y", ""] {
        let r = wd.run(&["purge", "--store", "store", "--older-than", period], "");
        assert_eq!(r.code, 2, "{period}: {}", r.stderr);
    }
    let r =
        wd.run(&["subject", "correct", "--store", "store", N, "--seq", "3", "--source", "x"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a consent of +47*****567"), "{}", r.stderr);
    let r = wd.run(&["subject", "correct", "--store", "store", N, "--seq", "1"], "");
    assert_eq!(r.code, 2, "a correction that changes nothing: {}", r.stderr);
    let r = wd.run(&["subject", "move", "--store", "store", N, "912 34 567"], "");
    assert_eq!(r.code, 2);
    let r = wd.run(&["subject", "export", "--store", "store", "12"], "");
    assert_eq!(r.code, 2);
    let r = wd.run(&["subject", "export", "--store", "nostore", N], "");
    assert_eq!(r.code, 2);
}

#[test]
fn erasure_survives_a_crash_at_each_durable_step_of_its_compaction() {
    for fp in ["compact-before-publish", "compact-after-publish", "compact-after-rotate"] {
        let wd = rich_store();
        let out = wd
            .command(&["subject", "erase", "--store", "store", "--at", "2026-01-01T00:00:00Z", N])
            .env("SENDFILTER_FAILPOINT", fp)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{fp}: the process must have crashed");
        // The erasure was acknowledged before the compaction: the number is refused now
        // (stopped by the suppression entry, or its consent already gone).
        let (out, rej) = filter(&wd, &format!("{N}\n"), "2026-06-01T00:00:00Z");
        assert_eq!(out, "", "{fp}");
        assert!(rej.contains("STOPPED") || rej.contains("NO_CONSENT"), "{fp}: {rej}");
        // The next compaction finishes the job.
        wd.run(&["compact", "--store", "store"], "").ok();
        assert_eq!(files_holding(&wd, 4791234567), Vec::<String>::new(), "{fp}");
        let ex = json(&wd.run(&["subject", "export", "--store", "store", N], "").ok());
        assert_eq!(ex["events"], serde_json::json!([]), "{fp}");
        assert_eq!(ex["erased_at"], "2026-01-01T00:00:00Z", "{fp}");
    }
}

#[test]
fn info_advises_compaction_while_an_erasure_is_pending() {
    let wd = rich_store();
    wd.run(&["compact", "--store", "store"], "").ok();
    let info = |wd: &Workdir| {
        let r = wd.run(&["info", "--store", "store", "--json"], "").ok();
        json(&r)
    };
    assert_eq!(info(&wd)["compaction_advised"], false);
    wd.run(&["subject", "erase", "--store", "store", "--no-compact", N], "").ok();
    let i = info(&wd);
    assert_eq!(i["compaction_advised"], true);
    assert_eq!(i["journal_tail"]["erasures"], 1);
    wd.run(&["compact", "--store", "store"], "").ok();
    let i = info(&wd);
    assert_eq!(i["compaction_advised"], false);
    assert_eq!(i["snapshot_counts"]["suppressed"], 1);
}
