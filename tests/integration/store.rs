//! The consent store end to end: CLI import/stop/consent/compact/info, crash and
//! corruption behaviour with the real binary.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use sendfilter::store::{Event, Store};
use sendfilter::{E164, StandingSource};

use crate::harness::Workdir;

const CONSENTS: &str =
    "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";

#[test]
fn import_reports_bad_rows_masked_and_exits_1() {
    let wd = Workdir::new();
    let csv = "number,brand,stopped_at\n+4791234567,ACME,2026-01-01T00:00:00Z\n\
               +4791234568,ACME,not-a-time\nnonsense,ACME,2026-01-01T00:00:00Z\n";
    let r = wd.run(&["import", "stops", "--store", "st", "-"], csv);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("line 3 (+47*****568): stopped_at is not an RFC 3339 time"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("line 4: number"), "{}", r.stderr);
    assert!(!r.stderr.contains("4791234568"), "{}", r.stderr);
    assert!(r.stderr.contains("imported 1 of 3 rows (2 bad)"), "{}", r.stderr);
    let info = wd.run(&["info", "--store", "st", "--json"], "").ok();
    assert!(info.stdout.contains("\"journal_last_seq\": 1"), "{}", info.stdout);
}

#[test]
fn strict_import_writes_nothing() {
    let wd = Workdir::new();
    let csv = "number,brand,stopped_at\n+4791234567,ACME,2026-01-01T00:00:00Z\nx,ACME,2026\n";
    let r = wd.run(&["import", "stops", "--strict", "--store", "st", "-"], csv);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nothing imported"), "{}", r.stderr);
    let info = wd.run(&["info", "--store", "st", "--json"], "").ok();
    assert!(info.stdout.contains("\"journal_last_seq\": 0"), "{}", info.stdout);
}

#[test]
fn header_mismatch_is_a_clear_error() {
    let wd = Workdir::new();
    let r = wd.run(&["import", "stops", "--store", "st", "-"], "number,brand,when\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing column(s) stopped_at"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown column(s) when"), "{}", r.stderr);
    // A file without a header: its first row is counted, not echoed.
    let r = wd
        .run(&["import", "stops", "--store", "st", "-"], "+4791234567,ACME,2026-01-01T00:00:00Z\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown column(s) 3 not shown"), "{}", r.stderr);
    assert!(r.stderr.contains("looks like a data row"), "{}", r.stderr);
    assert!(!r.stderr.contains("567") && !r.stderr.contains("ACME"), "{}", r.stderr);
    // A header alone imports nothing and says where the store is.
    wd.run(&["stop", "--store", "st", "--brand", "ACME", "+4791234567"], "").ok();
    let r = wd.run(&["import", "stops", "--store", "st", "-"], "number,brand,stopped_at\n").ok();
    assert!(r.stderr.contains("imported 0 of 0 rows (0 bad); last sequence 1"), "{}", r.stderr);
}

#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "st", "+4791234567", "--at", "2026-01-01T00:00:00Z"], "").ok();
    wd.run(&["compact", "--store", "st"], "").ok();
    let mode = |p: &str| std::fs::metadata(wd.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("st"), 0o700);
    for f in ["st/journal", "st/snapshot", "st/config"] {
        assert_eq!(mode(f), 0o600, "{f}");
    }
}

