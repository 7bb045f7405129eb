//! `sendfilter expiring --store DIR --brand B --within 30d`: consents that end soon.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::{duration, timefmt};

/// List numbers whose consent for a brand ends soon, as CSV on stdout
/// (`number,purpose,ends_at,event_seq`), soonest first.
///
/// Sending these numbers an SMS asking to *confirm* their existing consent is allowed;
/// asking anyone without a consent for a new one is not (that is marketing itself), so
/// only consents valid now are listed: no standing stop, granted, not yet expired. The
/// store's default consent lifetime for the brand applies to consents without an end.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// The brand.
    #[arg(long, value_parser = super::brand_arg)]
    brand: String,
    /// The window: consents ending after now and at most this much later (`30d`, `24h`,
    /// `2w`, `3mo`, `1y`, `90min`; a bare `m` is refused as ambiguous).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    within: duration::Duration,
    /// Decide as of this instant (RFC 3339, years 2000-2099) instead of the current time.
    /// More than an hour from the clock it is a replay: refused for the `campaign` role,
    /// noted on stderr and in the audit log.
    #[arg(long, value_name = "RFC3339", value_parser = sendfilter::replay::parse_now)]
    now: Option<i64>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = args.now.unwrap_or_else(timefmt::now);
    if args.now_overridden() {
        eprintln!(
            "sendfilter expiring: NOW OVERRIDDEN: listing as of {}, not the clock",
            timefmt::format_rfc3339(now)
        );
    }
    let view = sendfilter::store::open_view(&args.store)
        .with_context(|| format!("opening store {}", args.store.display()))?;
    let policy = sendfilter::store::policy::read(&args.store)
        .with_context(|| format!("reading the policy of store {}", args.store.display()))?
        .brand(&args.brand);
    let list = sendfilter::store::expiring::expiring(
        &view,
        &args.brand,
        now,
        args.within.seconds(),
        policy.consent_lifetime_months,
    )
    .with_context(|| format!("reading the consents of store {}", args.store.display()))?;
    super::audit::note(|n| {
        n.brand = Some(args.brand.clone());
        n.counts.insert("numbers_listed".into(), list.len() as u64);
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "number,purpose,ends_at,event_seq")?;
    let mut field = Vec::new();
    for e in &list {
        field.clear();
        // Purposes are free text: quote them as CSV needs.
        let p = &e.purpose;
        if p.contains([',', '"', '\n', '\r']) {
            field.push(b'"');
            field.extend_from_slice(p.replace('"', "\"\"").as_bytes());
            field.push(b'"');
        } else {
            field.extend_from_slice(p.as_bytes());
        }
        write!(out, "{},", e.number)?;
        out.write_all(&field)?;
        writeln!(out, ",{},{}", timefmt::format_rfc3339(e.ends_at), e.event_seq)?;
    }
    out.flush()?;
    eprintln!(
        "sendfilter expiring: {} consents for {:?} end within the window",
        list.len(),
        args.brand
    );
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// True when `--now` is more than an hour from the clock (a replay).
    pub(super) fn now_overridden(&self) -> bool {
        self.now.is_some_and(|t| sendfilter::replay::is_overridden(t, timefmt::now()))
    }

    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::ListNumbers, "expiring")
    }
}
