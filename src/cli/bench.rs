//! `sendfilter bench`: the ops harness. Generates a synthetic store and campaign, then
//! measures import, compaction, snapshot open and every filter format in one run.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, ensure};
use sendfilter::filter::{FilterOptions, Format, RunOptions, Sinks, run_with};
use sendfilter::phone::{Region, Regions};
use sendfilter::sms::{Footer, default_template};
use sendfilter::store::import::{self, ImportOptions, Kind};
use sendfilter::store::{Store, StoreView, open_view};
use sendfilter::{synth, timefmt};

/// Measure sendfilter on synthetic data of a given size, in-process.
///
/// Generates a campaign of N recipients (Nordic mobiles, as shared/bench/gen_data.py),
/// N/10 stops and N/2 consents; imports them into a fresh store in a temporary directory,
/// compacts, opens the snapshot, and filters the campaign as clean lines, messy lines
/// (region NO,SE), CSV with footer stamping and JSON lines. Every format must allow exactly
/// the expected recipients, or the bench fails. A naive two-HashSet filter runs on the same
/// clean lines as a baseline. Output is written to a null sink: the figures are the
/// library's, without pipe I/O (use benches/compare.sh for whole-process figures).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipients in the campaign.
    #[arg(long, default_value_t = 1_000_000)]
    recipients: u64,
    /// Seed for the generator (same seed, same data).
    #[arg(long, default_value_t = 20240601)]
    seed: u64,
    /// Worker threads for filtering (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Runs per format; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep the generated store in this directory instead of a temporary one. It must be
    /// new or empty; an existing store is refused.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// One measured step.
struct Row {
    name: &'static str,
    items: u64,
    seconds: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.items as f64 / self.seconds } else { 0.0 }
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!(args.recipients >= 100, "--recipients must be at least 100");
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let say = |s: &str| {
        if !args.json {
            eprintln!("sendfilter bench: {s}");
        }
    };
    say(&format!("generating {} recipients (seed {}) ...", args.recipients, args.seed));
    let t = Instant::now();
    let data = synth::generate(args.recipients, args.seed);
    let gen_s = t.elapsed().as_secs_f64();
    let (dir, _tmp) = store_dir(args.keep.as_ref())?;
    let mut rows = build_store(&dir, &data, &say)?;
    let t = Instant::now();
    let view = open_view(&dir)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let base = run_options(args.threads)?;
    time_filters(&view, &base, &data, args.runs, &say, &mut rows)?;
    say("naive baseline (two HashSets) ...");
    rows.push(time_naive(&data, args.runs)?);
    let results = Results { rows, threads: base.threads, runs: args.runs, gen_s, open_ms };
    let mut out = std::io::stdout().lock();
    if args.json {
        results.write_json(&data, &mut out)?;
    } else {
        results.write_table(&data, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The store's directory: `--keep`'s (a new or empty directory only: never an existing
/// store, which the synthetic data would be imported into, and under sudo only where the
/// caller may create it), else one in a temporary directory, removed when the returned
/// guard is dropped.
fn store_dir(keep: Option<&PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(d) = keep {
        sendfilter::outfile::Paths::current(&[])
            .and_then(|p| p.check_new_dir("--keep", d).map_err(|e| e.reason))
            .map_err(|reason| anyhow::anyhow!("--keep {}: {reason}", d.display()))?;
        return Ok((d.clone(), None));
    }
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    Ok((tmp.path().join("store"), Some(tmp)))
}

/// Creates the store in `dir`, imports the data's stops and consents and compacts it:
/// the import and compaction steps.
fn build_store(dir: &Path, data: &synth::Dataset, say: &dyn Fn(&str)) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    say("importing stops and consents ...");
    let mut store =
        Store::open(dir).with_context(|| format!("creating store {}", dir.display()))?;
    let opts = ImportOptions { region: Region::NO, strict: true, delimiter: b',' };
    let t = Instant::now();
    import::import(&mut store, Kind::Stops, &data.stops_csv[..], opts, |_| {})?;
    import::import(&mut store, Kind::Consents, &data.consents_csv[..], opts, |_| {})?;
    rows.push(Row {
        name: "import (rows)",
        items: data.stops + data.consents,
        seconds: t.elapsed().as_secs_f64(),
    });
    say("compacting ...");
    let t = Instant::now();
    store.compact()?;
    rows.push(Row {
        name: "compact (events)",
        items: data.stops + data.consents,
        seconds: t.elapsed().as_secs_f64(),
    });
    Ok(rows)
}

/// The filter options of every case: ACME, offers, at the generator's time, with a
/// footer; `threads` workers (default: all cores).
fn run_options(threads: Option<usize>) -> anyhow::Result<RunOptions> {
    let now = timefmt::parse_rfc3339(synth::BENCH_NOW).map_err(anyhow::Error::msg)?;
    let mut filter = FilterOptions::at(now);
    filter.footer = Some(Footer::new(default_template(Region::NO), "ACME", Some("2401"))?);
    let mut base = RunOptions::new("ACME", "offers", filter);
    if let Some(t) = threads {
        ensure!(t >= 1, "--threads must be at least 1");
        base.threads = t;
    }
    Ok(base)
}

/// Filters the campaign in every format `runs` times and adds each format's median to
/// `rows`; every run must allow exactly the expected recipients.
fn time_filters(
    view: &StoreView,
    base: &RunOptions,
    data: &synth::Dataset,
    runs: usize,
    say: &dyn Fn(&str),
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let mut messy = base.clone();
    messy.filter.region = "NO,SE".parse::<Regions>()?;
    let cases: [(&'static str, RunOptions, &[u8]); 4] = [
        ("filter lines, clean", base.clone(), &data.clean),
        ("filter lines, messy", messy, &data.messy),
        ("filter csv + footer", base.clone().with_format(Format::Csv), &data.csv),
        ("filter jsonl + footer", base.clone().with_format(Format::Jsonl), &data.jsonl),
    ];
    for (name, opts, input) in cases {
        say(&format!("{name} ..."));
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut sink = std::io::sink();
            let t = Instant::now();
            let report = run_with(
                view,
                &opts,
                input,
                Sinks { output: &mut sink, rejects: None, progress: None },
            )?;
            times.push(t.elapsed().as_secs_f64());
            ensure!(
                report.counts.allowed() == data.expected_allowed,
                "{name}: allowed {} recipients, expected {}: the filter disagrees with the generator",
                report.counts.allowed(),
                data.expected_allowed
            );
        }
        rows.push(Row { name, items: data.recipients, seconds: median(&mut times) });
    }
    Ok(())
}

/// The naive baseline ([`naive`]) on the clean lines, median of `runs`.
fn time_naive(data: &synth::Dataset, runs: usize) -> anyhow::Result<Row> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let allowed = naive(data);
        times.push(t.elapsed().as_secs_f64());
        ensure!(
            allowed == data.expected_allowed,
            "baseline allowed {allowed}, expected {}",
            data.expected_allowed
        );
    }
    Ok(Row { name: "baseline: two HashSets", items: data.recipients, seconds: median(&mut times) })
}