#[test]
fn stop_then_unconfirmed_consent_keeps_stop_confirmed_lifts_it() {
    let wd = Workdir::new();
    wd.run(
        &[
            "stop",
            "--store",
            "st",
            "+4791234567",
            "--brand",
            "ACME",
            "--at",
            "2026-06-01T00:00:00Z",
        ],
        "",
    )
    .ok();
    let csv =
        format!("{CONSENTS}+4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,web_form,v1,web,,\n");
    let r = wd.run(&["import", "consents", "--store", "st", "-"], csv).ok();
    assert!(r.stderr.contains("1 consents did not lift an earlier stop"), "{}", r.stderr);
    let r = wd
        .run(
            &[
                "consent",
                "--store",
                "st",
                "+4791234567",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--method",
                "sms_keyword",
                "--text-ref",
                "v1",
                "--source",
                "sms",
                "--granted-at",
                "2026-07-15T00:00:00Z",
            ],
            "",
        )
        .ok();
    assert!(r.stderr.contains("does not lift the stop of 2026-06-01T00:00:00Z"), "{}", r.stderr);
    wd.run(
        &[
            "consent",
            "--store",
            "st",
            "+4791234567",
            "--brand",
            "ACME",
            "--purpose",
            "offers",
            "--method",
            "double_opt_in",
            "--text-ref",
            "v2",
            "--source",
            "sms",
            "--granted-at",
            "2026-08-01T00:00:00Z",
            "--confirmed-at",
            "2026-08-01T00:05:00Z",
        ],
        "",
    )
    .ok();
    wd.run(&["compact", "--store", "st"], "").ok();
    let store = Store::open(wd.join("st")).unwrap();
    let view = store.view().unwrap();
    let n = E164::from_u64(4791234567).unwrap();
    let st = view.standing(&view.scope("ACME", "offers"), n);
    let t = |s: &str| sendfilter::timefmt::parse_rfc3339(s).unwrap();
    assert_eq!(st.stopped_at, Some(t("2026-06-01T00:00:00Z")));
    let c = st.consent.unwrap();
    assert_eq!(c.confirmed_at, Some(t("2026-08-01T00:05:00Z")));
    let ev = store.evidence(n).unwrap();
    assert_eq!(ev.len(), 4);
    assert!(matches!(&ev[1].event, Event::Consent(c) if c.text_ref == "v1"));
}

#[test]
fn info_reports_counts() {
    let wd = Workdir::new();
    let csv = format!(
        "{CONSENTS}+4791234567,ACME,offers,sms,2026-07-01T00:00:00Z,web_form,v1,web,,\n\
         +4791234568,ACME,offers,email,2026-07-01T00:00:00Z,web_form,v1,web,2027-01-01T00:00:00Z,\n"
    );
    wd.run(&["import", "consents", "--store", "st", "-"], csv).ok();
    wd.run(&["compact", "--store", "st"], "").ok();
    let r = wd.run(&["info", "--store", "st"], "").ok();
    assert!(r.stdout.contains("snapshot generation: 1"), "{}", r.stdout);
    assert!(r.stdout.contains("consents ACME/offers/email: 1"), "{}", r.stdout);
    assert!(r.stdout.contains("integrity:           ok"), "{}", r.stdout);
}

#[test]
fn info_on_missing_store_fails_without_creating_it() {
    let wd = Workdir::new();
    let r = wd.run(&["info", "--store", "nothing"], "");
    assert_eq!(r.code, 2);
    assert!(!wd.join("nothing").exists());
}

#[test]
fn flipped_byte_is_reported_by_file_and_offset() {
    let wd = Workdir::new();
    let csv = "number,brand,stopped_at\n+4791234567,ACME,2026-01-01T00:00:00Z\n\
               +4791234568,ACME,2026-01-01T00:00:00Z\n+4791234569,ACME,2026-01-01T00:00:00Z\n";
    wd.run(&["import", "stops", "--store", "st", "-"], csv).ok();
    // Journal: flip a byte inside the first record (valid records follow).
    let jpath = wd.join("st/journal");
    let mut j = std::fs::read(&jpath).unwrap();
    j[32 + 25] ^= 1;
    std::fs::write(&jpath, &j).unwrap();
    let r = wd.run(&["info", "--store", "st"], "");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("journal") && r.stderr.contains("corrupt at offset 32"),
        "{}",
        r.stderr
    );
    j[32 + 25] ^= 1;
    std::fs::write(&jpath, &j).unwrap();
    wd.run(&["compact", "--store", "st"], "").ok();
    // Snapshot: flip a byte in the tables.
    let spath = wd.join("st/snapshot");
    let mut s = std::fs::read(&spath).unwrap();
    let at = s.len() - 100;
    s[at] ^= 0x80;
    std::fs::write(&spath, &s).unwrap();
    let r = wd.run(&["info", "--store", "st"], "");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("snapshot") && r.stderr.contains("corrupt at offset"),
        "{}",
        r.stderr
    );
}

