//! `sendfilter filter` end to end.
//!
//! Every test builds a real store with `sendfilter import` and filters against it.

use std::os::unix::fs::PermissionsExt;

use crate::harness::Workdir;

const STANDING: &str = "consent\t+4791000001\tACME\toffers\t2026-01-01T00:00:00Z\t2026-01-01T00:10:00Z\t-\n\
                        consent\t+4791000002\tACME\toffers\t2026-01-01T00:00:00Z\t-\t2026-06-01T00:00:00Z\n\
                        stop\t+4791000003\tACME\t2026-02-01T00:00:00Z\n\
                        consent\t+4791000003\tACME\toffers\t2026-01-01T00:00:00Z\t-\t-\n";

/// A workdir with a real store `store` holding [`STANDING`] (imported through the CLI).
fn workdir() -> Workdir {
    let wd = Workdir::new();
    let (mut stops, mut consents) = (String::new(), String::new());
    let dash = |v: &str| if v == "-" { String::new() } else { v.to_string() };
    for line in STANDING.lines() {
        let f: Vec<&str> = line.trim().split('\t').collect();
        match f[0] {
            "stop" => stops.push_str(&format!("{},{},{}\n", f[1], f[2], f[3])),
            _ => consents.push_str(&format!(
                "{},{},{},sms,{},web_form,offers-v3,test,{},{}\n",
                f[1],
                f[2],
                f[3],
                f[4],
                dash(f[6]),
                dash(f[5])
            )),
        }
    }
    wd.import_store(&stops, &consents);
    wd
}

const BASE: [&str; 8] = [
    "filter",
    "--store",
    "store",
    "--brand",
    "ACME",
    "--purpose",
    "offers",
    "--now=2026-11-23T10:00:00Z",
];

/// `sendfilter filter` on the store `store` for ACME offers at a fixed now, then `extra`.
pub(crate) fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    BASE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn lines_with_rejects_and_report() {
    let wd = workdir();
    let input = "+4791000001\n+4791000002\n+4791000003\n+4791000004\nnope\n+4791000001\n";
    let r = wd.run(&args(&["--rejects", "rej.txt", "--report", "rep.json"]), input).ok();
    assert_eq!(r.stdout, "+4791000001\n");
    assert_eq!(
        wd.read("rej.txt"),
        "+4791000002\tCONSENT_EXPIRED\n+4791000003\tSTOPPED\n+4791000004\tNO_CONSENT\n\
         nope\tINVALID_NUMBER\n+4791000001\tDUPLICATE\n"
    );
    let mode = std::fs::metadata(wd.join("rej.txt")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "rejects hold personal data");
    let rep: serde_json::Value = serde_json::from_str(&wd.read("rep.json")).unwrap();
    assert_eq!(rep["input"], 6);
    assert_eq!(rep["allowed"], 1);
    assert_eq!(rep["reasons"]["DUPLICATE"], 1);
    assert_eq!(rep["now"], "2026-11-23T10:00:00Z");
    assert!(rep["recipients_per_second"].is_number());
    assert!(r.stderr.contains("6 in, 1 allowed"), "{}", r.stderr);
    assert!(!r.stderr.contains("4791000002"), "no numbers on stderr: {}", r.stderr);
}

#[test]
fn now_before_expiry_and_require_confirmed() {
    let wd = workdir();
    let input = "+4791000001\n+4791000002\n";
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
                "--now",
                "2026-05-31T23:59:59Z",
            ],
            input,
        )
        .ok();
    assert_eq!(r.stdout, input);
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
                "--now",
                "2026-06-01T00:00:00Z",
            ],
            input,
        )
        .ok();
    assert_eq!(r.stdout, "+4791000001\n", "expires_at == now is expired");
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
                "--now",
                "2026-05-01T00:00:00Z",
                "--require-confirmed",
            ],
            input,
        )
        .ok();
    assert_eq!(r.stdout, "+4791000001\n");
}

#[test]
fn csv_stamps_with_region_footer() {
    let wd = workdir();
    let input = "number,message\n+4791000001,\"Hei, Kari\"\n+4791000004,x\n";
    let r =
        wd.run(&args(&["--format", "csv", "--region", "SE", "--shortcode", "72456"]), input).ok();
    // A Swedish short code is no route for a Norwegian number (issue 22; see routes.rs).
    assert_eq!(r.stdout, "number,message\n");
    assert!(r.stderr.contains("1 NO_OPT_OUT_ROUTE (NO 1)"), "{}", r.stderr);
    // With a route for Norway too, the Norwegian footer.
    let r =
        wd.run(&args(&["--format", "csv", "--region", "NO,SE", "--shortcode", "2401"]), input).ok();
    assert_eq!(r.stdout, "number,message\n+4791000001,\"Hei, Kari Svar ACME STOPP til 2401\"\n");
    assert!(r.stderr.contains("footer added to 1"), "{}", r.stderr);
}

