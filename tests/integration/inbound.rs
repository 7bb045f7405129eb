//! `sendfilter inbound` and `sendfilter brand` end to end: keywords, the shared-short-code
//! rule, replies, bad input, the registry feeding `filter`, and kill -9.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

use sendfilter::store::{Event, Store};
use sendfilter::{E164, StandingSource};

use crate::harness::{Run, Workdir};

fn brands(wd: &Workdir) {
    for args in [
        &[
            "brand",
            "add",
            "--store",
            "st",
            "ACME",
            "--shortcode",
            "2401",
            "--consent-text-ref",
            "acme-v1",
        ][..],
        &["brand", "add", "--store", "st", "Beta", "--shortcode", "2401", "--language", "sv"],
        &[
            "brand",
            "add",
            "--store",
            "st",
            "Solo AS",
            "--shortcode",
            "2402",
            "--keyword",
            "solo",
            "--dedicated",
            "--language",
            "en",
        ],
    ] {
        wd.run(args, "").ok();
    }
}

fn msg(from: &str, to: &str, text: &str, at: &str) -> String {
    serde_json::json!({"from": from, "to": to, "text": text, "received_at": at}).to_string() + "\n"
}

fn lines(r: &Run) -> Vec<serde_json::Value> {
    r.stdout.lines().map(|l| serde_json::from_str(l).expect("output line is JSON")).collect()
}

