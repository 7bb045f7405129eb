//! `sendfilter policy --store DIR show|set`: per-brand legal settings kept in the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::policy::{self, MAX_GRACE_DAYS, MAX_MONTHS};

/// Show or set the store's per-brand policy: required double opt-in, a default consent
/// lifetime and the soft opt-in informed grace. Every `filter` run for the brand applies it
/// (no flag needed).
///
/// Examples: `sendfilter policy --store DIR set --brand ACME --require-confirmed true
/// --consent-lifetime 24mo`; `sendfilter policy --store DIR show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the policy as JSON.
    Show,
    /// Change a brand's policy (settings not given are kept).
    Set {
        /// The brand.
        #[arg(long, value_parser = super::brand_arg)]
        brand: String,
        /// Require confirmed (double opt-in) consents for this brand.
        #[arg(long, value_name = "BOOL")]
        require_confirmed: Option<bool>,
        /// Lifetime of consents without expires_at, in calendar months or years (`24mo`,
        /// `2y`), or `none`.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        consent_lifetime: Option<Lifetime>,
        /// Soft opt-in: a customer informed later than this after the relationship began
        /// was not informed at collection (SOFT_OPT_IN_NOT_INFORMED). Days (`7d`, `0d`,
        /// up to 365d) or weeks (`2w`); `default` goes back to 7 days.
        #[arg(long, value_name = "DAYS", value_parser = parse_grace)]
        informed_grace: Option<Grace>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Lifetime(Option<u32>);

fn parse_lifetime(s: &str) -> Result<Lifetime, String> {
    if s == "none" {
        return Ok(Lifetime(None));
    }
    let d = sendfilter::duration::parse(s)?;
    match d.months() {
        Some(m) if (1..=MAX_MONTHS).contains(&m) => Ok(Lifetime(Some(m))),
        Some(_) => Err(format!("{d} is longer than the {MAX_MONTHS} months allowed")),
        None => Err(format!(
            "{d}: a consent lifetime is calendar months or years, such as 24mo or 2y (or none)"
        )),
    }
}

#[derive(Clone, Copy, Debug)]
struct Grace(Option<u32>);

fn parse_grace(s: &str) -> Result<Grace, String> {
    use sendfilter::duration::Unit;
    if s == "default" {
        return Ok(Grace(None));
    }
    let err =
        || format!("use a number of days such as 7d (0d to {MAX_GRACE_DAYS}d), 2w, or default");
    // No grace at all is a valid policy (the one duration syntax refuses zero elsewhere).
    if s == "0d" || s == "0w" {
        return Ok(Grace(Some(0)));
    }
    let d = sendfilter::duration::parse(s).map_err(|e| format!("{e}; {}", err()))?;
    let days = match d.unit {
        Unit::Days => Some(d.count),
        Unit::Weeks => d.count.checked_mul(7),
        _ => None,
    };
    match days {
        Some(n) if n <= MAX_GRACE_DAYS => Ok(Grace(Some(n))),
        _ => Err(err()),
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Show => {
            let p = policy::read(&args.store)
                .with_context(|| format!("reading the policy of {}", args.store.display()))?;
            outln!("{}", serde_json::to_string_pretty(&p)?)?;
        }
        Action::Set { brand, require_confirmed, consent_lifetime, informed_grace } => {
            anyhow::ensure!(!brand.is_empty() && brand != "*", "--brand must name one brand");
            // The store's lock serialises policy writers with each other.
            let store = super::open::open_store(&args.store, false, None)?;
            let mut p = policy::read(store.dir())
                .with_context(|| format!("reading the policy of {}", args.store.display()))?;
            let entry = p.brands.entry(brand.clone()).or_default();
            if let Some(r) = require_confirmed {
                entry.require_confirmed = r;
            }
            if let Some(Lifetime(l)) = consent_lifetime {
                entry.consent_lifetime_months = l;
            }
            if let Some(Grace(g)) = informed_grace {
                entry.informed_grace_days = g;
            }
            policy::write(&store, &p)
                .with_context(|| format!("writing the policy of {}", args.store.display()))?;
            eprintln!(
                "sendfilter: policy for {brand:?}: {}",
                serde_json::to_string(&p.brand(&brand))?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action as Does;
        match self.action {
            Action::Show => (&self.store, Does::Inspect, "policy show"),
            Action::Set { .. } => (&self.store, Does::Configure, "policy set"),
        }
    }
}