#[test]
fn jsonl_with_custom_footer() {
    let wd = workdir();
    let input = "{\"to\":\"+4791000001\",\"body\":\"Hi\",\"id\":7}\n";
    let r = wd
        .run(&args(&["--format", "jsonl", "--footer", "Stop: text {brand} STOP to 2401"]), input)
        .ok();
    assert_eq!(
        r.stdout,
        "{\"to\":\"+4791000001\",\"body\":\"Hi Stop: text ACME STOP to 2401\",\"id\":7}\n"
    );
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);

    // A footer that tells no way to opt out is refused (see bending.rs).
    let r = wd.run(&args(&["--format", "jsonl", "--footer", "Hilsen {brand}"]), input);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("names no opt-out keyword"), "{}", r.stderr);
}

#[test]
fn marketing_messages_without_footer_are_refused_before_any_output() {
    let wd = workdir();
    let r = wd.run(&args(&["--format", "csv"]), "number,message\n+4791000001,Hei\n");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("--shortcode"), "{}", r.stderr);
    // lines without messages need no footer; service needs none at all.
    wd.run(&args(&[]), "+4791000001\n").ok();
    let r = wd
        .run(
            &args(&["--format", "csv", "--class", "service"]),
            "number,message\n+4791000004,Din ordre\n",
        )
        .ok();
    assert_eq!(r.stdout, "number,message\n+4791000004,Din ordre\n");
}

#[test]
fn missing_store_fails_closed() {
    let wd = Workdir::new();
    let r = wd.run(&args(&["--rejects", "rej.txt"]), "+4791000001\n");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("store"), "{}", r.stderr);
    assert!(!wd.join("rej.txt").exists(), "nothing written before the store opened");
}

