//! `sendfilter policy --store DIR show|set`: per-brand legal settings kept in the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::policy::{self, MAX_MONTHS};

/// Show or set the store's per-brand policy: required double opt-in and a default consent
/// lifetime. Every `filter` run for the brand applies it (no flag needed).
///
/// Examples: `sendfilter policy --store DIR set --brand ACME --require-confirmed true
/// --consent-lifetime 24m`; `sendfilter policy --store DIR show`.
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
        #[arg(long)]
        brand: String,
        /// Require confirmed (double opt-in) consents for this brand.
        #[arg(long, value_name = "BOOL")]
        require_confirmed: Option<bool>,
        /// Lifetime of consents without expires_at, in calendar months (`24m` or `24`),
        /// or `none`.
        #[arg(long, value_name = "MONTHS", value_parser = parse_lifetime)]
        consent_lifetime: Option<Lifetime>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Lifetime(Option<u32>);

fn parse_lifetime(s: &str) -> Result<Lifetime, String> {
    if s == "none" {
        return Ok(Lifetime(None));
    }
    let digits = s.strip_suffix('m').unwrap_or(s);
    match digits.parse::<u32>() {
        Ok(m) if (1..=MAX_MONTHS).contains(&m) => Ok(Lifetime(Some(m))),
        _ => Err(format!("use a number of months 1..={MAX_MONTHS} such as 24m, or none")),
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
        Action::Set { brand, require_confirmed, consent_lifetime } => {
            anyhow::ensure!(!brand.is_empty() && brand != "*", "--brand must name one brand");
            // The store's lock serialises policy writers with each other.
            let store = super::stop::open_store(&args.store, false, None)?;
            let mut p = policy::read(store.dir())
                .with_context(|| format!("reading the policy of {}", args.store.display()))?;
            let entry = p.brands.entry(brand.clone()).or_default();
            if let Some(r) = require_confirmed {
                entry.require_confirmed = r;
            }
            if let Some(Lifetime(l)) = consent_lifetime {
                entry.consent_lifetime_months = l;
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
