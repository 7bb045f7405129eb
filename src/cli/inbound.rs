//! `sendfilter inbound --store DIR [--format jsonl|csv]`: honour inbound replies.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::inbound::{self, Action, Format, Options};
use sendfilter::phone::Regions;
use sendfilter::spreadsheet::{Decoded, Encoding, WINDOWS_1252, recomma};
use sendfilter::store::CompactPolicy;
use sendfilter::store::brands::Registry;

/// Honour inbound SMS replies (STOP, START, JA, HELP) read from stdin.
///
/// Each message is understood (keywords are case-, accent- and punctuation-insensitive, a
/// brand word may come before or after; free-text opt-outs such as "Meld meg av", "sluta
/// skicka", "älä lähetä" or "please remove me" are read in five languages), its stops or consents are appended to the store's
/// journal and fsynced, and only then is its output line written: a line on stdout is an
/// acknowledgement that survives kill -9. Brands, keywords and short codes come from the
/// store's brand registry (`sendfilter brand add`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Input (stdin): jsonl, one object per line with \"from\" (the person's number), \
    \"to\" (the short code or number that received it), \"text\" and \"received_at\" (RFC 3339, Unix \
    seconds or milliseconds; missing, unreadable, before 2001 or more than 5 minutes in the future: \
    the time inbound read it, and the output record says \"time_source\":\"received\"); or csv with a header naming from,to,text,received_at (any order, extra columns \
    ignored). Blank jsonl lines are skipped.\n\n\
    Output (stdout): one JSON object per message, in input order:\n  \
    {\"line\":N,\"action\":\"STOP\",\"brands\":[\"ACME\"],\"reply\":\"...\",\"reply_encoding\":\"gsm7\",\"reply_segments\":1,\"from\":\"+47*****567\",\"to\":\"2401\",\"events\":1}\n\
    action is STOP, START, CONFIRM, NO_PENDING (a JA with no pending consent), HELP, UNKNOWN, \
    REVIEW (not a command but not clearly unrelated either: it mentions the brand, messages or \
    stopping, or asks something; no event, queued with --review, and the reply says how to stop), \
    or ERROR (with a \"reason\"; the record is skipped, no event). An optional \"id\" (or \
    \"message_id\") of the gateway is echoed as \"id\" and remembered in the store: the same id \
    on the same message again (a gateway's redelivery: same from, to and text) records nothing and gets the first answer with \"repeat\":true (ids are remembered for 7 \
    days, at most the newest 200000). brands \"*\" means every brand (a \
    STOP to a number no brand is registered on). reply is the text to send back. A START, JA \
    or HELP about one brand also gives \"standing\": subscribed, pending or unsubscribed, as \
    filter would decide for that number, brand and purpose right after the message (read back \
    from the store, under the store's policy), and its reply says that standing (a START that \
    does not lift a newer STOP says the person is still not subscribed and how to subscribe). \
    Numbers are masked.\n\n\
    Durability: messages read together (up to 1024) share one journal fsync; stdout is \
    flushed after each fsync, so a line is never written before its events are durable, and a \
    slow stream gets each line as soon as its message is durable.\n\n\
    Brand rules: a brand word registered on the receiving number picks that brand; otherwise a \
    dedicated number's owner; on a shared short code a STOP without a brand word stops every \
    brand there, a START without one is UNKNOWN, a JA confirms the newest pending consent of \
    any brand there.\n\n\
    Locking: inbound holds the store's lock while it decides and records messages and releases \
    it while it waits for input, while it writes its output (a stalled reader never holds other \
    writers), and, when busy, for 5 ms every second, so import, stop, \
    consent, compact and brand run between messages (and a message arriving meanwhile waits \
    for them); what they changed is read \
    before the next message is decided (filter never waits: it reads without the lock). For a \
    busy long-running inbound use --compact-when-advised. The brand registry is read at start \
    and again after a brand command changed it.\n\n\
    Exit status: 0 all messages handled; 1 some were ERROR; 2 an error stopped the run (lines \
    already written are durable)."
)]
pub struct Args {
    /// Store directory (created if missing).
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// Input format: jsonl or csv.
    #[arg(long, default_value = "jsonl")]
    format: Format,
    /// csv: the field separator: `,` (default), `;`, `tab` or `|`.
    #[arg(long, value_name = "SEP", default_value = ",", value_parser = sendfilter::spreadsheet::parse_delimiter)]
    delimiter: u8,
    /// Text encoding of the input: utf-8 (default) or windows-1252, decoded to UTF-8
    /// before reading.
    #[arg(long, value_name = "ENCODING", default_value = "utf-8")]
    encoding: sendfilter::spreadsheet::Encoding,
    /// Region for national-format "from" numbers (default: the store's); a list such as
    /// NO,SE adds fallbacks, tried in order, as for filter. Digits-only numbers of ten or more
    /// digits that are valid with a "+" in front (46701234567) are read that way first.
    #[arg(long)]
    region: Option<Regions>,
    /// Compact the store whenever the default compaction policy advises it (a busy
    /// long-running inbound seldom waits for input, so a `compact` beside it seldom runs).
    #[arg(long)]
    compact_when_advised: bool,
    /// Append every REVIEW message (unclear: not a command, not clearly unrelated) to FILE,
    /// one JSON object per line with the number masked (created 0600; synced before the
    /// message's output line is written).
    #[arg(long, value_name = "FILE")]
    review: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut store =
        super::open::open_store(&args.store, true, args.region.as_ref().map(Regions::primary))?;
    let registry = Registry::load(&args.store)
        .with_context(|| format!("reading the brand registry of {}", args.store.display()))?;
    if registry.brands().is_empty() {
        eprintln!(
            "sendfilter inbound: warning: no brands registered (sendfilter brand add): every \
             STOP stops all brands, START is not understood"
        );
    }
    let opts = Options {
        regions: args.region.clone().unwrap_or_else(|| Regions::new(store.region(), Vec::new())),
        compact: args.compact_when_advised.then(CompactPolicy::default),
        reload_registry: true,
    };
    let mut review = match &args.review {
        Some(path) => {
            // By the rules for caller-named outputs: never into the store, never through a
            // link, with the caller's rights under sudo; appended to, never emptied.
            let paths = sendfilter::outfile::Paths::current(&[&args.store])
                .map_err(|reason| anyhow::anyhow!("checking --review: {reason}"))?;
            let file = paths.append("--review", path, sendfilter::outfile::Content::Private)?;
            Some(inbound::ReviewQueue::from_file(file))
        }
        None => None,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    anyhow::ensure!(
        args.delimiter == b',' || args.format == Format::Csv,
        "--delimiter applies to --format csv only"
    );
    // The default (UTF-8, commas) reads stdin as it is.
    let input: Box<dyn std::io::Read + Send> = match args.encoding {
        Encoding::Utf8 => Box::new(std::io::stdin()),
        Encoding::Windows1252 => Box::new(Decoded::new(std::io::stdin(), WINDOWS_1252)),
    };
    let input: Box<dyn std::io::Read + Send> = match (args.format, args.delimiter) {
        (Format::Csv, d) if d != b',' => Box::new(recomma(input, d)),
        _ => input,
    };
    let before = store.last_seq();
    let summary = inbound::run_queued(
        &mut store,
        &registry,
        input,
        args.format,
        &mut out,
        review.as_mut(),
        &opts,
    )
    .context("handling inbound messages")?;
    out.flush()?;
    eprintln!("sendfilter inbound: {}", summary.line());
    let after = store.last_seq();
    super::audit::note(|n| {
        // Other writers may append between messages: the range can hold their events too.
        if after > before {
            n.seq_range = Some([before + 1, after]);
        }
        n.counts.insert("events".into(), after - before);
        n.outputs = args.review.iter().map(|p| p.display().to_string()).collect();
    });
    let unclear = summary.count(Action::Review);
    if unclear > 0 && args.review.is_none() {
        eprintln!(
            "sendfilter inbound: warning: {unclear} messages need a human look (REVIEW); pass \
             --review FILE to queue them"
        );
    }
    Ok(if summary.count(Action::Error) > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::Record, "inbound")
    }
}
