//! Caller-named paths (`filter --rejects/--receipts/--report`, `import FILE`, `demo --store`,
//! `bench --keep`, a new `--store`): never into a store, never through a link, and for staff
//! running sendfilter through sudo only where they could write themselves. Also: a closed
//! stdout ends any command quietly, and an open store directory is tightened.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::harness::Workdir;

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A store `s` with a stop, a consent, an erasure (so `suppress.key` exists) and roles:
/// bob campaign, olga operator. The work dir may be entered by anyone (tests may run as
/// root, whose temp dirs are 0700), and `out/` written by anyone.
fn setup() -> Workdir {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "--brand", "ACME", "+4791234567"], "").ok();
    wd.write(
        "consents.csv",
        format!(
            "{}+4791000001,ACME,offers,sms,2025-01-01T00:00:00Z,web,t1,src,,\n",
            crate::harness::CONSENTS_HEADER
        ),
    );
    wd.run(&["import", "consents", "--store", "s", "consents.csv"], "").ok();
    wd.run(&["subject", "erase", "--store", "s", "+4791000002"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "bob", "campaign"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "olga", "operator"], "").ok();
    chmod(wd.path(), 0o711);
    std::fs::create_dir(wd.join("out")).unwrap();
    chmod(&wd.join("out"), 0o777);
    assert!(wd.join("s/suppress.key").exists());
    wd
}

const FILTER: [&str; 9] =
    ["filter", "--store", "s", "--brand", "ACME", "--purpose", "offers", "--shortcode", "2401"];

fn filter_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FILTER.iter().copied().chain(extra.iter().copied()).collect()
}

/// The store still decides: the stop blocks, the consent allows.
fn assert_store_works(wd: &Workdir) {
    let r = wd.run(&FILTER, "+4791234567\n+4791000001\n").ok();
    assert_eq!(r.stdout, "+4791000001\n", "{}", r.stderr);
    wd.run(&["info", "--store", "s"], "").ok();
    let list = wd.run(&["access", "list", "--store", "s"], "").ok();
    assert!(list.stdout.contains("bob"), "{}", list.stdout);
}

#[test]
fn filter_outputs_never_reach_the_store_links_or_files_the_caller_may_not_write() {
    let wd = setup();
    // A file of the owner's the caller may read but not write, and one behind a link.
    let victim = wd.write("out/victim", "ssh-ed25519 AAAA owner@x\n");
    chmod(&victim, 0o644);
    std::os::unix::fs::symlink(&victim, wd.join("out/link")).unwrap();
    let private = wd.join("home/.ssh");
    std::fs::create_dir_all(&private).unwrap();
    chmod(&wd.join("home"), 0o700);
    wd.write("home/.ssh/authorized_keys", "ssh-ed25519 AAAA owner@x\n");

    let store_files = ["journal", "access", "audit", "suppress.key", "config"];
    let before: Vec<Vec<u8>> =
        store_files.iter().map(|f| std::fs::read(wd.join(&format!("s/{f}"))).unwrap()).collect();
    let targets: Vec<(String, &str)> = store_files
        .iter()
        .map(|f| (format!("s/{f}"), "is in the store directory"))
        .chain([
            ("out/link".to_string(), "is a symbolic link"),
            ("out/victim".to_string(), "the caller may not write that file"),
            ("home/.ssh/authorized_keys".to_string(), "the caller may not enter the directory"),
        ])
        .collect();
    for flag in ["--rejects", "--receipts", "--report"] {
        for (target, why) in &targets {
            let args = filter_args(&[flag, target.as_str()]);
            let r = wd.run_as("bob", &args, "ssh-ed25519 AAAA carol@x\n+4791000001\n");
            assert_eq!(r.code, 2, "{flag} {target}: {}", r.stderr);
            assert_eq!(r.stdout, "", "{flag} {target}");
            assert!(r.stderr.contains(&format!("{flag} {target}: {why}")), "{}", r.stderr);
            assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
            assert!(!r.stderr.contains("4242") && !r.stderr.contains("os error"), "{}", r.stderr);
        }
    }
    // The owner is refused the store's files too.
    for f in store_files {
        let r = wd.run(&filter_args(&["--rejects", &format!("s/{f}")]), "+4791000001\n");
        assert_eq!(r.code, 2, "{f}: {}", r.stderr);
        assert!(r.stderr.contains("is in the store directory"), "{}", r.stderr);
    }
    let r = wd.run(&filter_args(&["--report", "out/link"]), "+4791000001\n");
    assert!(r.stderr.contains("--report out/link: is a symbolic link"), "{}", r.stderr);
    // Nothing changed; the audit log only grew (each refused run is logged).
    for (f, old) in store_files.iter().zip(&before) {
        let now = std::fs::read(wd.join(&format!("s/{f}"))).unwrap();
        if *f == "audit" {
            assert!(now.starts_with(old) && now.len() > old.len(), "audit was cut");
        } else {
            assert_eq!(&now, old, "{f} changed");
        }
    }
    assert_eq!(wd.read("out/victim"), "ssh-ed25519 AAAA owner@x\n");
    assert_eq!(wd.read("home/.ssh/authorized_keys"), "ssh-ed25519 AAAA owner@x\n");
    assert_store_works(&wd);
}