#[test]
fn bad_csv_header_is_an_error_with_a_line_number() {
    let wd = workdir();
    let r = wd
        .run(&args(&["--format", "csv", "--shortcode", "2401"]), "phone,message\n+4791000001,x\n");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("CSV line 1") && r.stderr.contains("--number-column"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
}

#[test]
fn malformed_lines_are_reported_by_line_number_only() {
    let wd = workdir();
    let input = "{\"to\":\"+4791000001\"}\n{\"to\":\"+4791000002\"\n";
    let r = wd.run(&args(&["--format", "jsonl", "--shortcode", "2401"]), input).ok();
    assert!(r.stderr.contains("malformed at line 2"), "{}", r.stderr);
    assert!(!r.stderr.contains("4791000002"), "{}", r.stderr);
}

#[test]
fn bad_flags_exit_2() {
    let wd = workdir();
    for bad in [
        &["--format", "xml"][..],
        &["--class", "spam"],
        &["--now", "yesterday"],
        &["--threads", "0"],
    ] {
        let r = wd.run(&args(bad), "");
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
    }
}

#[test]
fn write_error_mid_stream_exits_2() {
    use std::io::Write;
    use std::process::Stdio;
    let wd = workdir();
    let input: String = (0..200_000).map(|i| format!("+4791{:06}\n", i)).collect();
    let mut child = wd
        .command(&args(&["--class", "service"]))
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left"));
}

/// Input without line ends (here a binary file) or a CSV quote that is never closed must
/// not be read into memory whole: past 1 MiB the run stops with an error naming the line,
/// after writing what it decided before.
#[test]
fn overlong_records_stop_the_run_with_their_line_and_keep_what_came_before() {
    let wd = workdir();
    let mut input = "+4791000001\n+4791000001\n".to_string();
    input.push_str(&"9".repeat(3 << 20));
    let r = wd.run(&args(&["--class", "service", "--rejects", "rej.txt"]), &input);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "+4791000001\n");
    assert!(r.stderr.contains("line 3: a record longer than 1 MiB"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(wd.join("rej.txt")).unwrap(), "+4791000001\tDUPLICATE\n");

    // A stray quote on line 3 makes the rest of the file one field.
    let mut csv = "number,message\n+4791000001,hi\n+4791000002,\"oops\n".to_string();
    while csv.len() < 3 << 20 {
        csv.push_str("+4791000003,\"Hei, \"\"du\"\"\"\n");
    }
    let r = wd.run(&args(&["--class", "service", "--format", "csv"]), &csv);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "number,message\n+4791000001,hi\n");
    assert!(r.stderr.contains("line 3: a record longer than 1 MiB"), "{}", r.stderr);

    // A header without an end.
    let r = wd.run(&args(&["--class", "service", "--format", "csv"]), "n".repeat(3 << 20));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("line 1: a record longer than 1 MiB"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
}

/// Output files are checked before any record is written: a report path that cannot be
/// created, and two outputs that are one file (one would overwrite the other).
#[test]
fn output_files_are_checked_before_any_record() {
    let wd = workdir();
    let r = wd.run(&args(&["--report", "no/such/dir/r.json"]), "+4791000001\n");
    assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
    assert!(
        r.stderr.contains("--report no/such/dir/r.json: cannot open the directory"),
        "{}",
        r.stderr
    );

    let r = wd.run(&args(&["--rejects", "x.txt", "--report", "x.txt"]), "+4791000001\n");
    assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
    assert!(r.stderr.contains("--rejects and --report name the same file"), "{}", r.stderr);

    let out = std::fs::File::create(wd.join("out.txt")).unwrap();
    let res = wd
        .command(&args(&["--rejects", "out.txt"]))
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("--rejects names the file standard output is written to"), "{err}");

    // An output naming the campaign being read, stderr's file, or an existing file named
    // twice: refused before anything is truncated.
    let campaign = "+4791000001\n+4791000002\n";
    let stdin_file = |name: &str| std::fs::File::open(wd.write(name, campaign)).unwrap();
    for (flags, what) in [
        (&["--rejects", "c.txt"][..], "--rejects names the file standard input is read from"),
        (&["--report", "c.txt"], "--report names the file standard input is read from"),
        (&["--receipts", "c.txt"], "--receipts names the file standard input is read from"),
        (&["--rejects", "e.txt"], "--rejects names the file standard error is written to"),
        (
            &["--rejects", "k.txt", "--receipts", "./k.txt"],
            "--rejects and --receipts name the same file",
        ),
    ] {
        wd.write("k.txt", "keep me\n");
        let err = std::fs::File::create(wd.join("e.txt")).unwrap();
        let res = wd.command(&args(flags)).stdin(stdin_file("c.txt")).stderr(err).output().unwrap();
        let stderr = wd.read("e.txt");
        assert_eq!(res.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(res.stdout.is_empty());
        assert!(stderr.contains(what), "{flags:?}: {stderr}");
        assert_eq!(wd.read("c.txt"), campaign, "{flags:?}");
        assert_eq!(wd.read("k.txt"), "keep me\n", "{flags:?}");
    }
    // Two new files under one name are one file too.
    std::fs::create_dir(wd.join("sub")).unwrap();
    let r = wd.run(&args(&["--rejects", "n.txt", "--report", "sub/../n.txt"]), "+4791000001\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--rejects and --report name the same file"), "{}", r.stderr);
    assert!(!wd.join("n.txt").exists());

    // One file each still works, and the report is written at the end.
    let r = wd.run(&args(&["--rejects", "x.txt", "--report", "r.json"]), "+4791000001\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(wd.read("r.json").contains("\"input\": 1"), "{}", wd.read("r.json"));
}

// ---- With the real store (after merge) ----

fn import(wd: &Workdir) {
    wd.write("stops.csv", "number,brand,stopped_at\n+4791000003,ACME,2026-02-01T00:00:00Z\n+4791000005,*,2026-02-01T00:00:00Z\n");
    wd.write(
        "consents.csv",
        "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
         +4791000001,ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,checkout,,2026-01-01T00:10:00Z\n\
         +4791000002,ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,checkout,2026-06-01T00:00:00Z,\n\
         +4791000003,ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,checkout,,\n\
         +4791000004,ACME,offers,email,2026-01-01T00:00:00Z,web_form,offers-v3,checkout,,\n\
         +4791000005,ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,checkout,,\n",
    );
    wd.run(&["import", "stops", "--store", "real", "stops.csv"], "").ok();
    wd.run(&["import", "consents", "--store", "real", "consents.csv"], "").ok();
}

