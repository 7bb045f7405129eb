//! `sendfilter access`: roles decide who may run what on a store, and every command is
//! logged once roles are on.

use crate::harness::Workdir;

/// A store with one stop, ACME registered, and roles: alice privacy, bob campaign.
fn store_with_roles() -> Workdir {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "--brand", "ACME", "+4791234567"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "alice", "privacy"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "bob", "campaign"], "").ok();
    wd
}

const FILTER: [&str; 9] =
    ["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers", "--shortcode", "2401"];

#[test]
fn without_roles_everyone_may_do_everything_and_it_is_still_recorded() {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "--brand", "ACME", "+4791234567"], "").ok();
    wd.run_as("eve", &["subject", "export", "--store", "s", "+4791234567"], "").ok();
    wd.run_as("eve", &["brand", "add", "--store", "s", "ACME", "--shortcode", "2401"], "").ok();
    let out = wd.run(&["access", "list", "--store", "s"], "").ok();
    assert!(out.stdout.contains("roles are off"), "{}", out.stdout);
    // The audit trail records every command, roles or not (role `open`).
    let log = wd.read("s/audit");
    let recs: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cmds: Vec<&str> = recs.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(cmds, ["stop", "subject export", "brand add", "access list"]);
    assert!(recs.iter().all(|r| r["role"] == "open" && r["outcome"] == "ok"), "{log}");
    assert_eq!(recs[1]["actor"], "eve");
    assert!(!log.contains("4791234567"));
}

#[test]
fn roles_allow_and_refuse_by_the_table_and_a_refused_command_changes_nothing() {
    let wd = store_with_roles();
    // Campaign staff filter, but may not read a person's data, record or configure.
    let run = wd.run_as("bob", &FILTER, "+4791234567\n").ok();
    assert_eq!(run.stdout, "");
    for args in [
        &["subject", "export", "--store", "s", "+4791234567"][..],
        &["stop", "--store", "s", "--brand", "ACME", "+4790000001"],
        &["policy", "--store", "s", "set", "--brand", "ACME", "--require-confirmed", "true"],
        &["access", "grant", "--store", "s", "bob", "admin"],
    ] {
        let run = wd.run_as("bob", args, "");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("access denied: user \"bob\" (campaign)"), "{}", run.stderr);
        assert!(!run.stderr.contains("4791234567") && !run.stderr.contains("4790000001"));
    }
    // Nothing was recorded or changed by the refused commands.
    let info = wd.run(&["info", "--store", "s"], "").ok();
    assert!(info.stdout.contains("journal last seq:    1"), "{}", info.stdout);
    let list = wd.run(&["access", "list", "--store", "s", "--json"], "").ok();
    assert!(list.stdout.contains("\"bob\": \"campaign\""), "{}", list.stdout);
    // The privacy officer handles the person's requests, but may not run campaigns.
    let export = wd.run_as("alice", &["subject", "export", "--store", "s", "+4791234567"], "").ok();
    assert!(export.stdout.contains("\"number\": \"+4791234567\""), "{}", export.stdout);
    wd.run_as("alice", &["stop", "--store", "s", "--brand", "ACME", "+4790000001"], "").ok();
    assert_eq!(wd.run_as("alice", &FILTER, "+4791234567\n").code, 2);
    // Someone without a role may not even look.
    let run = wd.run_as("eve", &["info", "--store", "s"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("\"eve\" (no role)"), "{}", run.stderr);
    // Whoami answers anyone.
    let me = wd.run_as("eve", &["access", "whoami", "--store", "s"], "").ok();
    assert!(me.stdout.contains("user: eve (via sudo)") && me.stdout.contains("may: nothing"));
    let me = wd.run_as("bob", &["access", "whoami", "--store", "s"], "").ok();
    assert!(me.stdout.contains("role: campaign") && me.stdout.contains("may: inspect, filter"));
}

#[test]
fn every_command_is_audited_without_numbers() {
    let wd = store_with_roles();
    wd.run_as("bob", &FILTER, "+4791234567\n").ok();
    assert_eq!(wd.run_as("bob", &["subject", "export", "--store", "s", "+4791234567"], "").code, 2);
    wd.run(&["access", "revoke", "--store", "s", "bob"], "").ok();
    assert_eq!(wd.run_as("bob", &FILTER, "+4791234567\n").code, 2);
    let log = wd.read("s/audit");
    let recs: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let me = recs[0]["actor"].as_str().unwrap().to_string();
    let tail: Vec<String> = recs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r["actor"].as_str().unwrap(),
                r["role"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["command"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            format!("{me} open stop stop ok"),
            format!("{me} open manage-access access grant ok"),
            format!("{me} owner manage-access access grant ok"),
            "bob campaign filter filter ok".into(),
            "bob campaign export-subject subject export denied".into(),
            format!("{me} owner manage-access access revoke ok"),
            "bob none filter filter denied".into(),
        ]
    );
    assert_eq!(recs[3]["brand"], "ACME");
    assert_eq!(recs[3]["counts"]["records"], 1);
    assert!(!log.contains("4791234567"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wd.join("s/audit")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_damaged_roles_file_refuses_everyone_but_the_owner() {
    let wd = store_with_roles();
    std::fs::write(
        wd.join("s/access"),
        "sendfilter-access 1\n{\"users\":{\"bob\":\"admin\"}}\ncheck 0\n",
    )
    .unwrap();
    let run = wd.run_as("bob", &FILTER, "+4791234567\n");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("checksum or format mismatch"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    // The owner may repair it.
    wd.run(&["access", "grant", "--store", "s", "bob", "campaign"], "").ok();
    wd.run_as("bob", &FILTER, "+4791234567\n").ok();
}

#[test]
fn bad_names_and_roles_are_refused_clearly() {
    let wd = store_with_roles();
    let run = wd.run(&["access", "grant", "--store", "s", "bob", "root"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown role \"root\""), "{}", run.stderr);
    let run = wd.run(&["access", "grant", "--store", "s", "two words", "admin"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid user name"), "{}", run.stderr);
    let run = wd.run(&["access", "revoke", "--store", "s", "carol"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("carol has no role"), "{}", run.stderr);
    let run = wd.run(&["access", "grant", "--store", "nothing-here", "bob", "admin"], "");
    assert_eq!(run.code, 2);
    assert!(!wd.join("nothing-here").exists(), "no store is created for a grant");
    // Turning roles off lets everyone in again; the audit log stays.
    wd.run(&["access", "disable", "--store", "s"], "").ok();
    wd.run_as("eve", &["info", "--store", "s"], "").ok();
    assert!(wd.join("s/audit").exists());
}
