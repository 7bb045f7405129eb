//! `sendfilter brand add|set|route|list|set-reply|remove`: the store's brand registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::phone::Region;
use sendfilter::store::brands::{Brand, Language, Registry, check_route_number};

/// Manage the brand registry: brand ↔ keyword ↔ short code, purpose, reply language.
///
/// `inbound` reads it to know which brand a reply concerns; `filter` takes the opt-out
/// route per country (short code or international number) and footer language from it.
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
        /// Brand name, as used by `filter --brand` and in events (trimmed, in Unicode NFC).
        #[arg(value_parser = super::brand_arg)]
        name: String,
        /// The short code (3 to 8 digits) or E.164 number (+4570202020) receiving the
        /// brand's replies: also its opt-out route in the first --region country of a
        /// `filter` run unless `brand route` names another.
        #[arg(long, value_name = "N", value_parser = parse_route)]
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
    /// Change settings of a registered brand; what is not given is kept, reply overrides
    /// and routes included.
    Set {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Brand name.
        name: String,
        /// The short code (3 to 8 digits) or E.164 number receiving the brand's replies.
        #[arg(long, value_name = "N", value_parser = parse_route)]
        shortcode: Option<String>,
        /// The brand word people text.
        #[arg(long, value_name = "WORD")]
        keyword: Option<String>,
        /// Whether the number belongs to this brand alone.
        #[arg(long, value_name = "BOOL")]
        dedicated: Option<bool>,
        /// Consent purpose recorded by `BRAND START`.
        #[arg(long, value_name = "P")]
        purpose: Option<String>,
        /// Consent text reference recorded by `BRAND START`.
        #[arg(long, value_name = "REF")]
        consent_text_ref: Option<String>,
        /// Reply and footer language: no, sv, da, fi or en.
        #[arg(long)]
        language: Option<Language>,
    },
    /// Set (or with --clear, remove) the brand's opt-out route for one country: where
    /// people there send STOP. Short codes are national; an international number in E.164
    /// reaches every network. `filter` rejects recipients in countries without a route
    /// (NO_OPT_OUT_ROUTE). Example: `brand route --store S ACME DK +4570202020`.
    Route {
        /// Store directory.
        #[arg(long, env = "SENDFILTER_STORE")]
        store: PathBuf,
        /// Brand name.
        name: String,
        /// The country (ISO code: NO, SE, DK, FI, …).
        country: Region,
        /// The short code (3 to 8 digits) or E.164 number.
        #[arg(required_unless_present = "clear", value_parser = parse_route)]
        number: Option<String>,
        /// Footer language there: no, sv, da, fi or en (default: the country's).
        #[arg(long)]
        language: Option<Language>,
        /// Remove the country's route.
        #[arg(long, conflicts_with = "number")]
        clear: bool,
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
        #[arg(value_parser = super::brand_arg)]
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
        #[arg(value_parser = super::brand_arg)]
        name: String,
    },
}