#[test]
fn real_store_every_standing_reason() {
    let wd = Workdir::new();
    import(&wd);
    let input = "+4791000001\n+4791000002\n+4791000003\n+4791000004\n+4791000005\n";
    let r = wd
        .run(
            &[
                "filter",
                "--store",
                "real",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--now",
                "2026-11-23T10:00:00Z",
                "--rejects",
                "rej.txt",
                "--report",
                "rep.json",
            ],
            input,
        )
        .ok();
    assert_eq!(r.stdout, "+4791000001\n");
    assert_eq!(
        wd.read("rej.txt"),
        "+4791000002\tCONSENT_EXPIRED\n+4791000003\tSTOPPED\n+4791000004\tNO_CONSENT\n+4791000005\tSTOPPED\n"
    );
    let rep: serde_json::Value = serde_json::from_str(&wd.read("rep.json")).unwrap();
    assert!(
        rep["journal_seq"].as_u64().unwrap() > 0
            || rep["snapshot_generation"].as_u64().unwrap() > 0
    );
}

#[test]
fn real_store_csv_with_footer() {
    let wd = Workdir::new();
    import(&wd);
    let r = wd
        .run(
            &[
                "filter",
                "--store",
                "real",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--format",
                "csv",
                "--shortcode",
                "2401",
                "--now",
                "2026-11-23T10:00:00Z",
            ],
            "number,message\n+4791000001,Hei\n+4791000003,Hei\n",
        )
        .ok();
    assert_eq!(r.stdout, "number,message\n+4791000001,Hei Svar ACME STOPP til 2401\n");
}

#[test]
fn real_store_corrupt_fails_closed() {
    let wd = Workdir::new();
    import(&wd);
    for entry in std::fs::read_dir(wd.join("real")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let mut b = std::fs::read(&p).unwrap();
            if let Some(x) = b.get_mut(20) {
                *x ^= 0xff;
            }
            std::fs::write(&p, b).unwrap();
        }
    }
    let r = wd.run(
        &["filter", "--store", "real", "--brand", "ACME", "--purpose", "offers"],
        "+4791000001\n",
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
}

/// Decisions read from the snapshot's tables (after `compact`, through the staged,
/// prefetched lookups) equal those read from the journal (before it), for a list long
/// enough to fill many lookup pipelines, with numbers in and out of the store at its
/// start, end and everywhere between, on several threads.
#[test]
fn snapshot_tables_decide_as_the_journal_does() {
    let wd = Workdir::new();
    let (mut stops, mut consents) = (String::new(), String::new());
    for i in 0..600u32 {
        let n = format!("+479100{i:04}");
        match i % 5 {
            0 => stops.push_str(&format!("{n},ACME,2026-02-01T00:00:00Z\n")),
            1 | 2 => consents.push_str(&format!(
                "{n},ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,test,,\n"
            )),
            3 => consents.push_str(&format!(
                "{n},ACME,offers,sms,2026-01-01T00:00:00Z,web_form,offers-v3,test,2026-06-01T00:00:00Z,\n"
            )),
            _ => {}
        }
    }
    wd.import_store(&stops, &consents);
    // Customers (soft opt-in): every stopped number, and numbers the tables do not hold.
    let customers: String = (0..900u32)
        .filter(|i| i % 5 == 0 || i % 5 == 4)
        .map(|i| {
            format!("+479100{i:04},ACME,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z\n")
        })
        .collect();
    wd.write(
        "customers.csv",
        format!(
            "number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at\n{customers}"
        ),
    );
    wd.run(&["import", "customers", "--store", "store", "customers.csv"], "").ok();
    // Stored numbers first (every stage's first records), then a mix, then stored last.
    let mut input = String::new();
    for i in (0..200u32).chain((0..1200).map(|i| (i * 7) % 900)).chain(400..600) {
        input.push_str(&format!("+479100{i:04}\n"));
    }
    let csv: String = std::iter::once("number,message\n".to_string())
        .chain(input.lines().map(|n| format!("{n},Hei\n")))
        .collect();
    let runs = |wd: &Workdir| {
        let small = ["--threads", "3", "--rejects", "rej.txt"];
        let lines = wd.run(&args(&small), &input).ok().stdout;
        let rej = wd.read("rej.txt");
        let mut csv_args = small.to_vec();
        csv_args.extend(["--format", "csv", "--shortcode", "2401"]);
        let csv_out = wd.run(&args(&csv_args), &csv).ok().stdout;
        let soft = wd.run(&args(&["--threads", "2", "--soft-opt-in"]), &input).ok().stdout;
        (lines, rej, csv_out, soft)
    };
    let from_journal = runs(&wd);
    wd.run(&["compact", "--store", "store"], "").ok();
    let from_tables = runs(&wd);
    assert_eq!(from_journal, from_tables);
    // Allowed: the first occurrence of each number with an unexpired consent and no stop.
    let mut seen = std::collections::HashSet::new();
    let want: String = input
        .lines()
        .filter(|n| seen.insert(*n))
        .filter(|n| n[7..].parse::<u32>().is_ok_and(|i| i < 600 && matches!(i % 5, 1 | 2)))
        .map(|n| format!("{n}\n"))
        .collect();
    assert_eq!(from_tables.0, want);
    // Soft opt-in adds customers without a stop, never a stopped one.
    let stopped = |n: &str| n[7..].parse::<u32>().is_ok_and(|i| i < 600 && i % 5 == 0);
    assert!(from_tables.3.lines().count() > want.lines().count());
    assert!(!from_tables.3.lines().any(stopped), "a stop outlives soft opt-in");
}

