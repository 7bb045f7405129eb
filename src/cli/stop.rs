//! `sendfilter stop --store DIR NUMBER`: record one opt-out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::{Region, phone};

use super::open::{open_store, time_or_now};

/// Record one opt-out (STOP).
///
/// Without --brand the stop covers every brand (`*`): the safe reading of a bare STOP.
/// Exit 0 once the stop is durable (fsynced).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory (created if missing).
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// The phone number.
    number: String,
    /// Brand the stop is for (stored trimmed, in Unicode NFC); `*` (the default) means
    /// every brand.
    #[arg(long, default_value = "*", value_parser = super::stop_brand_arg)]
    brand: String,
    /// When the person stopped (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// Region for a national-format number (default: the store's).
    #[arg(long)]
    region: Option<Region>,
    /// Test hook: append this many stops (at, at+1, …), printing each acknowledged
    /// sequence number on stdout as soon as it is durable.
    #[arg(long, hide = true, default_value_t = 1)]
    repeat: u64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut store = open_store(&args.store, true, args.region)?;
    let number = phone::normalize(args.number.as_bytes(), args.region.unwrap_or(store.region()))
        .context("NUMBER")?;
    let at = time_or_now(args.at.as_deref(), "at")?;
    let mut out = std::io::stdout().lock();
    super::audit::note_subject(&store, number, &[])?;
    super::audit::note(|n| n.brand = Some(args.brand.clone()));
    for i in 0..args.repeat {
        let seq = store.append_stop(number, &args.brand, at + i as i64)?;
        super::audit::note(|n| n.seqs.push(seq));
        if args.repeat > 1 {
            writeln!(out, "{seq}")?;
            out.flush()?;
        } else {
            eprintln!("sendfilter: stop recorded for {} (sequence {seq})", number.masked());
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
        (&self.store, Action::Stop, "stop")
    }
}