/// `inbound --store st` with piped stdin and stdout.
fn spawn_inbound(wd: &Workdir) -> std::process::Child {
    wd.command(&["inbound", "--store", "st"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stops_of(store: &Store, n: u64) -> Vec<String> {
    let mut v: Vec<String> = store
        .evidence(E164::from_u64(n).unwrap())
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Stop(s) => Some(s.brand),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn brand_registry_cli() {
    let wd = Workdir::new();
    brands(&wd);
    let r = wd.run(&["brand", "list", "--store", "st"], "").ok();
    assert!(r.stdout.contains("ACME\t2401\tacme\tno\toffers\tacme-v1\tno\t-"), "{}", r.stdout);
    assert!(r.stdout.contains("Solo AS\t2402\tsolo\tyes\toffers\t-\ten\t-"), "{}", r.stdout);
    // Refused: duplicate, reserved keyword, second brand on a dedicated number, bad code.
    for args in [
        &["brand", "add", "--store", "st", "ACME", "--shortcode", "2409"][..],
        &["brand", "add", "--store", "st", "Stopp", "--shortcode", "2409"],
        &["brand", "add", "--store", "st", "Other", "--shortcode", "2402"],
        &["brand", "add", "--store", "st", "Other", "--shortcode", "24x"],
        &["brand", "add", "--store", "st", "Other", "--shortcode", "2409", "--language", "de"],
    ] {
        let r = wd.run(args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    wd.run(&["brand", "set-reply", "--store", "st", "ACME", "stop", "Bye from {brand}"], "").ok();
    let r = wd.run(&["brand", "set-reply", "--store", "st", "ACME", "stop", "Bye {who}"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("{who}"), "{}", r.stderr);
    let r = wd.run(&["brand", "list", "--store", "st", "--json"], "").ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["replies"]["stop"], "Bye from {brand}");
    assert_eq!(v.as_array().unwrap().len(), 3);
    wd.run(&["brand", "remove", "--store", "st", "Beta"], "").ok();
    let r = wd.run(&["brand", "list", "--store", "st", "--json"], "").ok();
    assert!(!r.stdout.contains("Beta"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wd.join("st/brands")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn inbound_honours_keywords_and_the_shared_shortcode_rule() {
    let wd = Workdir::new();
    brands(&wd);
    let at = "2026-06-01T10:00:00Z";
    let input = [
        msg("+4791000001", "2401", "Acme Stopp.", at),
        msg("+4791000002", "2401", "  STOPP! ", at),
        msg("+4791000003", "2402", "stop", at),
        msg("+4791000004", "9999", "avslutt", at),
        msg("+4791000005", "2401", "beta start", at),
        msg("+4791000006", "2401", "START", at),
        msg("+4791000007", "2401", "hjälp", at),
        msg("+4791000008", "2401", "JA", at),
        msg("+4791000009", "2401", "hello there", at),
    ]
    .concat();
    let r = wd.run(&["inbound", "--store", "st"], input).ok();
    let out = lines(&r);
    let actions: Vec<&str> = out.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["STOP", "STOP", "STOP", "STOP", "START", "UNKNOWN", "HELP", "NO_PENDING", "UNKNOWN"]
    );
    assert_eq!(out[0]["brands"], serde_json::json!(["ACME"]));
    assert_eq!(out[1]["brands"], serde_json::json!(["ACME", "Beta"]));
    assert_eq!(out[2]["brands"], serde_json::json!(["Solo AS"]));
    assert_eq!(out[3]["brands"], serde_json::json!(["*"]));
    assert_eq!(
        out[2]["reply"],
        "You are unsubscribed and will get no more SMS offers from Solo AS."
    );
    assert!(out[4]["reply"].as_str().unwrap().contains("Svara BETA STOPP till 2401"), "{}", out[4]);
    assert!(!r.stdout.contains("91000001"), "numbers are masked");
    assert!(
        r.stderr.contains("9 messages: 4 STOP, 1 START, 1 NO_PENDING, 1 HELP, 2 UNKNOWN (6 events"),
        "{}",
        r.stderr
    );

    let store = Store::open(wd.join("st")).unwrap();
    assert_eq!(stops_of(&store, 4791000001), ["ACME"]);
    assert_eq!(stops_of(&store, 4791000002), ["ACME", "Beta"]);
    assert_eq!(stops_of(&store, 4791000003), ["Solo AS"]);
    assert_eq!(stops_of(&store, 4791000004), ["*"]);
    let view = store.view().unwrap();
    let c = view.standing(&view.scope("Beta", "offers"), E164::from_u64(4791000005).unwrap());
    assert_eq!(c.consent.map(|c| c.confirmed_at.is_some()), Some(true));
    assert_eq!(store.last_seq(), 6);
}

/// Double opt-in: a pending consent (imported), JA confirms it; START after a STOP lifts
/// the stop and `filter` allows the number again.
#[test]
fn ja_confirms_pending_and_start_lifts_a_stop() {
    let wd = Workdir::new();
    brands(&wd);
    let csv = "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
               +4791000001,ACME,offers,sms,2026-05-01T00:00:00Z,web_form,v1,shop,,\n";
    wd.run(&["import", "consents", "--store", "st", "-"], csv).ok();
    let filter = |wd: &Workdir, n: &str| {
        wd.run(
            &[
                "filter",
                "--store",
                "st",
                "--brand",
                "ACME",
                "--purpose",
                "offers",
                "--require-confirmed",
                "--now",
                "2026-07-01T00:00:00Z",
            ],
            format!("{n}\n"),
        )
        .ok()
        .stdout
    };
    assert_eq!(filter(&wd, "+4791000001"), "");
    let r = wd
        .run(
            &["inbound", "--store", "st"],
            msg("+4791000001", "2401", "Ja takk!", "2026-05-01T00:05:00Z"),
        )
        .ok();
    assert_eq!(lines(&r)[0]["action"], "CONFIRM");
    assert_eq!(filter(&wd, "+4791000001"), "+4791000001\n");
    // STOP, then START a day later: allowed again.
    let input = [
        msg("+4791000001", "2401", "acme stopp", "2026-06-01T00:00:00Z"),
        msg("+4791000001", "2401", "ACME START", "2026-06-02T00:00:00Z"),
    ]
    .concat();
    let r = wd.run(&["inbound", "--store", "st"], &input).ok();
    assert_eq!(
        lines(&r).iter().map(|l| l["action"].clone()).collect::<Vec<_>>(),
        ["STOP", "START"]
    );
    assert_eq!(filter(&wd, "+4791000001"), "+4791000001\n");
    // JA with nothing pending creates nothing.
    let r = wd
        .run(
            &["inbound", "--store", "st"],
            msg("+4791000002", "2401", "JA", "2026-06-02T00:00:00Z"),
        )
        .ok();
    assert_eq!(lines(&r)[0]["action"], "NO_PENDING");
    assert_eq!(filter(&wd, "+4791000002"), "");
}

#[test]
fn bad_records_get_error_lines_and_exit_1() {
    let wd = Workdir::new();
    brands(&wd);
    let input = format!(
        "{}{{oops\n{}{}",
        msg("12", "2401", "stop", "2026-06-01T10:00:00Z"),
        msg("+4791000001", "2401", "stop", "tomorrow"),
        msg("+4791000001", "2401", "stop", "2026-06-01T10:00:00Z"),
    );
    let r = wd.run(&["inbound", "--store", "st"], input);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = lines(&r);
    let actions: Vec<&str> = out.iter().map(|l| l["action"].as_str().unwrap()).collect();
    // An unreadable received_at ("tomorrow") is the receipt time: the STOP is kept.
    assert_eq!(actions, ["ERROR", "ERROR", "STOP", "STOP"]);
    assert_eq!(out[2]["time_source"], "received");
    assert!(out[1]["reason"].as_str().unwrap().starts_with("bad JSON"));
    assert!(!r.stdout.contains("91000001") && !r.stderr.contains("91000001"));

    // csv: quoted text with commas, columns in any order; without received_at every
    // message gets the receipt time; a header without from,to,text is an error before
    // anything is written.
    let csv = "text,received_at,to,from\n\"Stopp, takk!\",2026-06-01T10:00:00Z,2402,+4791000009\n";
    let r = wd.run(&["inbound", "--store", "st", "--format", "csv"], csv).ok();
    assert_eq!(lines(&r)[0]["brands"], serde_json::json!(["Solo AS"]));
    let r = wd
        .run(
            &["inbound", "--store", "st", "--format", "csv"],
            "from,to,text\n+4791000009,2402,stop\n",
        )
        .ok();
    assert_eq!(lines(&r)[0]["time_source"], "received");
    let r = wd.run(&["inbound", "--store", "st", "--format", "csv"], "from,to\n+4791000009,2402\n");
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert!(r.stderr.contains("from,to,text"), "{}", r.stderr);
}

#[test]
fn filter_takes_shortcode_and_footer_language_from_the_registry() {
    let wd = Workdir::new();
    brands(&wd);
    let csv = "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
               +4791000001,Beta,offers,sms,2026-05-01T00:00:00Z,web_form,v1,shop,,\n\
               +4791000001,ACME,offers,sms,2026-05-01T00:00:00Z,web_form,v1,shop,,\n";
    wd.run(&["import", "consents", "--store", "st", "-"], csv).ok();
    let run = |brand: &str| {
        wd.run(
            &[
                "filter",
                "--store",
                "st",
                "--brand",
                brand,
                "--purpose",
                "offers",
                "--format",
                "csv",
                "--now",
                "2026-06-01T00:00:00Z",
            ],
            "number,message\n+4791000001,Rea!\n",
        )
        .ok()
        .stdout
    };
    assert!(run("Beta").contains("Rea! Svara Beta STOPP till 2401"), "{}", run("Beta"));
    assert!(run("ACME").contains("Rea! Svar ACME STOPP til 2401"), "{}", run("ACME"));
}

/// kill -9 `inbound` while it honours a slow stream of STOPs: every STOP it acknowledged
/// (printed) is in the store after reopening, with the right brands; nothing is invented.
#[test]
fn kill_9_loses_no_acknowledged_stop() {
    let wd = Workdir::new();
    brands(&wd);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut total_acked = 0;
    for round in 0..8u64 {
        let mut child = spawn_inbound(&wd);
        let base = 4791000000 + round * 10_000;
        // Message i: number base+i, "ACME STOPP" (ACME) or "stopp" (ACME and Beta).
        let text = |i: u64| if i.is_multiple_of(2) { "ACME STOPP" } else { "stopp" };
        let mut stdin = child.stdin.take().unwrap();
        let pause: Vec<u64> = (0..5000).map(|_| rnd() % 3).collect();
        let writer = std::thread::spawn(move || {
            for i in 0..5000u64 {
                let m = msg(&format!("+{}", base + i), "2401", text(i), "2026-06-01T10:00:00Z");
                if stdin.write_all(m.as_bytes()).and_then(|()| stdin.flush()).is_err() {
                    return;
                }
                // Mostly a trickle, sometimes a burst (several per commit).
                if pause[i as usize] > 0 {
                    std::thread::sleep(Duration::from_micros(300 * pause[i as usize]));
                }
            }
        });
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap())
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(50 + rnd() % 250));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        let _ = writer.join();
        let store = Store::open(wd.join("st")).unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        for l in &acked {
            assert_eq!(l["action"], "STOP", "{l}");
            let i = l["line"].as_u64().unwrap() - 1;
            let want: &[&str] = if i.is_multiple_of(2) { &["ACME"] } else { &["ACME", "Beta"] };
            assert_eq!(stops_of(&store, base + i), want, "round {round}: line {}", i + 1);
        }
        // Nothing invented: every stop in the store is for a message we sent.
        for i in 0..5000 {
            let s = stops_of(&store, base + i);
            if !s.is_empty() {
                let want: &[&str] = if i.is_multiple_of(2) { &["ACME"] } else { &["ACME", "Beta"] };
                assert_eq!(s, want);
            }
        }
        eprintln!("round {round}: {} acknowledged", acked.len());
        total_acked += acked.len();
        drop(store);
        if round % 3 == 2 {
            wd.run(&["compact", "--store", "st"], "").ok();
        }
    }
    assert!(total_acked > 100, "inbound acknowledged only {total_acked} messages");
}

/// A long-running inbound waiting for input does not hold the store: `stop` from another
/// process runs while it waits, and inbound goes on deciding afterwards.
#[test]
fn an_idle_inbound_lets_other_commands_write() {
    let wd = Workdir::new();
    brands(&wd);
    let mut child = spawn_inbound(&wd);
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut say = |from: &str, line: &mut String| {
        let m = msg(from, "2401", "ACME STOPP", "2026-06-01T10:00:00Z");
        stdin.write_all(m.as_bytes()).unwrap();
        stdin.flush().unwrap();
        line.clear();
        out.read_line(line).unwrap();
    };
    let mut line = String::new();
    say("+4791000001", &mut line); // answered: inbound is now waiting for input
    assert!(line.contains("\"STOP\""), "{line}");
    let mut stop = wd
        .command(&["stop", "--store", "st", "--brand", "Beta", "+4791000002"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = stop.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            stop.kill().unwrap();
            panic!("stop still waiting for the idle inbound's lock");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stop.stderr.take().unwrap(), &mut err).unwrap();
    // It may have waited a moment (inbound releases the lock just after answering), but it
    // finished while inbound was still running.
    assert!(status.success(), "{err}");
    say("+4791000003", &mut line);
    assert!(line.contains("\"STOP\""), "{line}");
    // A brand added beside the running inbound is honoured by its next STOP.
    wd.run(&["brand", "add", "--store", "st", "Gamma", "--shortcode", "2401"], "").ok();
    let m = msg("+4791000004", "2401", "GAMMA STOPP", "2026-06-01T10:00:00Z");
    stdin.write_all(m.as_bytes()).unwrap();
    stdin.flush().unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((&v["action"], &v["brands"]), (&"STOP".into(), &serde_json::json!(["Gamma"])));
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let store = Store::open(wd.join("st")).unwrap();
    assert_eq!(stops_of(&store, 4791000001), ["ACME"]);
    assert_eq!(stops_of(&store, 4791000002), ["Beta"]);
    assert_eq!(stops_of(&store, 4791000003), ["ACME"]);
    assert_eq!(stops_of(&store, 4791000004), ["Gamma"]);
}

/// The free-text opt-outs are recorded as STOP end to end; unclear replies are
/// REVIEW, queued (masked number, message id, 0600) and answered with how to stop; the
/// summary counts them.
#[test]
fn free_text_opt_outs_and_the_review_queue() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new();
    brands(&wd);
    let at = "2026-06-01T10:00:00Z";
    let mut input = String::new();
    let opt_outs = [
        "STOPP. Jeg vil ikke ha flere meldinger fra dere",
        "Stopp å sende meg SMS",
        "Meld meg av",
        "Avmelding",
        "Avregistrer",
        "Ikke send flere SMS",
        "Frameld",
        "unsub",
        "СТОП",
    ];
    for (i, t) in opt_outs.iter().enumerate() {
        input.push_str(&msg(&format!("+479100000{i}"), "2401", t, at));
    }
    let with_id = |text: &str, id: &str| {
        serde_json::json!({"from": "+4791234567", "to": "2401", "text": text,
            "received_at": at, "id": id})
        .to_string()
            + "\n"
    };
    input.push_str(&with_id("Hvem er dette?", "m-17"));
    input.push_str(&with_id("Takk for sist", "m-18"));
    let r = wd.run(&["inbound", "--store", "st", "--review", "queue.jsonl"], &input).ok();
    let out = lines(&r);
    assert_eq!(out.len(), opt_outs.len() + 2);
    for (l, t) in out.iter().zip(opt_outs) {
        assert_eq!(l["action"], "STOP", "{t}: {l}");
    }
    let review = &out[opt_outs.len()];
    assert_eq!(review["action"], "REVIEW", "{review}");
    assert_eq!(review["id"], "m-17");
    assert_eq!(review["events"], 0);
    assert!(review["reply"].as_str().unwrap().contains("Svar STOPP til 2401"), "{review}");
    assert_eq!(out[opt_outs.len() + 1]["action"], "UNKNOWN");
    assert!(r.stderr.contains("9 STOP") && r.stderr.contains("1 REVIEW"), "{}", r.stderr);
    let q = wd.read("queue.jsonl");
    let q: Vec<serde_json::Value> = q.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["id"], "m-17");
    assert_eq!(q[0]["from"], "+47*****567");
    assert_eq!(q[0]["text"], "Hvem er dette?");
    assert!(!q[0].to_string().contains("91234567"));
    let mode = std::fs::metadata(wd.join("queue.jsonl")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Without --review the run says what it could not queue.
    let r = wd.run(&["inbound", "--store", "st"], with_id("Hva koster det?", "m-19")).ok();
    assert!(r.stderr.contains("--review FILE"), "{}", r.stderr);
}

/// The gateway shapes of the issue: received_at missing, 0, in milliseconds, in the year 9999
/// or in the future; "from" as international digits without "+"; --region lists.
#[test]
fn lenient_gateway_formats() {
    let wd = Workdir::new();
    brands(&wd);
    let rec = |from: &str, at: serde_json::Value| {
        let mut v = serde_json::json!({"from": from, "to": "2401", "text": "ACME STOPP"});
        if !at.is_null() {
            v["received_at"] = at;
        }
        v.to_string() + "\n"
    };
    let input = [
        rec("+4791000001", serde_json::Value::Null),
        rec("+4791000002", serde_json::json!(0)),
        rec("+4791000003", serde_json::json!(1780000000000u64)),
        rec("+4791000004", serde_json::json!("9999-12-31T23:59:59Z")),
        rec("+4791000005", serde_json::json!("2999-01-01T00:00:00Z")),
        rec("46701234567", serde_json::json!("2026-06-01T10:00:00Z")),
        rec("4791000006", serde_json::json!("2026-06-01T10:00:00Z")),
        rec("070-123 45 68", serde_json::json!("2026-06-01T10:00:00Z")),
    ]
    .concat();
    let r = wd.run(&["inbound", "--store", "st", "--region", "NO,SE"], input).ok();
    let out = lines(&r);
    let actions: Vec<&str> = out.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["STOP"; 8], "{}", r.stdout);
    for (i, l) in out.iter().enumerate() {
        let want = if matches!(i, 2 | 5 | 6 | 7) { None } else { Some("received") };
        assert_eq!(l["time_source"].as_str(), want, "{l}");
    }
    assert_eq!(out[5]["from"], "+46******567");
    assert_eq!(out[7]["from"], "+46******568");
    let store = Store::open(wd.join("st")).unwrap();
    for n in [46701234567, 4791000006, 46701234568, 4791000003] {
        assert_eq!(stops_of(&store, n), ["ACME"], "{n}");
    }
}

/// A running inbound whose stdout reader stalls (pipe full) must not hold the store: a
/// `stop` from another process completes meanwhile.
#[test]
fn a_stalled_reader_does_not_hold_the_store() {
    let wd = Workdir::new();
    brands(&wd);
    let mut child = wd
        .command(&["inbound", "--store", "st"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Far more output than the pipe (64 KiB) and inbound's buffer hold; nobody reads it.
    let input: String = (0..4000)
        .map(|i| msg(&format!("+4791{:06}", i), "2401", "stopp", "2026-06-01T10:00:00Z"))
        .collect();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    // Wait until the run is stalled: its output fills the pipe nobody reads (a small
    // write that does not fit blocks with up to a page free).
    let pipe = child.stdout.as_ref().unwrap().as_raw_fd();
    // SAFETY: F_GETPIPE_SZ and FIONREAD on the pipe's descriptor, which `child` owns.
    let size = unsafe { libc::fcntl(pipe, libc::F_GETPIPE_SZ) };
    assert!(size > 0, "stdout is a pipe");
    let waiting = std::time::Instant::now();
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: as above; FIONREAD writes one c_int.
        assert_eq!(unsafe { libc::ioctl(pipe, libc::FIONREAD, &mut queued) }, 0);
        if queued >= size - 4096 {
            break;
        }
        assert!(waiting.elapsed() < Duration::from_secs(20), "the pipe never filled: {queued}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut stop = wd
        .command(&["stop", "--store", "st", "+4799999999"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = stop.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Unblock and finish the inbound run either way.
    let mut out = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        out.push_str(&line);
        line.clear();
    }
    feeder.join().unwrap();
    child.wait().unwrap();
    if status.is_none() {
        stop.kill().unwrap();
    }
    assert!(status.is_some_and(|s| s.success()), "stop waited behind a stalled inbound reader");
    assert_eq!(out.lines().count(), 4000);
    let store = Store::open(wd.join("st")).unwrap();
    assert_eq!(stops_of(&store, 4799999999), ["*"]);
}

/// The reply states the standing `filter` then decides (store policy included): pending
/// under a required confirmation, subscribed once confirmed, still unsubscribed after a
/// START older than a STOP of every brand; HELP to an unregistered number names a sender.
#[test]
fn replies_state_the_standing_filter_decides() {
    let wd = Workdir::new();
    brands(&wd);
    let set = ["policy", "--store", "st", "set", "--brand", "ACME", "--require-confirmed", "true"];
    wd.run(&set, "").ok();
    let csv = "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n\
               +4791000001,ACME,offers,sms,2026-05-01T00:00:00Z,web_form,v1,shop,,\n";
    wd.run(&["import", "consents", "--store", "st", "-"], csv).ok();
    let filter = |wd: &Workdir| {
        let args = ["filter", "--store", "st", "--brand", "ACME", "--purpose", "offers"];
        wd.run(&args, "+4791000001\n").ok().stdout
    };
    let inbound = |wd: &Workdir, to: &str, text: &str, at: &str| {
        let r = wd.run(&["inbound", "--store", "st"], msg("+4791000001", to, text, at)).ok();
        lines(&r).remove(0)
    };
    let l = inbound(&wd, "2401", "ACME HJELP", "2026-05-01T00:01:00Z");
    assert_eq!(l["standing"], "pending", "{l}");
    assert!(l["reply"].as_str().unwrap().contains("Svar JA til 2401 for å bekrefte"), "{l}");
    assert_eq!(filter(&wd), "");
    let l = inbound(&wd, "2401", "JA", "2026-05-01T00:05:00Z");
    assert_eq!((&l["action"], &l["standing"]), (&"CONFIRM".into(), &"subscribed".into()));
    assert_eq!(filter(&wd), "+4791000001\n");
    // A STOP to a number no brand is on stops every brand; a START sent before it (and
    // delivered late) does not lift it, and its reply says so.
    assert_eq!(inbound(&wd, "9999", "STOPP", "2026-06-10T00:00:00Z")["brands"][0], "*");
    let l = inbound(&wd, "2401", "ACME START", "2026-06-05T00:00:00Z");
    assert_eq!((&l["action"], &l["standing"]), (&"START".into(), &"unsubscribed".into()));
    assert!(l["reply"].as_str().unwrap().contains("ikke påmeldt"), "{l}");
    assert!(l["reply"].as_str().unwrap().contains("ACME START til 2401"), "{l}");
    assert_eq!(filter(&wd), "");
    let l = inbound(&wd, "9999", "HJELP", "2026-06-11T00:00:00Z");
    assert_eq!(l["brands"].as_array().unwrap().len(), 0);
    assert!(l.get("standing").is_none());
    let reply = l["reply"].as_str().unwrap();
    assert!(reply.contains("denne tjenesten") && reply.contains("Svar STOPP til 9999"), "{l}");
}
