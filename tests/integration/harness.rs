//! A tiny test harness in the spirit of xsv's `Workdir`: a temp dir, the real binary,
//! stdin piped in, stdout/stderr/exit code captured.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary working directory for one test.
pub struct Workdir {
    dir: tempfile::TempDir,
}

/// What a run of the binary produced.
pub struct Run {
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
}

impl Workdir {
    /// Creates a fresh temp dir.
    pub fn new() -> Workdir {
        Workdir { dir: tempfile::tempdir().expect("creating temp dir") }
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file inside the directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).expect("writing test file");
        p
    }

    /// Reads a file inside the directory as text.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).expect("reading test file")
    }

    /// A command for the binary, run inside the directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sendfilter"));
        // Tests run as the stores' owner, also when the suite itself runs under sudo.
        c.args(args).current_dir(self.path()).env_remove("SUDO_UID").env_remove("SUDO_USER");
        c
    }

    /// Runs the binary with `args`, feeding `stdin`.
    pub fn run(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Run {
        self.run_command(self.command(args), stdin)
    }

    /// Runs the binary as `sudo` would for `user` (`SUDO_USER`, and a `SUDO_UID` that is
    /// not ours): the store's roles then apply to `user`.
    pub fn run_as(&self, user: &str, args: &[&str], stdin: impl AsRef<[u8]>) -> Run {
        let mut c = self.command(args);
        // SAFETY: getuid has no preconditions.
        let other = 4242 + u32::from(unsafe { libc::getuid() } == 4242);
        c.env("SUDO_USER", user).env("SUDO_UID", other.to_string());
        self.run_command(c, stdin)
    }

    fn run_command(&self, mut command: Command, stdin: impl AsRef<[u8]>) -> Run {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sendfilter");
        let input = stdin.as_ref().to_vec();
        let mut sin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || {
            let _ = sin.write_all(&input);
        });
        let out: Output = child.wait_with_output().expect("waiting for sendfilter");
        writer.join().expect("stdin writer");
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

/// The header of `sendfilter import consents` CSV files.
pub const CONSENTS_HEADER: &str =
    "number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at\n";

impl Workdir {
    /// Builds the store `store` through the CLI: imports `stops` (rows after the header
    /// `number,brand,stopped_at`) and `consents` (rows after [`CONSENTS_HEADER`]), asserting
    /// both imports succeed.
    pub fn import_store(&self, stops: &str, consents: &str) {
        self.write("stops.csv", format!("number,brand,stopped_at\n{stops}"));
        self.write("consents.csv", format!("{CONSENTS_HEADER}{consents}"));
        self.run(&["import", "stops", "--store", "store", "stops.csv"], "").ok();
        self.run(&["import", "consents", "--store", "store", "consents.csv"], "").ok();
    }
}

impl Run {
    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success; stderr:\n{}", self.stderr);
        self
    }
}