/// kill -9 an appending process at random moments, many times: every acknowledged stop
/// survives, nothing is invented, the store opens.
#[test]
fn kill_9_while_appending_loses_no_acknowledged_event() {
    let wd = Workdir::new();
    let mut acked: Vec<u64> = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..12 {
        let mut child = wd
            .command(&[
                "stop",
                "--store",
                "st",
                "+4791234567",
                "--brand",
                "ACME",
                "--at",
                "2026-01-01T00:00:00Z",
                "--repeat",
                "1000000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait_ms = 20 + seed % 200;
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.parse::<u64>().ok())
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let seqs = reader.join().unwrap();
        acked.extend(seqs);
        let store = Store::open(wd.join("st")).unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let last = store.last_seq();
        let max_acked = acked.iter().copied().max().unwrap_or(0);
        assert!(last >= max_acked, "round {round}: acked {max_acked} but store has {last}");
        let ev = store.evidence(E164::from_u64(4791234567).unwrap()).unwrap();
        // Nothing invented: consecutive sequences 1..=last, each a stop we asked for.
        assert_eq!(ev.len() as u64, last);
        for (i, r) in ev.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert!(matches!(&r.event, Event::Stop(s) if s.brand == "ACME"));
        }
        if round % 4 == 3 {
            drop(store);
            wd.run(&["compact", "--store", "st"], "").ok();
        }
    }
    assert!(!acked.is_empty(), "the child never acknowledged anything");
}

