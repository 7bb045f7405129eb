//! `sendfilter recheck`: the last check before the gateway, for records decided on an
//! extract.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::filter::Format;
use sendfilter::phone::Regions;
use sendfilter::store::access::Action;
use sendfilter::store::recheck::Recheck;

/// Recheck allowed records against what the store recorded after a journal sequence.
///
/// Reads records `filter` allowed (from an extract: its journal sequence is in `sendfilter
/// info --store EXTRACT` and the extract's name) on stdin and writes those still allowed to
/// stdout, unchanged and in order. A record whose number was stopped for the brand or for
/// every brand, moved away or erased after --since is rejected (`STOPPED`, to --rejects);
/// one whose number no longer reads is `MALFORMED` or `INVALID_NUMBER` (fail closed). Only
/// the journal tail is read (plus the snapshot's newer evidence when a compaction folded
/// part of it since). Fail safe: every stop after the sequence counts, and a consent
/// recorded after it lifts none (run `filter` again for that).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store the extract was made from.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// The brand (as given to `filter`).
    #[arg(long, value_parser = super::brand_arg)]
    brand: String,
    /// The journal sequence the records were decided at (the extract's).
    #[arg(long, value_name = "SEQ")]
    since: u64,
    /// Record format: lines, csv or jsonl (as `filter` wrote them).
    #[arg(long, default_value = "lines")]
    format: Format,
    /// csv: the column with the number.
    #[arg(long, default_value = "number")]
    number_column: String,
    /// jsonl: the field with the number.
    #[arg(long, default_value = "to")]
    number_field: String,
    /// Region for numbers in national form (as `filter --region`).
    #[arg(long, default_value = "NO", value_name = "CC[,CC...]")]
    region: Regions,
    /// Write rejected records with their reason here (created mode 0600).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t = std::time::Instant::now();
    let check = Recheck::since(&args.store, &args.brand, args.since).with_context(|| {
        format!("reading store {} after sequence {}", args.store.display(), args.since)
    })?;
    let mut rejects = match &args.rejects {
        Some(p) => Some(std::io::BufWriter::new(private_file(p)?)),
        None => None,
    };
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let (mut kept, mut rejected) = (0u64, 0u64);
    let mut number_at: Option<usize> = None;
    for (i, line) in stdin.split(b'\n').enumerate() {
        let line = line.context("reading stdin")?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.is_empty() {
            continue;
        }
        if args.format == Format::Csv && number_at.is_none() {
            // The header: passed on, and names the number column.
            let header = csv_fields(line)?;
            number_at =
                Some(header.iter().position(|h| *h == args.number_column).with_context(|| {
                    format!("the header has no column {:?}", args.number_column)
                })?);
            out.write_all(line)?;
            out.write_all(b"\n")?;
            if let Some(r) = rejects.as_mut() {
                r.write_all(line)?;
                r.write_all(b",reason\n")?;
            }
            continue;
        }
        let reason = match number_of(&args, line, number_at) {
            None => "MALFORMED",
            Some(raw) => match args.region.normalize(raw.as_bytes()) {
                Err(_) => "INVALID_NUMBER",
                Ok(n) if check.rejects(n) => "STOPPED",
                Ok(_) => {
                    kept += 1;
                    out.write_all(line)?;
                    out.write_all(b"\n")?;
                    continue;
                }
            },
        };
        rejected += 1;
        if let Some(r) = rejects.as_mut() {
            write_reject(r, args.format, line, reason)
                .with_context(|| format!("line {}", i + 1))?;
        }
    }
    out.flush()?;
    if let Some(mut r) = rejects {
        r.flush()?;
        r.get_ref().sync_all().context("syncing --rejects")?;
    }
    eprintln!(
        "sendfilter recheck: {kept} still allowed, {rejected} rejected; {} events after \
         sequence {} read (to {}){}, {:.2} s",
        check.events,
        args.since,
        check.last_seq,
        if check.read_snapshot { ", snapshot evidence included (compacted since)" } else { "" },
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn private_file(p: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .with_context(|| format!("creating {}", p.display()))
}

fn csv_fields(line: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(line);
    let rec = r.records().next().context("an empty CSV line")?.context("reading CSV")?;
    Ok(rec.iter().map(str::to_string).collect())
}

/// The number of one record, `None` when the record does not read.
fn number_of(args: &Args, line: &[u8], number_at: Option<usize>) -> Option<String> {
    match args.format {
        Format::Lines => std::str::from_utf8(line).ok().map(|s| s.trim().to_string()),
        Format::Jsonl => {
            let v: serde_json::Value = serde_json::from_slice(line).ok()?;
            v.get(&args.number_field)?.as_str().map(str::to_string)
        }
        Format::Csv => csv_fields(line).ok()?.get(number_at?).cloned(),
    }
}

fn write_reject(
    w: &mut impl Write,
    format: Format,
    line: &[u8],
    reason: &str,
) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.insert("reason".into(), reason.into());
                serde_json::to_writer(&mut *w, &m)?;
                w.write_all(b"\n")?;
            }
            _ => {
                let rec = String::from_utf8_lossy(line);
                serde_json::to_writer(
                    &mut *w,
                    &serde_json::json!({"record": rec, "reason": reason}),
                )?;
                w.write_all(b"\n")?;
            }
        },
        Format::Csv => {
            w.write_all(line)?;
            writeln!(w, ",{reason}")?;
        }
        Format::Lines => {
            w.write_all(line)?;
            writeln!(w, "\t{reason}")?;
        }
    }
    Ok(())
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(&self) -> (&Path, Action, &'static str) {
        (&self.store, Action::Filter, "recheck")
    }
}
