//! A closed stdout ends any command quietly, and an open store directory is tightened.

use std::os::unix::fs::PermissionsExt;

use crate::harness::Workdir;

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
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
        &["purge", "--store", "s", "--older-than", "24m"],
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
