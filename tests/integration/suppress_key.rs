//! Erasures that keep holding: the suppression key is never minted again while erased
//! numbers are held under a lost one, `info` reports a missing key, and decision receipts
//! hold numbers only under a keyed hash.

use crate::harness::{CONSENTS_HEADER, Workdir};

const ERASED: &str = "+4791000001";
const NEXT: &str = "+4791000002";

fn consents() -> String {
    [ERASED, NEXT]
        .iter()
        .map(|n| {
            format!(
                "{n},ACME,offers,sms,2025-01-01T00:00:00Z,web_form,v1,web,,2025-01-01T00:00:00Z\n"
            )
        })
        .collect()
}

fn erase(wd: &Workdir, n: &str) -> crate::harness::Run {
    wd.run(&["subject", "erase", "--store", "store", "--at", "2026-01-01T00:00:00Z", n], "")
}

/// The sequence: erase one person, lose the key, erase another. The second erasure
/// must not mint a new key (under which the first person's re-imported consent would be
/// allowed); the store stays closed, with a message on restoring the key, until it is back.
#[test]
fn a_lost_key_is_never_replaced_and_the_store_stays_closed_until_it_is_back() {
    for compacted in [true, false] {
        let wd = Workdir::new();
        wd.import_store("", &consents());
        if compacted {
            erase(&wd, ERASED).ok();
        } else {
            wd.run(
                &[
                    "subject",
                    "erase",
                    "--store",
                    "store",
                    "--no-compact",
                    "--at",
                    "2026-01-01T00:00:00Z",
                    ERASED,
                ],
                "",
            )
            .ok();
        }
        let key = wd.join("store/suppress.key");
        let backup = std::fs::read(&key).unwrap();
        std::fs::remove_file(&key).unwrap();

        let r = erase(&wd, NEXT);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("suppress.key") && r.stderr.contains("backup"),
            "says which file to restore: {}",
            r.stderr
        );
        assert!(!key.exists(), "no new key minted (compacted: {compacted})");
        // `info` reports it as an integrity failure (exit 2), in text and JSON.
        let info = wd.run(&["info", "--store", "store"], "");
        assert_eq!(info.code, 2, "{}", info.stdout);
        assert!(!info.stdout.contains("integrity:           ok"), "{}", info.stdout);
        assert!(info.stdout.contains("suppression key"), "{}", info.stdout);
        let json = wd.run(&["info", "--store", "store", "--json"], "");
        let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        assert!(v["integrity"].as_str().unwrap().contains("missing"), "{}", json.stdout);
        let f = wd.run(
            &["filter", "--store", "store", "--brand", "ACME", "--purpose", "offers"],
            format!("{ERASED}\n{NEXT}\n"),
        );
        assert_eq!((f.code, f.stdout.as_str()), (2, ""), "{}", f.stderr);

        // The key restored from backup: everything works again, the erasure holds.
        std::fs::write(&key, &backup).unwrap();
        let info = wd.run(&["info", "--store", "store"], "").ok();
        assert!(info.stdout.contains("integrity:           ok"), "{}", info.stdout);
        erase(&wd, NEXT).ok();
        // Their old consents re-imported: the erasures still hold.
        wd.write("old.csv", format!("{CONSENTS_HEADER}{}", consents()));
        wd.run(&["import", "consents", "--store", "store", "old.csv"], "").ok();
        let f = wd
            .run(
                &["filter", "--store", "store", "--brand", "ACME", "--purpose", "offers"],
                format!("{ERASED}\n{NEXT}\n"),
            )
            .ok();
        assert_eq!(f.stdout, "", "both erased: nothing allowed");
        let ex = wd.run(&["subject", "export", "--store", "store", ERASED], "").ok();
        let v: serde_json::Value = serde_json::from_str(&ex.stdout).unwrap();
        assert_eq!(v["erased_at"], "2026-01-01T00:00:00Z", "{}", ex.stdout);
    }
}

/// A store without erasures gets its key on the first erasure, as before, and `info`
/// does not ask for a key it does not need.
#[test]
fn the_first_erasure_creates_the_key() {
    let wd = Workdir::new();
    wd.import_store("", &consents());
    let info = wd.run(&["info", "--store", "store"], "").ok();
    assert!(info.stdout.contains("integrity:           ok"), "{}", info.stdout);
    assert!(!wd.join("store/suppress.key").exists());
    erase(&wd, ERASED).ok();
    assert!(wd.join("store/suppress.key").exists());
}

/// Receipts hash numbers under the store's receipt key (`receipt.key`, 0600, made by the
/// first run with receipts and kept): the store's holder finds a number's lines with
/// `subject receipt-hash`; an erasure leaves receipt files and the key as they are, and
/// its receipt says so.
#[test]
fn receipts_are_keyed_and_an_erasure_says_what_becomes_of_them() {
    let wd = Workdir::new();
    wd.import_store("", &consents());
    let none = wd.run(&["subject", "receipt-hash", "--store", "store", ERASED], "");
    assert_eq!(none.code, 2, "no key yet: {}", none.stderr);
    assert!(none.stderr.contains("no receipt key"), "{}", none.stderr);
    let run = |file: &str| {
        wd.run(
            &[
                "filter",
                "--store",
                "store",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--receipts",
                file,
            ],
            format!("{ERASED}\n{NEXT}\n"),
        )
        .ok();
        wd.read(file)
    };
    let first = run("r1.csv");
    let key = std::fs::read(wd.join("store/receipt.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wd.join("store/receipt.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let hash = |n: &str| {
        let r = wd.run(&["subject", "receipt-hash", "--store", "store", n], "").ok();
        r.stdout.trim().to_string()
    };
    let (h1, h2) = (hash(ERASED), hash(NEXT));
    assert_eq!(h1.len(), 16);
    assert!(first.contains(&format!("\n{h1},allow,")), "{first}");
    assert!(first.contains(&format!("\n{h2},allow,")), "{first}");
    let unkeyed = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&4791000001u64.to_le_bytes()));
    assert!(!first.contains(&unkeyed), "no unkeyed hash: {first}");
    // The same key for the next run (and it is named in the header).
    assert_eq!(run("r2.csv").lines().nth(2), first.lines().nth(2));
    let key_id = first.lines().next().unwrap().rsplit("key=").next().unwrap().to_string();
    assert_eq!(key_id.len(), 16, "{first}");
    // The erasure receipt says what becomes of receipt files; they and the key stay.
    let r = erase(&wd, ERASED).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let said = v["receipt_files"].as_str().unwrap();
    assert!(said.contains("receipt.key") && said.contains("retention"), "{said}");
    assert_eq!(wd.read("r1.csv"), first);
    assert_eq!(std::fs::read(wd.join("store/receipt.key")).unwrap(), key);
    assert_eq!(hash(ERASED), h1);
    // Without the key nothing links: a lost key makes a new one, under which the old
    // lines are not found (the header's key differs).
    std::fs::remove_file(wd.join("store/receipt.key")).unwrap();
    let third = run("r3.csv");
    assert_ne!(hash(NEXT), h2);
    assert!(!third.contains(&key_id), "{third}");
}
