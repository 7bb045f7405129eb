//! `sendfilter consent --store DIR NUMBER --brand B --purpose P …`: record one consent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::store::Consent;
use sendfilter::{Region, phone};

use super::open::time_or_now;

/// Record one consent with its evidence.
///
/// Exit 0 once it is durable (fsynced). A consent lifts an earlier stop only if granted
/// AND confirmed after it; otherwise it is kept as evidence and the stop stands.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory (created if missing).
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// The phone number.
    number: String,
    /// Brand the consent is for (stored trimmed, in Unicode NFC).
    #[arg(long, value_parser = super::brand_arg)]
    brand: String,
    /// Purpose (e.g. offers).
    #[arg(long)]
    purpose: String,
    /// Channel.
    #[arg(long, default_value = "sms")]
    channel: String,
    /// When it was granted (RFC 3339); default now.
    #[arg(long)]
    granted_at: Option<String>,
    /// How it was collected (web_form, sms_keyword, store_form, double_opt_in, import, …).
    #[arg(long)]
    method: String,
    /// Id/version of the consent text shown.
    #[arg(long)]
    text_ref: String,
    /// Where it was collected.
    #[arg(long)]
    source: String,
    /// When it expires (RFC 3339).
    #[arg(long)]
    expires_at: Option<String>,
    /// When it was confirmed (RFC 3339).
    #[arg(long)]
    confirmed_at: Option<String>,
    /// Region for a national-format number (default: the store's).
    #[arg(long)]
    region: Option<Region>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut store = super::open::open_store(&args.store, true, args.region)?;
    let number = phone::normalize(args.number.as_bytes(), args.region.unwrap_or(store.region()))
        .context("NUMBER")?;
    let opt = |t: Option<&str>, what| t.map(|s| time_or_now(Some(s), what)).transpose();
    let consent = Consent {
        number,
        brand: args.brand,
        purpose: args.purpose,
        channel: args.channel.to_ascii_lowercase(),
        granted_at: time_or_now(args.granted_at.as_deref(), "granted-at")?,
        method: args.method,
        text_ref: args.text_ref,
        source: args.source,
        expires_at: opt(args.expires_at.as_deref(), "expires-at")?,
        confirmed_at: opt(args.confirmed_at.as_deref(), "confirmed-at")?,
    };
    let unlifted = store.stop_left_standing(&consent)?;
    super::audit::note_subject(&store, number, &[])?;
    super::audit::note(|n| {
        n.brand = Some(consent.brand.clone());
        n.purpose = Some(consent.purpose.clone());
    });
    let seq = store.append_consent(consent)?;
    super::audit::note(|n| n.seqs.push(seq));
    eprintln!("sendfilter: consent recorded for {} (sequence {seq})", number.masked());
    if let Some(stop) = unlifted {
        eprintln!(
            "sendfilter: note: this consent does not lift the stop of {}: not confirmed after \
             it (kept as evidence; the stop stands)",
            sendfilter::timefmt::format_rfc3339(stop)
        );
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::Record, "consent")
    }
}