/// What a bench measured, to print.
struct Results {
    /// The steps, the naive baseline last.
    rows: Vec<Row>,
    threads: usize,
    runs: usize,
    gen_s: f64,
    open_ms: f64,
}

impl Results {
    /// Writes the results as one JSON object.
    fn write_json(&self, data: &synth::Dataset, out: &mut dyn Write) -> anyhow::Result<()> {
        let v = serde_json::json!({
            "recipients": data.recipients, "stops": data.stops, "consents": data.consents,
            "expected_allowed": data.expected_allowed, "threads": self.threads, "runs": self.runs,
            "generate_seconds": self.gen_s, "open_ms": self.open_ms,
            "steps": self.rows.iter().map(|r| serde_json::json!({
                "name": r.name, "items": r.items, "median_seconds": r.seconds, "per_second": r.rate(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{v:#}")?;
        Ok(())
    }

    /// Writes the results as a table, filters compared with the naive baseline.
    fn write_table(&self, data: &synth::Dataset, out: &mut dyn Write) -> anyhow::Result<()> {
        let rows = &self.rows;
        let clean_rate =
            rows.iter().find(|r| r.name == "filter lines, clean").map_or(0.0, Row::rate);
        writeln!(
            out,
            "{} recipients, {} stops, {} consents; {} allowed; {} threads; median of {} runs",
            data.recipients,
            data.stops,
            data.consents,
            data.expected_allowed,
            self.threads,
            self.runs
        )?;
        writeln!(
            out,
            "{:<24} {:>12} {:>10} {:>14} {:>9}",
            "step", "items", "seconds", "items/s", "vs naive"
        )?;
        let naive_rate = rows.last().map_or(0.0, Row::rate);
        for r in rows {
            let ratio = if r.name.starts_with("filter") && naive_rate > 0.0 {
                format!("{:.1}x", r.rate() / naive_rate)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{:<24} {:>12} {:>10.3} {:>12.2} M {:>9}",
                r.name,
                r.items,
                r.seconds,
                r.rate() / 1e6,
                ratio
            )?;
        }
        writeln!(out, "{:<24} {:>12} {:>10.1} ms", "snapshot open", "", self.open_ms)?;
        writeln!(out, "clean lines: {:.1} M recipients/s", clean_rate / 1e6)?;
        Ok(())
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The obvious design: two hash sets of strings, one lookup each per recipient.
fn naive(data: &synth::Dataset) -> u64 {
    let column = |csv: &[u8]| -> HashSet<String> {
        csv.lines()
            .skip(1)
            .map_while(Result::ok)
            .filter_map(|l| l.split(',').next().map(str::to_string))
            .collect()
    };
    let stops = column(&data.stops_csv);
    let consents = column(&data.consents_csv);
    data.clean
        .lines()
        .map_while(Result::ok)
        .filter(|n| consents.contains(n.as_str()) && !stops.contains(n.as_str()))
        .count() as u64
}
