//! Command-line parsing and dispatch. One file per subcommand.
//!
//! Exit codes: 0 success, 1 the command ran but reported bad records, 2 error.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// `writeln!` to stdout, returning the `io::Result` (where `println!` would panic on a
/// closed stdout).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod access;
mod audit;
mod bench;
mod brand;
mod compact;
mod consent;
mod demo;
mod expiring;
mod extract;
mod filter;
mod import;
mod inbound;
mod info;
mod normalize;
mod open;
mod policy;
mod processing;
mod purge;
mod recheck;
mod serve;
mod stop;
mod subject;
mod token;

/// Decide, for every recipient of an SMS campaign, whether a marketing message may be sent.
#[derive(Debug, Parser)]
#[command(name = "sendfilter", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // Demo and Normalize: their help comes from the Args docs.
    Demo(demo::Args),
    Normalize(normalize::Args),
    /// Measure import, compaction and every filter format on synthetic data (ops harness).
    Bench(bench::Args),
    // Store commands: their help (summary and long text) comes from the Args docs.
    Import(import::Args),
    Stop(stop::Args),
    Consent(consent::Args),
    Compact(compact::Args),
    Info(info::Args),
    Policy(policy::Args),
    Processing(processing::Args),
    Expiring(expiring::Args),
    Extract(extract::Args),
    /// Decide every recipient of a campaign: allowed records out, rejects with reasons.
    Filter(Box<filter::Args>),
    Recheck(recheck::Args),
    Subject(subject::Args),
    Purge(purge::Args),
    Inbound(inbound::Args),
    Brand(brand::Args),
    Access(access::Args),
    Audit(audit::Args),
    Serve(serve::Args),
    Token(token::Args),
}

impl Command {
    /// The store the command works on, what it does there and its name, for the store's
    /// roles; `None` for commands that use no store of the caller's.
    fn need(&self) -> Option<(&std::path::Path, sendfilter::store::access::Action, &'static str)> {
        Some(match self {
            Command::Demo(_) | Command::Normalize(_) | Command::Bench(_) => return None,
            Command::Import(a) => a.need(),
            Command::Stop(a) => a.need(),
            Command::Consent(a) => a.need(),
            Command::Compact(a) => a.need(),
            Command::Info(a) => a.need(),
            Command::Policy(a) => a.need(),
            Command::Processing(a) => a.need(),
            Command::Expiring(a) => a.need(),
            Command::Extract(a) => return a.need(),
            Command::Filter(a) => a.need(),
            Command::Recheck(a) => a.need(),
            Command::Subject(a) => a.need(),
            Command::Purge(a) => a.need(),
            Command::Inbound(a) => a.need(),
            Command::Brand(a) => a.need(),
            Command::Access(a) => return a.need(),
            Command::Audit(a) => a.need(),
            Command::Serve(a) => a.need(),
            Command::Token(a) => a.need(),
        })
    }
}

impl Command {
    /// The store and the command's name when it decides as of another time than the clock
    /// (`--now` more than an hour off, see [`sendfilter::replay`]): a separate permission.
    fn replay(&self) -> Option<(&std::path::Path, &'static str)> {
        match self {
            Command::Filter(a) if a.now_overridden() => Some((a.need().0, "filter --now")),
            Command::Expiring(a) if a.now_overridden() => Some((a.need().0, "expiring --now")),
            Command::Purge(a) if a.now_overridden() => Some((a.need().0, "purge --now")),
            _ => None,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Roles first: a refused command touches nothing (see `sendfilter access`). A replay
    // (`--now` far from the clock) is checked, and logged, first.
    let replay = cli.command.replay().is_some();
    if let Some((store, name)) = cli.command.replay() {
        sendfilter::store::access::authorize(
            store,
            sendfilter::store::access::Action::Replay,
            name,
        )
        .with_context(|| {
            format!("checking your role on store {} (--now is a replay)", store.display())
        })?;
    }
    let mut audited = None;
    if let Some((store, action, name)) = cli.command.need() {
        // An existing store only (a `config` file): never tighten a directory that is not one.
        if store.join("config").is_file() {
            secure_store_dir(store)?;
        }
        let grant = sendfilter::store::access::authorize(store, action, name)
            .with_context(|| format!("checking your role on store {}", store.display()))?;
        audited = Some((store.to_path_buf(), grant, action, name));
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Normalize(args) => normalize::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Import(args) => import::run(args),
        Command::Stop(args) => stop::run(args),
        Command::Consent(args) => consent::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Info(args) => info::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Processing(args) => processing::run(args),
        Command::Expiring(args) => expiring::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Filter(args) => filter::run(*args),
        Command::Recheck(args) => recheck::run(args),
        Command::Subject(args) => subject::run(args),
        Command::Purge(args) => purge::run(args),
        Command::Inbound(args) => inbound::run(args),
        Command::Brand(args) => brand::run(args),
        Command::Access(args) => access::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Token(args) => token::run(args),
    };
    // Every command on a store leaves an audit record, roles or not (see `sendfilter
    // audit`): who, what, the outcome, and what the command noted it touched.
    if let Some((store, grant, action, name)) = audited {
        let ok = result.is_ok();
        let recorded = audit::finish(&store, &grant, action, name, replay, ok);
        if result.is_ok() {
            recorded?;
        }
    }
    result
}

/// Parses a brand-name argument (`--brand`, `brand add NAME`) into its canonical form
/// (trimmed, Unicode NFC: [`sendfilter::brand::canonical`]), refusing names that cannot be
/// canonical (empty, `*`, control characters) with a clear error.
pub(crate) fn brand_arg(s: &str) -> Result<String, String> {
    sendfilter::brand::canonical(s).map(|c| c.into_owned()).map_err(|e| e.to_string())
}

/// [`brand_arg`] for a stop, where `*` means every brand.
pub(crate) fn stop_brand_arg(s: &str) -> Result<String, String> {
    sendfilter::brand::canonical_stop(s).map(|c| c.into_owned()).map_err(|e| e.to_string())
}

/// True when the error chain ends in a broken pipe (the reader went away): a quiet success.
/// A JSON writer's error counts too (`serde_json` does not expose the I/O error as its
/// source).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

/// Restricts the store directory `dir` to its owner (0700) when group or others may access
/// it, saying so on stderr; refuses a store directory that is open and not ours.
pub(crate) fn secure_store_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use sendfilter::store::dirmode::{self, DirMode};
    if let DirMode::Tightened { was } = dirmode::secure(dir)? {
        eprintln!(
            "sendfilter: store directory {} was open to other users (mode {was:04o}); \
             restricted it to 0700 (owner only)",
            dir.display()
        );
    }
    Ok(())
}
