//! The audit trail (issue 24): a record for every command, per-person answers
//! (`audit --subject`), a hash chain `audit verify` checks, and the actor of corrections.

use crate::harness::Workdir;

const N: &str = "+4791234567";
const OTHER: &str = "+4791234568";

fn consent(wd: &Workdir, number: &str) {
    wd.run(
        &[
            "consent",
            "--store",
            "s",
            number,
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--granted-at",
            "2026-01-01T00:00:00Z",
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

fn records(wd: &Workdir) -> Vec<serde_json::Value> {
    wd.read("s/audit").lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The store with a history for N and OTHER: a consent each, a stop for N, an import
/// that touches N, an export and a correction of N's consent.
fn history() -> Workdir {
    let wd = Workdir::new();
    consent(&wd, N);
    consent(&wd, OTHER);
    wd.run(&["stop", "--store", "s", "--brand", "ACME", N], "").ok();
    wd.write("stops.csv", format!("number,brand,stopped_at\n{N},Beta,\n{OTHER},Beta,\n"));
    wd.run(&["import", "stops", "--store", "s", "stops.csv"], "").ok();
    wd.run(&["subject", "export", "--store", "s", N], "").ok();
    wd.run(&["subject", "correct", "--store", "s", N, "--seq", "1", "--source", "web shop"], "")
        .ok();
    wd
}

#[test]
fn audit_subject_lists_what_happened_to_one_person_and_nobody_else() {
    let wd = history();
    let run = wd.run(&["audit", "--store", "s", "--subject", N, "--json"], "").ok();
    let cmds: Vec<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["command"].to_string())
        .collect();
    assert_eq!(
        cmds,
        [
            "\"consent\"",
            "\"stop\"",
            "\"import stops\"",
            "\"subject export\"",
            "\"subject correct\""
        ],
        "{}",
        run.stdout
    );
    // The other person: their consent and the import only.
    let run = wd.run(&["audit", "--store", "s", "--subject", OTHER], "").ok();
    assert!(run.stdout.starts_with("# audit trail of +47*****568 (2 record(s))"), "{}", run.stdout);
    assert!(
        run.stdout.contains(" consent [record] ok brand=ACME purpose=offers"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("4791234568"), "{}", run.stdout);
    // --since: nothing recorded in the future.
    let run =
        wd.run(&["audit", "--store", "s", "--subject", N, "--since", "2099-01-01T00:00:00Z"], "");
    assert!(run.ok().stdout.contains("(0 record(s))"));
    let run = wd.run(&["audit", "--store", "s", "--subject", N, "--since", "1d"], "").ok();
    // The five, and the two earlier reads of N's trail (themselves recorded).
    assert!(run.stdout.contains("(7 record(s))"), "{}", run.stdout);
    // The audit reads are recorded too, with the subject's reference and no number.
    let recs = records(&wd);
    let last = recs.last().unwrap();
    assert_eq!(last["command"], "audit --subject");
    assert_eq!(last["subject"].as_str().unwrap().len(), 32);
    assert_eq!(recs.iter().filter(|r| r["subject"] == last["subject"]).count(), 7);
}

#[test]
fn no_number_in_any_audit_byte() {
    let wd = history();
    wd.run(
        &[
            "filter",
            "--store",
            "s",
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--shortcode",
            "2401",
        ],
        format!("{N}\n{OTHER}\n"),
    )
    .ok();
    // Every command that reads or changes personal data, roles or not.
    let stop_reply = serde_json::json!(
        {"from": OTHER, "to": "2401", "text": "STOP", "received_at": "2026-02-01T00:00:00Z"}
    );
    wd.run(&["inbound", "--store", "s"], format!("{stop_reply}\n")).ok();
    wd.run(&["expiring", "--store", "s", "--brand", "ACME", "--within", "30d"], "").ok();
    wd.run(&["audit", "--store", "s", "--subject", OTHER], "").ok();
    wd.run(&["subject", "move", "--store", "s", OTHER, "+4791234569"], "").ok();
    wd.run(&["purge", "--store", "s", "--older-than", "24mo"], "").ok();
    wd.run(&["compact", "--store", "s"], "").ok();
    wd.run(&["subject", "erase", "--store", "s", N], "").ok();
    let cmds: Vec<String> =
        records(&wd).iter().map(|r| r["command"].as_str().unwrap().to_string()).collect();
    for c in [
        "consent",
        "stop",
        "import stops",
        "filter",
        "inbound",
        "expiring",
        "audit --subject",
        "subject export",
        "subject correct",
        "subject move",
        "subject erase",
        "purge",
        "compact",
    ] {
        assert!(cmds.iter().any(|x| x == c), "no audit record of {c}: {cmds:?}");
    }
    let inbound = records(&wd).into_iter().find(|r| r["command"] == "inbound").unwrap();
    assert!(inbound["seq_range"].is_array(), "{inbound}");
    for f in ["s/audit", "s/audit.idx"] {
        let bytes = std::fs::read(wd.join(f)).unwrap();
        for n in ["4791234567", "4791234568", "4791234569", "91234567", "91234568"] {
            let hit = bytes.windows(n.len()).any(|w| w == n.as_bytes());
            assert!(!hit, "{f} holds {n}");
            for v in [4791234567u64, 4791234568, 4791234569] {
                for b in [v.to_le_bytes(), v.to_be_bytes()] {
                    assert!(!bytes.windows(8).any(|w| w == b), "{f} holds {v} in binary");
                }
            }
        }
    }
    // The erasure is in N's trail, found by its reference after the erasure too.
    let run = wd.run(&["audit", "--store", "s", "--subject", N], "").ok();
    assert!(run.stdout.contains("subject erase [change-subject] ok"), "{}", run.stdout);
    let filter = records(&wd).into_iter().find(|r| r["command"] == "filter").unwrap();
    assert_eq!(filter["counts"]["records"], 2);
    assert_eq!(filter["purpose"], "offers");
}

#[test]
fn audit_verify_names_an_edited_a_removed_and_a_swapped_record() {
    let wd = history();
    let run = wd.run(&["audit", "verify", "--store", "s"], "").ok();
    assert!(run.stdout.contains("6 record(s); head: record 6, hash "), "{}", run.stdout);
    assert!(run.stdout.trim_end().ends_with("intact"), "{}", run.stdout);
    let head = run.stdout.split("hash ").nth(1).unwrap().split(';').next().unwrap().to_string();
    let orig: Vec<String> = wd.read("s/audit").lines().map(str::to_string).collect();
    let put =
        |lines: &[String]| std::fs::write(wd.join("s/audit"), lines.join("\n") + "\n").unwrap();
    // Keyed with the store's key (made by the first command about a person).
    assert!(orig.iter().all(|l| l.starts_with("{\"v\":2,\"n\":")), "{orig:?}");

    let mut edited = orig.clone();
    edited[1] = edited[1].replace("\"outcome\":\"ok\"", "\"outcome\":\"failed\"");
    put(&edited);
    let run = wd.run(&["audit", "verify", "--store", "s"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("line 2: record 2 was edited"), "{}", run.stderr);

    let mut removed = orig.clone();
    removed.remove(2);
    put(&removed);
    let run = wd.run(&["audit", "verify", "--store", "s"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("line 3: record 3 was removed before it"), "{}", run.stderr);

    let mut swapped = orig.clone();
    swapped.swap(3, 4);
    put(&swapped);
    let run = wd.run(&["audit", "verify", "--store", "s"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("line 4: record 5 stands after record 3"), "{}", run.stderr);

    // The last record cut: only the head kept elsewhere shows it.
    put(&orig[..5]);
    wd.run(&["audit", "verify", "--store", "s"], "").ok();
    let run = wd.run(&["audit", "verify", "--store", "s", "--head", &head], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not in the trail"), "{}", run.stderr);
}

#[test]
fn corrections_carry_their_actor_and_an_identical_repeat_is_a_no_op() {
    let wd = Workdir::new();
    consent(&wd, N);
    wd.run(&["access", "grant", "--store", "s", "alice", "privacy"], "").ok();
    let fix = ["subject", "correct", "--store", "s", N, "--seq", "1", "--source", "web shop"];
    let r = wd.run_as("alice", &fix, "").ok();
    assert!(r.stdout.contains("\"unchanged\": false"), "{}", r.stdout);
    let r = wd.run_as("alice", &fix, "").ok();
    assert!(r.stdout.contains("\"unchanged\": true") && r.stdout.contains("\"seq\": 2"));
    let export = wd.run(&["subject", "export", "--store", "s", N], "").ok();
    let e: serde_json::Value = serde_json::from_str(&export.stdout).unwrap();
    let corrections: Vec<&serde_json::Value> =
        e["events"].as_array().unwrap().iter().filter(|v| v["type"] == "correction").collect();
    assert_eq!(corrections.len(), 1, "the repeat recorded nothing");
    assert_eq!(corrections[0]["actor"], "alice (privacy)");
    // The repeat is in the trail, as such.
    assert!(wd.read("s/audit").contains("identical repeat: nothing recorded"));
}

#[test]
fn only_auditor_privacy_and_admin_may_read_the_trail() {
    let wd = history();
    wd.run(&["access", "grant", "--store", "s", "bob", "campaign"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "ada", "auditor"], "").ok();
    let r = wd.run_as("bob", &["audit", "--store", "s", "--subject", N], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("access denied"), "{}", r.stderr);
    assert_eq!(wd.run_as("bob", &["audit", "verify", "--store", "s"], "").code, 2);
    let r = wd.run_as("ada", &["audit", "--store", "s", "--subject", N], "").ok();
    assert!(r.stdout.contains("(5 record(s))"), "{}", r.stdout);
    wd.run_as("ada", &["audit", "verify", "--store", "s"], "").ok();
}