#[test]
fn a_large_uncompacted_journal_is_pointed_out_until_compacted() {
    let wd = Workdir::new();
    // The default policy advises compacting from 100,000 events in the journal tail.
    let mut stops = String::new();
    for i in 0..100_000u32 {
        stops.push_str(&format!("+4791{i:06},ACME,2026-02-01T00:00:00Z\n"));
    }
    wd.import_store(&stops, "");
    let note = "events in the journal are not compacted";
    let run = wd.run(&args(&["--shortcode", "2401"]), "+4791000007\n+4799000000\n").ok();
    assert!(run.stderr.contains(&format!("100000 {note}")), "{}", run.stderr);
    assert!(run.stderr.contains("sendfilter compact --store store"), "{}", run.stderr);
    assert_eq!(run.stdout, "", "both numbers are stopped or lack consent");
    wd.run(&["compact", "--store", "store"], "").ok();
    let run = wd.run(&args(&["--shortcode", "2401"]), "+4791000007\n").ok();
    assert!(!run.stderr.contains(note), "{}", run.stderr);
    // A small tail is normal between compactions: no note.
    wd.run(&["stop", "--store", "store", "--brand", "ACME", "+4798000000"], "").ok();
    let run = wd.run(&args(&["--shortcode", "2401"]), "+4791000007\n").ok();
    assert!(!run.stderr.contains(note), "{}", run.stderr);
}

/// A stop recorded under another spelling of the brand (`acme` for `ACME`) still stops:
/// from the journal, from the snapshot, and on a stops-only scope. Consents under the other
/// spelling do not count (fail safe), and the run says the store holds it.
#[test]
fn a_stop_in_another_case_of_the_brand_still_stops() {
    let wd = Workdir::new();
    let consent = |n: &str| {
        format!("{n},ACME,offers,sms,2026-01-01T00:00:00Z,web_form,v1,web,,2026-01-01T00:00:00Z\n")
    };
    wd.import_store("", &(consent("+4791000001") + &consent("+4791000002")));
    let stop = |brand: &str, n: &str| {
        wd.run(
            &["stop", "--store", "store", "--brand", brand, "--at", "2026-02-01T00:00:00Z", n],
            "",
        )
        .ok();
    };
    stop("acme", "+4791000001");
    let input = "+4791000001\n+4791000002\n";
    let check = |purpose: &str, want: &str| {
        let run = wd.run(
            &[
                "filter",
                "--store",
                "store",
                "--brand",
                "ACME",
                "--purpose",
                purpose,
                "--now=2026-11-23T10:00:00Z",
                "--rejects",
                "rej.txt",
            ],
            input,
        );
        let run = run.ok();
        assert_eq!(run.stdout, want, "{purpose}: {}", run.stderr);
        assert!(wd.read("rej.txt").contains("+4791000001\tSTOPPED"), "{}", wd.read("rej.txt"));
        assert!(
            run.stderr.contains("the store also holds the brand spelled")
                && run.stderr.contains("\"acme\""),
            "{}",
            run.stderr
        );
    };
    check("offers", "+4791000002\n");
    wd.run(&["compact", "--store", "store"], "").ok();
    check("offers", "+4791000002\n");
    // A scope without consents (stops only) and a stop in the journal after the compaction.
    stop("Acme", "+4791000002");
    check("offers", "");
    check("news", "");
}
