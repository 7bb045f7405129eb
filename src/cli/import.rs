//! `sendfilter import stops|consents|customers --store DIR FILE|-`: bulk CSV import.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::Region;
use sendfilter::store::import::{self, ImportOptions, Kind};

/// Import stops, consents or customer relationships from CSV into a store.
///
/// The header must name exactly these columns, in any order.
///
/// stops: number,brand,stopped_at
///
/// consents: number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at
///
/// customers: number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at
/// (relationship: purchase, subscription, membership, …; only subscription and membership
/// are lasting; informed_at empty = never informed; the newest row per number and brand
/// replaces older ones)
///
/// Times are RFC 3339; expires_at, confirmed_at, last_purchase_at, ends_at and informed_at may be empty. Bad rows are reported on stderr with their line number (numbers masked). Exit code 0:
/// every row imported and durable; 1: good rows imported and durable, bad rows reported
/// (with --strict: nothing imported); 2: error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the file holds.
    #[arg(value_enum)]
    kind: KindArg,
    /// Store directory (created if missing).
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// Region for national-format numbers (default: the store's, else NO).
    #[arg(long)]
    region: Option<Region>,
    /// Abort the whole import, writing nothing, if any row is bad.
    #[arg(long)]
    strict: bool,
    /// Field separator: `,` (default), `;` (spreadsheet exports where the decimal mark is
    /// a comma), `tab` or `|`.
    #[arg(long, value_name = "SEP", default_value = ",", value_parser = sendfilter::spreadsheet::parse_delimiter)]
    delimiter: u8,
    /// Text encoding of the file: utf-8 (default) or windows-1252 (a spreadsheet's
    /// default "CSV" export in the Nordics), decoded to UTF-8 before reading.
    #[arg(long, value_name = "ENCODING", default_value = "utf-8")]
    encoding: sendfilter::spreadsheet::Encoding,
    /// CSV file, or `-` for stdin. Not a file in a store, not a symbolic link; under sudo,
    /// only a file you may read yourself.
    #[arg(default_value = "-")]
    file: PathBuf,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KindArg {
    Stops,
    Consents,
    Customers,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut store = super::open::open_store(&args.store, true, args.region)?;
    let kind = match args.kind {
        KindArg::Stops => Kind::Stops,
        KindArg::Consents => Kind::Consents,
        KindArg::Customers => Kind::Customers,
    };
    let opts = ImportOptions {
        region: args.region.unwrap_or(store.region()),
        strict: args.strict,
        delimiter: args.delimiter,
    };
    let tty = std::io::stderr().is_terminal();
    let progress = |rows: u64| {
        if tty {
            eprint!("\rsendfilter: {rows} rows read…");
        }
    };
    let input: Box<dyn std::io::Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        // Not a store's file, not through a link; under sudo, only a file the caller may
        // read (`sendfilter::outfile`).
        let paths = sendfilter::outfile::Paths::current(&[&args.store])
            .map_err(|reason| anyhow::anyhow!("FILE {}: {reason}", args.file.display()))?;
        Box::new(paths.open_input("FILE", &args.file)?)
    };
    let input = args.encoding.reader(input);
    let before = store.last_seq();
    let r = import::import(&mut store, kind, input, opts, progress)
        .with_context(|| format!("importing {}", args.file.display()))?;
    if tty && r.rows >= 1_000_000 {
        eprintln!();
    }
    for e in &r.errors {
        eprintln!("sendfilter: bad row: {e}");
    }
    if r.bad as usize > r.errors.len() {
        eprintln!("sendfilter: … and {} more bad rows", r.bad as usize - r.errors.len());
    }
    if r.scientific_numbers > 0 {
        eprintln!(
            "sendfilter: {} of the bad rows have their number in scientific notation (like \
             4.79123E+10): a spreadsheet turned the number column into numbers and dropped \
             digits; format the column as text and export again",
            r.scientific_numbers
        );
    }
    if r.aborted {
        eprintln!("sendfilter: --strict: {} bad of {} rows; nothing imported", r.bad, r.rows);
        return Ok(ExitCode::from(1));
    }
    if r.undated_stops > 0 {
        eprintln!(
            "sendfilter: {} stops had no stopped_at: recorded at the import time",
            r.undated_stops
        );
    }
    if r.not_lifted > 0 {
        eprintln!(
            "sendfilter: {} consents did not lift an earlier stop: not confirmed after it \
             (kept as evidence; the stop stands)",
            r.not_lifted
        );
    }
    super::audit::note(|n| {
        n.counts.insert("rows".into(), r.rows);
        n.counts.insert("imported".into(), r.imported);
        n.counts.insert("bad".into(), r.bad);
        if r.imported > 0 {
            n.seq_range = Some([before + 1, r.last_seq]);
        }
    });
    // Nothing imported: the store's own last sequence (the report's is 0).
    let last = if r.imported > 0 { r.last_seq } else { store.last_seq() };
    eprintln!(
        "sendfilter: imported {} of {} rows ({} bad); last sequence {last}",
        r.imported, r.rows, r.bad
    );
    if store.compaction_advised() {
        eprintln!("sendfilter: hint: run `sendfilter compact --store {}`", args.store.display());
    }
    Ok(if r.bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        match self.kind {
            KindArg::Stops => (&self.store, Action::Stop, "import stops"),
            KindArg::Consents => (&self.store, Action::Record, "import consents"),
            KindArg::Customers => (&self.store, Action::Record, "import customers"),
        }
    }
}
