//! `sendfilter subject {export,erase,correct,move}`: data-subject rights (GDPR).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::rights::{self, EvidenceFix};
use sendfilter::{E164, Region, phone};

/// Exercise a data subject's rights: export, correct, move, erase (GDPR art. 15–17, 20);
/// find a number's lines in decision receipts (receipt-hash).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Answer an access request (GDPR art. 15) for NUMBER on stdout: JSON for machines
    /// (every event held, the current verdict per brand and purpose, what erasure keeps,
    /// and per brand its record of processing: purposes and legal basis, categories,
    /// source, recipients, transfers, retention per category, controller, DPO,
    /// supervisory authority; the rights in --lang), or a letter for the person (--format text|html, --lang) with the data held,
    /// purposes and legal basis, source, recipients, retention, their rights and the
    /// supervisory authority, taken from the brands' records of processing.
    Export {
        #[command(flatten)]
        common: Common,
        /// json (default), text or html.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Language of the letter (or of the JSON's texts): no, sv, da, fi or en (default:
        /// the store region's).
        #[arg(long, value_enum)]
        lang: Option<rights::Lang>,
        /// Decide verdicts at this time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Erase NUMBER (and numbers linked to it by moves): consents, evidence, stops and
    /// relationships go at the compaction run now; a keyed-hash suppression entry stays.
    /// Prints the erasure receipt (JSON) on stdout.
    Erase {
        #[command(flatten)]
        common: Common,
        /// Erasure time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Only record the erasure; the data goes at the next `sendfilter compact`.
        #[arg(long)]
        no_compact: bool,
    },
    /// Correct the evidence (method, text_ref, source) of the consent recorded under
    /// journal sequence --seq (see `subject export`). Recorded as a new event.
    Correct {
        #[command(flatten)]
        common: Common,
        /// Journal sequence of the consent.
        #[arg(long)]
        seq: u64,
        /// Corrected method.
        #[arg(long)]
        method: Option<String>,
        /// Corrected consent text id/version.
        #[arg(long)]
        text_ref: Option<String>,
        /// Corrected source.
        #[arg(long)]
        source: Option<String>,
        /// Correction time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Print the hash NUMBER has in receipt files (`filter --receipts`) of this store, to
    /// find its lines there: receipts hold numbers only hashed under the store's receipt
    /// key (`DIR/receipt.key`), so this needs the store.
    ReceiptHash {
        #[command(flatten)]
        common: Common,
    },
    /// Move a person from NUMBER to NEW: NUMBER's consents and stops are copied to NEW;
    /// NUMBER keeps its stops and is stopped for every brand from now on.
    Move {
        #[command(flatten)]
        common: Common,
        /// The new number.
        new: String,
        /// Move time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
}

/// The form of an access answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// JSON, for machines.
    Json,
    /// A letter in plain text.
    Text,
    /// A letter in HTML.
    Html,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// The phone number.
    number: String,
    /// Region for a national-format number (default: the store's).
    #[arg(long)]
    region: Option<Region>,
}

fn number(s: &str, region: Region, what: &str) -> anyhow::Result<E164> {
    phone::normalize(s.as_bytes(), region).with_context(|| what.to_string())
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let c = match &args.command {
        Command::Export { common, .. }
        | Command::Erase { common, .. }
        | Command::Correct { common, .. }
        | Command::Move { common, .. }
        | Command::ReceiptHash { common } => common,
    };
    if let Command::ReceiptHash { .. } = &args.command {
        return receipt_hash(c);
    }
    let mut store = super::open::open_store(&c.store, false, None)?;
    let region = c.region.unwrap_or(store.region());
    let n = number(&c.number, region, "NUMBER")?;
    let time = |at: &Option<String>, what| super::open::time_or_now(at.as_deref(), what);
    match &args.command {
        Command::Export { at, format, lang, .. } => {
            let e = rights::export(&store, n, time(at, "at")?)?;
            super::audit::note_subject(&store, n, &e.seqs())?;
            let records = sendfilter::store::processing::read(store.dir())
                .context("reading the records of processing")?;
            let country = store.region().to_string();
            let lang = lang.unwrap_or_else(|| rights::Lang::of_country(&country));
            let form = match format {
                ExportFormat::Json => {
                    print_json(&rights::access_answer(&e, &records, &country, lang))?;
                    None
                }
                ExportFormat::Text => Some(rights::Form::Text),
                ExportFormat::Html => Some(rights::Form::Html),
            };
            if let Some(form) = form {
                let text = rights::letter(&e, &records, &country, lang, form);
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
                super::audit::note(|x| x.detail = Some(format!("{format:?} letter, {lang:?}")));
            }
        }
        Command::Erase { at, no_compact, .. } => {
            super::audit::note_subject(&store, n, &[])?;
            let r = rights::erase(&mut store, n, time(at, "at")?, !no_compact)
                .with_context(|| format!("erasing {}", n.masked()))?;
            super::audit::note(|x| {
                x.seqs.extend(r.erased.iter().map(|e| e.erase_seq));
                x.counts.insert("numbers_erased".into(), r.erased.len() as u64);
                x.counts.insert("events_dropped".into(), r.events_dropped);
            });
            print_json(&r)?;
            match r.generation {
                Some(g) => eprintln!(
                    "sendfilter: {} number(s) erased; generation {g} no longer holds them",
                    r.erased.len()
                ),
                None => eprintln!(
                    "sendfilter: erasure recorded; run `sendfilter compact` to remove the data"
                ),
            }
        }
        Command::Correct { seq, method, text_ref, source, at, .. } => {
            let fix = EvidenceFix {
                method: method.clone(),
                text_ref: text_ref.clone(),
                source: source.clone(),
            };
            super::audit::note_subject(&store, n, &[])?;
            let r = rights::rectify_consent(&mut store, n, *seq, fix, time(at, "at")?)?;
            // The correction's own sequence first: `subject export` finds its actor by it.
            super::audit::note(|x| {
                x.seqs.extend([r.seq, r.corrects]);
                x.detail = Some(
                    if r.unchanged { "identical repeat: nothing recorded" } else { "corrected" }
                        .into(),
                );
            });
            print_json(&r)?;
        }
        Command::Move { new, at, .. } => {
            let to = number(new, region, "NEW")?;
            super::audit::note_subject(&store, n, &[])?;
            let first = store.last_seq() + 1;
            let m = rights::rectify_number(&mut store, n, to, time(at, "at")?)?;
            // The copies under the new number: `audit --subject NEW` finds them by sequence.
            super::audit::note(|x| {
                x.seqs.push(m.seq);
                x.seq_range = Some([first, store.last_seq()]);
            });
            print_json(&m)?;
        }
        Command::ReceiptHash { .. } => {} // answered above, without the store's lock
    }
    Ok(ExitCode::SUCCESS)
}

/// `subject receipt-hash`: reads only the config (region) and the receipt key, no lock.
fn receipt_hash(c: &Common) -> anyhow::Result<ExitCode> {
    use sendfilter::filter::receipts::{ReceiptKey, number_hash};
    let info = sendfilter::store::read_info(&c.store)
        .with_context(|| format!("reading store {}", c.store.display()))?;
    let region = match c.region {
        Some(r) => r,
        None => info.region.parse().map_err(|e| anyhow::anyhow!("store region: {e}"))?,
    };
    let n = number(&c.number, region, "NUMBER")?;
    if let Some(r) = sendfilter::audit::existing_subject_ref(&c.store, n)? {
        super::audit::note(|x| x.subject = Some(r));
    }
    let key = ReceiptKey::load(&c.store)
        .with_context(|| format!("reading the receipt key of store {}", c.store.display()))?
        .with_context(|| {
            format!(
                "store {} has no receipt key: no `filter --receipts` has run on it (or the key \
                 was lost: restore receipt.key from a backup to find older receipts)",
                c.store.display()
            )
        })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:016x}", number_hash(&key, n))?;
    out.flush()?;
    eprintln!("sendfilter: receipt key {} (receipt files name theirs in `key=`)", key.id());
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        match &self.command {
            Command::Export { common, .. } => {
                (&common.store, Action::ExportSubject, "subject export")
            }
            Command::ReceiptHash { common } => {
                (&common.store, Action::ExportSubject, "subject receipt-hash")
            }
            Command::Erase { common, .. } => {
                (&common.store, Action::ChangeSubject, "subject erase")
            }
            Command::Correct { common, .. } => {
                (&common.store, Action::ChangeSubject, "subject correct")
            }
            Command::Move { common, .. } => (&common.store, Action::ChangeSubject, "subject move"),
        }
    }
}