/// A crash at each durable step of compaction leaves the old generation serving and the
/// next compaction succeeds.
#[test]
fn crash_during_compact_keeps_old_generation() {
    let wd = Workdir::new();
    let stop = |n: &str, at: &str| {
        wd.run(&["stop", "--store", "st", n, "--brand", "ACME", "--at", at], "").ok();
    };
    stop("+4791234567", "2026-01-01T00:00:00Z");
    wd.run(&["compact", "--store", "st"], "").ok();
    let n2 = E164::from_u64(4791234568).unwrap();
    for (i, point) in ["compact-before-publish", "compact-after-publish", "compact-after-rotate"]
        .iter()
        .enumerate()
    {
        stop("+4791234568", &format!("2026-02-0{}T00:00:00Z", i + 1));
        let r = wd
            .command(&["compact", "--store", "st"])
            .env("SENDFILTER_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!r.status.success(), "{point}: the fail point did not fire");
        let store = Store::open(wd.join("st")).unwrap_or_else(|e| panic!("{point}: {e:?}"));
        let v = store.view().unwrap();
        let want =
            sendfilter::timefmt::parse_rfc3339(&format!("2026-02-0{}T00:00:00Z", i + 1)).unwrap();
        assert_eq!(v.standing(&v.scope("ACME", "offers"), n2).stopped_at, Some(want), "{point}");
        assert_eq!(store.evidence(n2).unwrap().len(), i + 1, "{point}");
        drop(store);
        wd.run(&["compact", "--store", "st"], "").ok();
        let r = wd.run(&["info", "--store", "st", "--json"], "").ok();
        assert!(r.stdout.contains("\"integrity\": \"ok\""), "{}", r.stdout);
    }
}

/// kill -9 during a large import: the import is all or nothing, the store opens.
#[test]
fn kill_9_during_import_is_all_or_nothing() {
    let wd = Workdir::new();
    let rows = 200_000u64;
    let mut csv = String::from("number,brand,stopped_at\n");
    for i in 0..rows {
        csv.push_str(&format!("+4791{i:06},ACME,2026-01-01T00:00:00Z\n"));
    }
    let file = wd.write("stops.csv", &csv);
    let file = file.to_str().unwrap();
    let mut done = 0u64;
    for (round, wait_ms) in [5u64, 40, 80, 150, 400].into_iter().enumerate() {
        let mut child = wd
            .command(&["import", "stops", "--store", "st", file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let store = Store::open(wd.join("st")).unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let last = store.last_seq();
        if status.success() {
            done += rows;
        }
        assert!(last == done || last == done + rows, "round {round}: {last} not a whole import");
        done = last;
    }
}

/// kill -9 at random moments during compaction: the store always opens with every event,
/// and a later compaction succeeds.
#[test]
fn kill_9_during_compact_keeps_a_consistent_store() {
    let wd = Workdir::new();
    let rows = 150_000u64;
    let mut csv = String::from("number,brand,stopped_at\n");
    for i in 0..rows {
        csv.push_str(&format!("+4792{i:06},ACME,2026-01-01T00:00:00Z\n"));
    }
    let file = wd.write("stops.csv", &csv);
    wd.run(&["import", "stops", "--store", "st", file.to_str().unwrap()], "").ok();
    let probe = E164::from_u64(4792000777).unwrap();
    for (round, wait_ms) in [10u64, 60, 120, 250].into_iter().enumerate() {
        if round == 2 {
            // A second generation, so later kills hit a compaction with an old snapshot.
            wd.run(
                &[
                    "stop",
                    "--store",
                    "st",
                    "+4792000777",
                    "--brand",
                    "ACME",
                    "--at",
                    "2026-03-01T00:00:00Z",
                ],
                "",
            )
            .ok();
        }
        let mut child = wd
            .command(&["compact", "--store", "st"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let view = sendfilter::store::open_view(wd.join("st"))
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let want = if round >= 2 { "2026-03-01T00:00:00Z" } else { "2026-01-01T00:00:00Z" };
        let want = sendfilter::timefmt::parse_rfc3339(want).unwrap();
        assert_eq!(
            view.standing(&view.scope("ACME", "offers"), probe).stopped_at,
            Some(want),
            "round {round}"
        );
        let store = Store::open(wd.join("st")).unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(store.last_seq(), rows + u64::from(round >= 2), "round {round}");
    }
    wd.run(&["compact", "--store", "st"], "").ok();
    let r = wd.run(&["info", "--store", "st", "--json"], "").ok();
    assert!(r.stdout.contains("\"integrity\": \"ok\""), "{}", r.stdout);
}

#[test]
fn a_missing_journal_fails_closed_everywhere() {
    let wd = Workdir::new();
    let stop = |n: &str| wd.run(&["stop", "--store", "s", "--brand", "ACME", n], "");
    stop("+4791000001").ok();
    wd.run(&["compact", "--store", "s"], "").ok();
    // Acknowledged after the compaction: only the journal holds it.
    stop("+4791000002").ok();
    std::fs::remove_file(wd.join("s/journal")).unwrap();
    let filter =
        ["filter", "--store", "s", "--brand", "ACME", "--purpose", "o", "--shortcode", "2401"];
    for args in [&filter[..], &["info", "--store", "s"], &["compact", "--store", "s"]] {
        let r = wd.run(args, "+4791000002\n");
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("journal s/journal is missing"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(stop("+4791000003").code, 2);
    assert!(!wd.join("s/journal").exists(), "never recreated behind the user's back");
    // A new store still starts with an empty journal.
    wd.run(&["stop", "--store", "t", "--brand", "ACME", "+4791000001"], "").ok();
    assert!(wd.join("t/journal").exists());
}

#[test]
fn a_flipped_bit_in_the_last_journal_record_fails_closed() {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "--brand", "ACME", "+4791000001"], "").ok();
    let j = wd.join("s/journal");
    let mut b = std::fs::read(&j).unwrap();
    let at = b.len() - 5; // inside the stop's brand text
    b[at] ^= 1;
    std::fs::write(&j, &b).unwrap();
    let filter =
        ["filter", "--store", "s", "--brand", "ACME", "--purpose", "o", "--shortcode", "2401"];
    for args in [&filter[..], &["info", "--store", "s"], &["stop", "--store", "s", "+4791000002"]] {
        let r = wd.run(args, "+4791000001\n");
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("is corrupt at offset 32"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("4791000001"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(&j).unwrap(), b, "nothing was cut");
}

/// A stop without `stopped_at` is an opt-out whose time is unknown: recorded at the import
/// time (a later stop is the safe reading) and counted, not refused.
#[test]
fn import_stops_with_an_empty_stopped_at_uses_the_import_time() {
    let wd = Workdir::new();
    let before = sendfilter::timefmt::now();
    let csv = "number,brand,stopped_at\n+4791234567,ACME,\n+4791234568,ACME,2026-01-01T00:00:00Z\n";
    let r = wd.run(&["import", "stops", "--store", "st", "-"], csv).ok();
    assert!(r.stderr.contains("1 stops had no stopped_at"), "{}", r.stderr);
    assert!(r.stderr.contains("imported 2 of 2 rows (0 bad)"), "{}", r.stderr);
    let store = Store::open(wd.join("st")).unwrap();
    let ev = store.evidence(E164::from_u64(4791234567).unwrap()).unwrap();
    match &ev[..] {
        [r] => match &r.event {
            Event::Stop(s) => {
                assert!(s.stopped_at >= before && s.stopped_at <= sendfilter::timefmt::now())
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// A store whose snapshot was written in format 3 (by the release before the
/// tenant-scaling format; `tests/data/v3-store`, with a stop, a `*` stop, an expired and
/// an unconfirmed consent, an erasure, a number move, a customer relationship and a stop
/// in the journal tail): runs refuse it with a clear message until `compact` migrates it,
/// after which every decision equals the one the old release made.
#[test]
fn a_version_3_snapshot_is_migrated_by_the_next_compaction() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v3-store");
    std::fs::create_dir(wd.join("store")).unwrap();
    std::fs::set_permissions(wd.join("store"), std::fs::Permissions::from_mode(0o700)).unwrap();
    for f in ["config", "journal", "snapshot", "suppress.key"] {
        let to = wd.join("store").join(f);
        std::fs::copy(fixture.join("store").join(f), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let campaign = std::fs::read_to_string(fixture.join("campaign.txt")).unwrap();
    let filter = |brand: &str| {
        wd.run(
            &[
                "filter",
                "--store",
                "store",
                "--brand",
                brand,
                "--purpose",
                "offers",
                "--now",
                "2026-11-01T00:00:00Z",
                "--soft-opt-in",
                "--rejects",
                "rejects.txt",
            ],
            &campaign,
        )
    };
    let refused = filter("ACME");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stdout.is_empty());
    assert!(
        refused.stderr.contains("format 3") && refused.stderr.contains("compact"),
        "{}",
        refused.stderr
    );

    let info = wd.run(&["info", "--store", "store"], "").ok();
    assert!(info.stdout.contains("integrity:           ok"), "{}", info.stdout);
    wd.run(&["compact", "--store", "store"], "").ok();
    let bytes = std::fs::read(wd.join("store/snapshot")).unwrap();
    assert_eq!(&bytes[8..12], &4u32.to_le_bytes(), "the new snapshot is format 4");
    for brand in ["ACME", "Beta"] {
        let out = filter(brand).ok();
        let want = std::fs::read_to_string(fixture.join(format!("allowed-{brand}.txt"))).unwrap();
        assert_eq!(out.stdout, want, "{brand}");
        let rejects =
            std::fs::read_to_string(fixture.join(format!("rejects-{brand}.txt"))).unwrap();
        assert_eq!(wd.read("rejects.txt"), rejects, "{brand}");
    }
    // Evidence survived the migration: the export still holds the moved-to consent.
    let export = wd.run(&["subject", "export", "--store", "store", "+4791000011"], "").ok();
    assert!(export.stdout.contains("offers"), "{}", export.stdout);
}
