//! `sendfilter purge --store DIR --older-than 24mo`: retention purge of ended consents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::rights;
use sendfilter::store::processing::PURGED_CATEGORIES;
use sendfilter::store::retention::Retention;

/// Drop the evidence of consents that expired or were withdrawn longer ago than a period,
/// and of customer relationships over by then.
///
/// Runs a compaction that leaves them out; stops are kept. A relationship goes (all its
/// records for that brand) when its newest record is not an open subscription or
/// membership and its start, last purchase and end all lie before the cutoff.
///
/// Without --older-than each brand's own retention applies, per category (`consents`,
/// `relationships`), from its record of processing (`sendfilter processing set
/// --retention`); brands and categories without one keep their evidence. A purge that
/// would change a live decision — a relationship retention shorter than the soft opt-in
/// window (--soft-opt-in-months), a relationship soft opt-in still allows going, or an
/// ended consent going that keeps a number blocked — is refused with the count, unless
/// --force (recorded in the audit trail). --dry-run prints what would go per brand and
/// which decisions would change, counted per brand and reason (numbers masked). Prints a
/// receipt (JSON).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// Retention period: a whole number and a unit s, min, h, d, w, mo (months) or y,
    /// e.g. 24mo or 2y (a bare `m` is refused as ambiguous). Default: the records of
    /// processing.
    #[arg(long)]
    older_than: Option<String>,
    /// The soft opt-in window campaigns use (filter --soft-opt-in-months), in months.
    #[arg(long, default_value_t = 12)]
    soft_opt_in_months: u32,
    /// Print what would go and which decisions would change (JSON); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Purge even when live decisions would change (recorded in the audit trail).
    #[arg(long)]
    force: bool,
    /// Treat this time (RFC 3339, years 2000-2099) as now; default the clock. More than an
    /// hour from the clock it is a replay: refused for roles that may not replay, noted on
    /// stderr and in the audit log.
    #[arg(long, value_name = "RFC3339", value_parser = sendfilter::replay::parse_now)]
    now: Option<i64>,
}

/// The retention to apply: `--older-than` for everything, else each brand's from the
/// records of processing, with a description for the audit record.
fn period(args: &Args) -> anyhow::Result<(Retention, String)> {
    if let Some(p) = &args.older_than {
        let secs = rights::parse_period(p).context("--older-than")?;
        return Ok((Retention::uniform(secs), format!("older-than={p}")));
    }
    let records = sendfilter::store::processing::read(&args.store).with_context(|| {
        format!("reading the records of processing of {}", args.store.display())
    })?;
    let retention = Retention::from_records(&records);
    anyhow::ensure!(
        !retention.is_empty(),
        "no period: pass --older-than, or set retention in the records of processing \
         (`sendfilter processing set --brand B --retention consents=24mo`)"
    );
    let text: Vec<String> = records
        .brands
        .iter()
        .flat_map(|(b, r)| {
            r.retention
                .iter()
                .filter(|(c, _)| PURGED_CATEGORIES.contains(&c.as_str()))
                .map(move |(c, d)| format!("{b} {c}={d}"))
        })
        .collect();
    Ok((retention, format!("records of processing: {}", text.join(", "))))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (period, described) = period(&args)?;
    let now = args.now.unwrap_or_else(sendfilter::timefmt::now);
    if args.now_overridden() {
        eprintln!(
            "sendfilter purge: NOW OVERRIDDEN: purging as of {}, not the clock",
            sendfilter::timefmt::format_rfc3339(now)
        );
    }
    let mut store = super::open::open_store(&args.store, false, None)?;
    super::audit::note(|n| n.detail = Some(described.clone()));
    if args.dry_run {
        let p = rights::plan(&store, &period, now, args.soft_opt_in_months)?;
        super::audit::note(|n| {
            n.detail = Some(format!("dry run; {described}"));
            n.counts.insert("decisions_changed".into(), p.decisions_changed);
            n.counts.insert("relationships_going".into(), p.relationships_going);
        });
        outln!("{}", serde_json::to_string_pretty(&p)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (p, r) = match rights::purge_guarded(
        &mut store,
        &period,
        now,
        args.soft_opt_in_months,
        args.force,
    ) {
        Ok(x) => x,
        Err(e @ rights::RightsError::WouldChangeDecisions { count, .. }) => {
            super::audit::note(|n| {
                n.detail = Some(format!("refused; {described}"));
                n.counts.insert("decisions_changed".into(), count);
            });
            return Err(anyhow::Error::new(e).context(format!("purging {}", args.store.display())));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("purging {}", args.store.display())));
        }
    };
    let forced = args.force && (p.decisions_changed > 0 || p.shorter_than_soft_opt_in_window);
    super::audit::note(|n| {
        n.detail = Some(format!(
            "{}{described}; cutoff={}",
            if forced { "FORCED; " } else { "" },
            r.cutoff
        ));
        n.counts.insert("consents_purged".into(), r.consents_purged);
        n.counts.insert("corrections_purged".into(), r.corrections_purged);
        n.counts.insert("relationships_purged".into(), r.relationships_purged);
        n.counts.insert("numbers_affected".into(), r.numbers_affected);
        n.counts.insert("decisions_changed".into(), p.decisions_changed);
    });
    outln!("{}", serde_json::to_string_pretty(&r)?)?;
    if forced {
        eprintln!(
            "sendfilter: --force: {} live decision(s) changed (recorded in the audit trail)",
            p.decisions_changed
        );
    }
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