#[test]
fn a_caller_through_sudo_writes_where_they_may_and_gets_the_file() {
    let wd = setup();
    let args = filter_args(&[
        "--rejects",
        "out/rejects.txt",
        "--receipts",
        "out/receipts.csv",
        "--report",
        "out/report.json",
    ]);
    let r = wd.run_as("bob", &args, "+4791234567\n+4791000001\n").ok();
    assert_eq!(r.stdout, "+4791000001\n");
    assert_eq!(wd.read("out/rejects.txt"), "+4791234567\tSTOPPED\n");
    for f in ["rejects.txt", "receipts.csv"] {
        let m = std::fs::metadata(wd.join(&format!("out/{f}"))).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(m.uid(), 4242 + u32::from(unsafe { libc::getuid() } == 4242), "{f}");
        }
    }
    assert!(wd.read("out/report.json").contains("\"input\": 2"));
    // One refused output: the others are not touched, nor created.
    let old = wd.write("out/old.txt", "keep me\n");
    chmod(&old, 0o666);
    let args =
        filter_args(&["--rejects", "out/old.txt", "--receipts", "out/n.csv", "--report", "s/x"]);
    let r = wd.run_as("bob", &args, "+4791234567\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(wd.read("out/old.txt"), "keep me\n");
    assert!(!wd.join("out/n.csv").exists());
    assert!(!wd.join("s/x").exists());
}

