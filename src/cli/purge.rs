//! `sendfilter purge --store DIR --older-than 24mo`: retention purge of ended consents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::rights;

/// Drop the evidence of consents that expired or were withdrawn longer ago than a period,
/// and of customer relationships over by then.
///
/// Runs a compaction that leaves them out; stops are kept. A relationship goes (all its
/// records for that brand) when its newest record is not an open subscription or
/// membership and its start, last purchase and end are all older than the period: choose a
/// period no shorter than the soft opt-in window (filter --soft-opt-in-months) and no
/// decision changes. Prints a receipt (JSON).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// Retention period: a whole number and a unit s, min, h, d, w, mo (months) or y,
    /// e.g. 24mo or 2y (a bare `m` is refused as ambiguous).
    #[arg(long)]
    older_than: String,
    /// Treat this time (RFC 3339, years 2000-2099) as now; default the clock. More than an
    /// hour from the clock it is a replay: refused for roles that may not replay, noted on
    /// stderr and in the audit log.
    #[arg(long, value_name = "RFC3339", value_parser = sendfilter::replay::parse_now)]
    now: Option<i64>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let period = rights::parse_period(&args.older_than).context("--older-than")?;
    let now = args.now.unwrap_or_else(sendfilter::timefmt::now);
    if args.now_overridden() {
        eprintln!(
            "sendfilter purge: NOW OVERRIDDEN: purging as of {}, not the clock",
            sendfilter::timefmt::format_rfc3339(now)
        );
    }
    let mut store = super::stop::open_store(&args.store, false, None)?;
    let r = rights::purge(&mut store, period, now)
        .with_context(|| format!("purging {}", args.store.display()))?;
    super::audit::note(|n| {
        n.detail = Some(format!("older-than={}; cutoff={}", args.older_than, r.cutoff));
        n.counts.insert("consents_purged".into(), r.consents_purged);
        n.counts.insert("corrections_purged".into(), r.corrections_purged);
        n.counts.insert("relationships_purged".into(), r.relationships_purged);
        n.counts.insert("numbers_affected".into(), r.numbers_affected);
    });
    outln!("{}", serde_json::to_string_pretty(&r)?)?;
    eprintln!(
        "sendfilter: {} consent(s) purged from {} number(s); generation {}",
        r.consents_purged, r.numbers_affected, r.generation
    );
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// True when `--now` is more than an hour from the clock (a replay).
    pub(super) fn now_overridden(&self) -> bool {
        self.now.is_some_and(|t| sendfilter::replay::is_overridden(t, sendfilter::timefmt::now()))
    }

    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::ChangeSubject, "purge")
    }
}
