//! `sendfilter compact --store DIR`: fold the journal into a new snapshot generation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

/// Fold the journal into a new snapshot generation.
///
/// The journal is rotated afterwards. Safe to interrupt: the previous generation keeps
/// serving until the new one is published.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t = Instant::now();
    let mut store = super::open::open_store(&args.store, false, None)?;
    let c = store.compact().with_context(|| format!("compacting {}", args.store.display()))?;
    eprintln!(
        "sendfilter: generation {} written: {} events ({} new), last sequence {}, {} bytes, {:.2} s",
        c.generation,
        c.total_events,
        c.new_events,
        c.last_seq,
        c.bytes,
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::Maintain, "compact")
    }
}