#[test]
fn imports_read_only_what_the_caller_may_read_and_never_a_store_file() {
    let wd = setup();
    std::fs::create_dir(wd.join("home")).unwrap();
    let stops = wd.write(
        "home/stops.csv",
        "number,brand,stopped_at\n+4791000009,ACME,2026-01-01T00:00:00Z\n",
    );
    chmod(&wd.join("home"), 0o700);
    let r = wd.run_as("olga", &["import", "stops", "--store", "s", "home/stops.csv"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("FILE home/stops.csv: the caller may not enter the directory"),
        "{}",
        r.stderr
    );
    let r = wd.run_as("olga", &["import", "stops", "--store", "s", "s/journal"], "");
    assert!(r.stderr.contains("FILE s/journal: is in the store directory"), "{}", r.stderr);
    // Readable: imported.
    std::fs::rename(&stops, wd.join("out/stops.csv")).unwrap();
    chmod(&wd.join("out/stops.csv"), 0o644);
    wd.run_as("olga", &["import", "stops", "--store", "s", "out/stops.csv"], "").ok();
    assert_store_works(&wd);
}

#[test]
fn demo_bench_and_new_stores_never_reuse_a_store_or_a_closed_directory() {
    let wd = setup();
    let journal = std::fs::read(wd.join("s/journal")).unwrap();
    for args in [
        &["demo", "--store", "s"][..],
        &["bench", "--recipients", "100", "--runs", "1", "--keep", "s"],
    ] {
        let r = wd.run(args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("exists and is not empty"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(wd.join("s/journal")).unwrap(), journal);
    // Not inside a store either, not even a new directory.
    let r = wd.run(&["demo", "--store", "s/inner"], "");
    assert!(r.stderr.contains("is in the store directory"), "{}", r.stderr);
    // Under sudo, only where the caller may create directories.
    std::fs::create_dir(wd.join("closed")).unwrap();
    chmod(&wd.join("closed"), 0o755);
    let r = wd.run_as("bob", &["demo", "--store", "closed/d"], "");
    assert!(
        r.stderr.contains("--store closed/d: the caller may not create directories there"),
        "{}",
        r.stderr
    );
    let r = wd.run_as("bob", &["stop", "--store", "closed/new", "+4791000003"], "");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--store closed/new: the caller may not create directories there"),
        "{}",
        r.stderr
    );
    assert!(!wd.join("closed/d").exists() && !wd.join("closed/new").exists());
    wd.run_as("bob", &["demo", "--store", "out/d"], "").ok();
    assert_store_works(&wd);
}

/// Runs `args` with a stdout whose reader is already gone.
fn run_with_closed_stdout(wd: &Workdir, args: &[&str]) -> (Option<i32>, String) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe writes two descriptors into `fds`.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the read end we own; the write end becomes the child's stdout.
    unsafe { libc::close(fds[0]) };
    use std::os::fd::FromRawFd;
    // SAFETY: fds[1] is a fresh descriptor we own.
    let stdout = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
    let out = wd
        .command(args)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_stdout_ends_any_command_quietly() {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "--brand", "ACME", "+4791234567"], "").ok();
    wd.run(&["brand", "add", "--store", "s", "ACME", "--shortcode", "2401"], "").ok();
    wd.run(&["access", "grant", "--store", "s", "bob", "campaign"], "").ok();
    for args in [
        &["access", "list", "--store", "s"][..],
        &["access", "list", "--store", "s", "--json"],
        &["access", "whoami", "--store", "s"],
        &["brand", "list", "--store", "s"],
        &["brand", "list", "--store", "s", "--json"],
        &["policy", "--store", "s", "show"],
        &["info", "--store", "s"],
        &["info", "--store", "s", "--json"],
        &["subject", "export", "--store", "s", "+4791234567"],
        &["expiring", "--store", "s", "--brand", "ACME", "--within", "30d"],
        &["purge", "--store", "s", "--older-than", "24mo"],
        &["demo"],
    ] {
        let (code, stderr) = run_with_closed_stdout(&wd, args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_open_store_directory_is_tightened_and_said_so() {
    let wd = Workdir::new();
    wd.run(&["stop", "--store", "s", "+4791234567"], "").ok();
    chmod(&wd.join("s"), 0o755);
    let r = wd.run(&["info", "--store", "s"], "").ok();
    assert!(
        r.stderr.contains(
            "store directory s was open to other users (mode 0755); restricted it to 0700"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::metadata(wd.join("s")).unwrap().permissions().mode() & 0o7777, 0o700);
    let r = wd.run(&["info", "--store", "s"], "").ok();
    assert!(!r.stderr.contains("restricted"), "{}", r.stderr);
    // A new store made in an existing open directory is tightened too.
    std::fs::create_dir(wd.join("t")).unwrap();
    chmod(&wd.join("t"), 0o750);
    let r = wd.run(&["stop", "--store", "t", "+4791234567"], "").ok();
    assert!(r.stderr.contains("store directory t was open"), "{}", r.stderr);
    assert_eq!(std::fs::metadata(wd.join("t")).unwrap().permissions().mode() & 0o7777, 0o700);
}

#[test]
fn an_unreadable_sudo_identity_refuses_output_paths_only() {
    let wd = setup();
    let run = |extra: &[&str]| {
        let mut c = wd.command(&filter_args(extra));
        c.env("SUDO_USER", "bob").env("SUDO_UID", "4242").env("SUDO_GID", "staff");
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    let out = run(&["--report", "out/r.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot tell the caller's identity"), "{err}");
    assert!(!wd.join("out/r.json").exists());
}

#[test]
fn the_inbound_review_queue_is_a_caller_named_output_too() {
    let wd = setup();
    std::os::unix::fs::symlink(wd.join("s/journal"), wd.join("out/link")).unwrap();
    let journal = std::fs::read(wd.join("s/journal")).unwrap();
    let msg = r#"{"from":"+4791000003","to":"2401","text":"Hvem er dette?","received_at":"2026-06-01T10:00:00Z"}"#;
    for (target, why) in
        [("s/journal", "is in the store directory"), ("out/link", "is a symbolic link")]
    {
        let r = wd.run_as("olga", &["inbound", "--store", "s", "--review", target], msg);
        assert_eq!(r.code, 2, "{target}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("--review {target}: {why}")), "{}", r.stderr);
        assert_eq!(std::fs::read(wd.join("s/journal")).unwrap(), journal, "{target}");
    }
    // A queue of the caller's own is appended to, run after run, and stays private.
    for _ in 0..2 {
        wd.run_as("olga", &["inbound", "--store", "s", "--review", "out/review.jsonl"], msg).ok();
    }
    let queue = wd.read("out/review.jsonl");
    assert_eq!(queue.lines().count(), 2, "{queue}");
    assert!(!queue.contains("4791000003"), "{queue}");
    let mode = std::fs::metadata(wd.join("out/review.jsonl")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