fn parse_route(s: &str) -> Result<String, String> {
    check_route_number(s).map_err(|e| e.to_string())
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
            let mut b = Brand::new(&name, &shortcode);
            if let Some(k) = keyword {
                b.keyword = k;
            }
            b.dedicated = dedicated;
            b.purpose = purpose;
            b.consent_text_ref = consent_text_ref;
            b.language = language;
            add(&store, &name, b)?;
        }
        Command::Set {
            store,
            name,
            shortcode,
            keyword,
            dedicated,
            purpose,
            consent_text_ref,
            language,
        } => {
            let changes =
                Changes { shortcode, keyword, dedicated, purpose, consent_text_ref, language };
            set(&store, &name, changes)?;
        }
        Command::Route { store, name, country, number, language, clear } => {
            let route = if clear { None } else { number.as_deref().map(|n| (n, language)) };
            route_for(&store, &name, country, route)?;
        }
        Command::List { store, json } => list(&store, json)?,
        Command::SetReply { store, name, kind, template, clear } => {
            edit(&store, |reg| {
                reg.set_reply(&name, &kind, if clear { None } else { template.as_deref() })
            })?;
        }
        Command::Remove { store, name } => {
            edit(&store, |reg| {
                anyhow::ensure!(reg.remove(&name), "no brand named {name}");
                Ok(())
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `brand add`: registers `b`, named `name`. The store's lock is held from reading to saving:
/// concurrent edits cannot be lost.
fn add(store: &std::path::Path, name: &str, b: Brand) -> anyhow::Result<()> {
    let st = super::open::open_store(store, true, None)?;
    let mut reg = load(store)?;
    if let Err(e) = reg.add(b) {
        if reg.get(name).is_some() {
            anyhow::bail!("{e}: change it with `sendfilter brand set` (keeps its replies)");
        }
        return Err(e.into());
    }
    reg.save(&st)?;
    eprintln!("sendfilter brand: {name} registered");
    Ok(())
}

/// The settings `brand set` changes; `None`: kept.
struct Changes {
    shortcode: Option<String>,
    keyword: Option<String>,
    dedicated: Option<bool>,
    purpose: Option<String>,
    consent_text_ref: Option<String>,
    language: Option<Language>,
}

impl Changes {
    /// Applies the settings given to `b`.
    fn apply(self, b: &mut Brand) {
        if let Some(v) = self.shortcode {
            b.shortcode = v;
        }
        if let Some(v) = self.keyword {
            b.keyword = v;
        }
        if let Some(v) = self.dedicated {
            b.dedicated = v;
        }
        if let Some(v) = self.purpose {
            b.purpose = v;
        }
        if let Some(v) = self.consent_text_ref {
            b.consent_text_ref = Some(v);
        }
        if let Some(v) = self.language {
            b.language = v;
        }
    }
}

/// `brand set`: changes the settings given of brand `name`.
fn set(store: &std::path::Path, name: &str, changes: Changes) -> anyhow::Result<()> {
    edit(store, |reg| reg.update(name, |b| changes.apply(b)))?;
    eprintln!("sendfilter brand: {name} updated");
    Ok(())
}

/// `brand route`: sets (`None`: removes) brand `name`'s opt-out route for `country`.
fn route_for(
    store: &std::path::Path,
    name: &str,
    country: Region,
    route: Option<(&str, Option<Language>)>,
) -> anyhow::Result<()> {
    edit(store, |reg| reg.set_route(name, country, route))?;
    eprintln!("sendfilter brand: {name}'s opt-out route for {country} updated");
    Ok(())
}

/// Reads the registry with the store's lock held, changes it with `change`, and saves
/// it.
fn edit<E: Into<anyhow::Error>>(
    store: &std::path::Path,
    change: impl FnOnce(&mut Registry) -> Result<(), E>,
) -> anyhow::Result<()> {
    let st = super::open::open_store(store, false, None)?;
    let mut reg = load(store)?;
    change(&mut reg).map_err(Into::into)?;
    reg.save(&st)?;
    Ok(())
}

/// `brand list`: the registered brands as a table, or JSON.
fn list(store: &std::path::Path, json: bool) -> anyhow::Result<()> {
    if !store.join("config").exists() {
        anyhow::bail!("no store at {}", store.display());
    }
    let reg = load(store)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(reg.brands())?)?;
        return Ok(());
    }
    outln!(
        "name\tshortcode\tkeyword\tdedicated\tpurpose\tconsent_text_ref\tlanguage\treplies\troutes"
    )?;
    for b in reg.brands() {
        let replies: Vec<&str> = b.replies.keys().map(String::as_str).collect();
        let routes: Vec<String> = b
            .routes
            .iter()
            .map(|(c, r)| format!("{c}={}({})", r.number, r.language.as_str()))
            .collect();
        outln!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            b.name,
            b.shortcode,
            b.keyword,
            if b.dedicated { "yes" } else { "no" },
            b.purpose,
            b.consent_text_ref.as_deref().unwrap_or("-"),
            b.language.as_str(),
            if replies.is_empty() { "-".to_string() } else { replies.join(",") },
            if routes.is_empty() { "-".to_string() } else { routes.join(",") }
        )?;
    }
    Ok(())
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        match &self.command {
            Command::Add { store, .. } => (store, Action::Configure, "brand add"),
            Command::Set { store, .. } => (store, Action::Configure, "brand set"),
            Command::Route { store, .. } => (store, Action::Configure, "brand route"),
            Command::List { store, .. } => (store, Action::Inspect, "brand list"),
            Command::SetReply { store, .. } => (store, Action::Configure, "brand set-reply"),
            Command::Remove { store, .. } => (store, Action::Configure, "brand remove"),
        }
    }
}
