//! Erasures that keep holding: the suppression key is never minted again while erased
//! numbers are held under a lost one, and `info` reports a missing key.

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
