//! `sendfilter brand add|list|set-reply|remove`: the store's brand registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::brands::{Brand, Language, Registry};

/// Manage the brand registry: brand ↔ keyword ↔ short code, purpose, reply language.
///
/// `inbound` reads it to know which brand a reply concerns; `filter` takes its default
/// --shortcode and footer language from it.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Register a brand on a short code (or long number).
    Add {
        /// Store directory (created if missing).
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Brand name, as used by `filter --brand` and in events.
        name: String,
        /// The short code or number receiving the brand's replies.
        #[arg(long, value_name = "N")]
        shortcode: String,
        /// The brand word people text (`ACME STOPP`); default: the name.
        #[arg(long, value_name = "WORD")]
        keyword: Option<String>,
        /// The number belongs to this brand alone (a reply without brand word is for it).
        #[arg(long)]
        dedicated: bool,
        /// Consent purpose recorded by `BRAND START`.
        #[arg(long, value_name = "P", default_value = "offers")]
        purpose: String,
        /// Consent text reference recorded by `BRAND START` (the text that advertised it).
        #[arg(long, value_name = "REF")]
        consent_text_ref: Option<String>,
        /// Reply and footer language: no, sv, da, fi or en.
        #[arg(long, default_value = "no")]
        language: Language,
    },
    /// List registered brands.
    List {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Override (or with --clear, reset) one automatic reply of a brand.
    SetReply {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Brand name.
        name: String,
        /// stop, start, confirm, help or unknown.
        kind: String,
        /// Template with {brand} and {shortcode}.
        #[arg(required_unless_present = "clear")]
        template: Option<String>,
        /// Go back to the built-in reply.
        #[arg(long, conflicts_with = "template")]
        clear: bool,
    },
    /// Remove a brand.
    Remove {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Brand name.
        name: String,
    },
}

fn load(dir: &std::path::Path) -> anyhow::Result<Registry> {
    Registry::load(dir).with_context(|| format!("reading the brand registry of {}", dir.display()))
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Add {
            store,
            name,
            shortcode,
            keyword,
            dedicated,
            purpose,
            consent_text_ref,
            language,
        } => {
            // The lock is held from reading to saving: concurrent edits cannot be lost.
            let st = super::stop::open_store(&store, true, None)?;
            let mut reg = load(&store)?;
            let mut b = Brand::new(&name, &shortcode);
            if let Some(k) = keyword {
                b.keyword = k;
            }
            b.dedicated = dedicated;
            b.purpose = purpose;
            b.consent_text_ref = consent_text_ref;
            b.language = language;
            reg.add(b)?;
            reg.save(&st)?;
            eprintln!("sendfilter brand: {name} registered");
        }
        Command::List { store, json } => {
            if !store.join("config").exists() {
                anyhow::bail!("no store at {}", store.display());
            }
            let reg = load(&store)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(reg.brands())?)?;
            } else {
                outln!(
                    "name\tshortcode\tkeyword\tdedicated\tpurpose\tconsent_text_ref\tlanguage\treplies"
                )?;
                for b in reg.brands() {
                    let replies: Vec<&str> = b.replies.keys().map(String::as_str).collect();
                    outln!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        b.name,
                        b.shortcode,
                        b.keyword,
                        if b.dedicated { "yes" } else { "no" },
                        b.purpose,
                        b.consent_text_ref.as_deref().unwrap_or("-"),
                        b.language.as_str(),
                        if replies.is_empty() { "-".to_string() } else { replies.join(",") }
                    )?;
                }
            }
        }
        Command::SetReply { store, name, kind, template, clear } => {
            let st = super::stop::open_store(&store, false, None)?;
            let mut reg = load(&store)?;
            reg.set_reply(&name, &kind, if clear { None } else { template.as_deref() })?;
            reg.save(&st)?;
        }
        Command::Remove { store, name } => {
            let st = super::stop::open_store(&store, false, None)?;
            let mut reg = load(&store)?;
            anyhow::ensure!(reg.remove(&name), "no brand named {name}");
            reg.save(&st)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        match &self.command {
            Command::Add { store, .. } => (store, Action::Configure, "brand add"),
            Command::List { store, .. } => (store, Action::Inspect, "brand list"),
            Command::SetReply { store, .. } => (store, Action::Configure, "brand set-reply"),
            Command::Remove { store, .. } => (store, Action::Configure, "brand remove"),
        }
    }
}
