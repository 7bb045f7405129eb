//! `sendfilter processing --store DIR set|show --brand B`: records of processing (art. 30).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::processing::{self, Purpose};

/// Keep the records of processing per brand (GDPR art. 30): purposes with a plain
/// description and legal basis, categories of data, source, recipients, retention per
/// category, transfers outside the EEA, controller, DPO and country (whose supervisory
/// authority a person may complain to).
///
/// `subject export --format text|html` tells the person what the brand's record says, and
/// `purge` without --older-than applies its retention (categories `consents` and
/// `relationships`).
///
/// Example: `sendfilter processing --store DIR set --brand ACME --controller "ACME AS,
/// Oslo, privacy@acme.no" --dpo dpo@acme.no --country NO --purpose "offers=consent:Offers
/// of our own products by SMS" --category "phone number" --category consents --recipient
/// "SMS gateway (Example AS)" --retention consents=24mo --retention relationships=24mo
/// --source "sign-up in our shops and web shop"`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    #[command(subcommand)]
    action: Action,
}

// Parsed once per process: the size of the `set` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print a brand's record (or every brand's) as a document, or as JSON.
    Show {
        /// The brand (default: every brand).
        #[arg(long, value_parser = super::brand_arg)]
        brand: Option<String>,
        /// JSON instead of the document.
        #[arg(long)]
        json: bool,
    },
    /// Set a brand's record; fields not given are kept, a list option given replaces
    /// that list.
    Set {
        /// The brand.
        #[arg(long, value_parser = super::brand_arg)]
        brand: String,
        /// The controller: name and contact.
        #[arg(long)]
        controller: Option<String>,
        /// The data-protection officer's contact.
        #[arg(long)]
        dpo: Option<String>,
        /// Country of the brand: NO, SE, DK or FI.
        #[arg(long)]
        country: Option<String>,
        /// A purpose: NAME=BASIS:DESCRIPTION, BASIS one of consent, soft_opt_in, contract,
        /// legal_obligation, legitimate_interest (repeat for several).
        #[arg(long, value_parser = parse_purpose)]
        purpose: Vec<Purpose>,
        /// A category of personal data (repeat).
        #[arg(long)]
        category: Vec<String>,
        /// A recipient (repeat).
        #[arg(long)]
        recipient: Vec<String>,
        /// Retention of a category: CATEGORY=DURATION (`consents=24mo`; repeat).
        #[arg(long, value_parser = parse_retention)]
        retention: Vec<(String, String)>,
        /// A transfer outside the EEA (repeat); `none` for none.
        #[arg(long)]
        transfer: Vec<String>,
        /// Where the data comes from.
        #[arg(long)]
        source: Option<String>,
    },
}

fn parse_purpose(s: &str) -> Result<Purpose, String> {
    let err = || format!("{s:?}: expected NAME=BASIS:DESCRIPTION (offers=consent:Offers by SMS)");
    let (name, rest) = s.split_once('=').ok_or_else(err)?;
    let (basis, description) = rest.split_once(':').ok_or_else(err)?;
    let basis = basis.trim();
    if !processing::LEGAL_BASES.contains(&basis) {
        return Err(format!(
            "legal basis {basis:?}: expected one of {}",
            processing::LEGAL_BASES.join(", ")
        ));
    }
    if name.trim().is_empty() || description.trim().is_empty() {
        return Err(err());
    }
    Ok(Purpose {
        name: name.trim().into(),
        description: description.trim().into(),
        legal_basis: basis.into(),
    })
}

fn parse_retention(s: &str) -> Result<(String, String), String> {
    let (cat, d) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected CATEGORY=DURATION (consents=24mo)"))?;
    let d = d.trim();
    sendfilter::duration::parse(d)?;
    Ok((cat.trim().into(), d.into()))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = || format!("reading the records of processing of {}", args.store.display());
    match args.action {
        Action::Show { brand, json } => {
            let r = processing::read(&args.store).with_context(context)?;
            let chosen: Vec<(&String, &processing::BrandRecord)> = match &brand {
                Some(b) => {
                    let rec = r.brand(b).with_context(|| {
                        format!("no record of processing for brand {b:?}: set one first")
                    })?;
                    vec![(b, rec)]
                }
                None => r.brands.iter().collect(),
            };
            super::audit::note(|n| n.brand.clone_from(&brand));
            if json {
                let map: std::collections::BTreeMap<_, _> = chosen.into_iter().collect();
                outln!("{}", serde_json::to_string_pretty(&map)?)?;
            } else {
                for (b, rec) in chosen {
                    outln!("{}", rec.to_text(b))?;
                }
            }
        }
        Action::Set {
            brand,
            controller,
            dpo,
            country,
            purpose,
            category,
            recipient,
            retention,
            transfer,
            source,
        } => {
            let store = super::open::open_store(&args.store, false, None)?;
            let mut r = processing::read(store.dir()).with_context(context)?;
            let e = r.brands.entry(brand.clone()).or_default();
            for (field, new) in [(&mut e.controller, controller), (&mut e.dpo, dpo)]
                .into_iter()
                .chain([(&mut e.source, source)])
            {
                if let Some(v) = new {
                    *field = v;
                }
            }
            if let Some(c) = country {
                e.country = c.to_ascii_uppercase();
            }
            if !purpose.is_empty() {
                e.purposes = purpose;
            }
            if !category.is_empty() {
                e.categories = category;
            }
            if !recipient.is_empty() {
                e.recipients = recipient;
            }
            if !retention.is_empty() {
                e.retention = retention.into_iter().collect();
            }
            if !transfer.is_empty() {
                e.transfers = transfer.into_iter().filter(|t| t != "none").collect();
            }
            if let Some(p) = e.problem() {
                anyhow::bail!("brand {brand:?}: {p}");
            }
            store.set_processing(&r).with_context(|| {
                format!("writing the records of processing of {}", args.store.display())
            })?;
            super::audit::note(|n| n.brand = Some(brand.clone()));
            eprintln!("sendfilter: record of processing for {brand:?} saved");
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
            Action::Show { .. } => (&self.store, Does::Inspect, "processing show"),
            Action::Set { .. } => (&self.store, Does::Configure, "processing set"),
        }
    }
}
