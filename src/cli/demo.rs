//! `sendfilter demo`: the main job on the bundled example data, with nothing to set up.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sendfilter::filter::{FilterOptions, Format, Routes, RunOptions, Sinks, run_with};
use sendfilter::phone::Region;
use sendfilter::sms::{Footer, default_template};
use sendfilter::store::import::{self, ImportOptions, Kind};
use sendfilter::store::{Store, open_view};
use sendfilter::timefmt;

const STOPS: &str = include_str!("../../data/example/stops.csv");
const CONSENTS: &str = include_str!("../../data/example/consents.csv");
const CAMPAIGN: &str = include_str!("../../data/example/campaign.csv");
const NOW: &str = "2026-11-01T00:00:00Z";

/// Filter the bundled example campaign against the bundled example store.
///
/// Imports data/example/stops.csv and consents.csv (embedded in the binary) into a fresh
/// store, filters data/example/campaign.csv for brand ACME, purpose offers, short code
/// 2401 (the opt-out route in Norway only: the Danish recipient cannot reply to it and is
/// rejected as NO_OPT_OUT_ROUTE), as of 2026-11-01, and prints the allowed messages (footer
/// stamped), the rejected ones with their reasons, and the run report. It shows the
/// equivalent commands.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the example store in this directory (default: a temporary one). It must be new
    /// or empty; an existing store is refused.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match args.store {
        Some(d) => {
            // A new or empty directory only: never an existing store (the example data would
            // be imported into it), and under sudo only where the caller may create it.
            sendfilter::outfile::Paths::current(&[])
                .and_then(|p| p.check_new_dir("--store", &d).map_err(|e| e.reason))
                .map_err(|reason| anyhow::anyhow!("--store {}: {reason}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().join("store")
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "# The same job with the real commands:")?;
    writeln!(out, "#   sendfilter import stops    --store STORE data/example/stops.csv")?;
    writeln!(out, "#   sendfilter import consents --store STORE data/example/consents.csv")?;
    writeln!(
        out,
        "#   sendfilter filter --store STORE --brand ACME --purpose offers --format csv \\\n\
         #       --shortcode 2401 --now {NOW} --rejects rejects.csv --report report.json \\\n\
         #       < data/example/campaign.csv\n\
         # 2401 is a Norwegian short code: the Danish number cannot reply to it and is rejected\n\
         # (NO_OPT_OUT_ROUTE). A route for Denmark, a Danish short code or an international\n\
         # number, lets it through with a Danish footer:\n\
         #   sendfilter brand add   --store STORE ACME --shortcode 2401\n\
         #   sendfilter brand route --store STORE ACME DK +4570202020"
    )?;
    let mut store =
        Store::open(&dir).with_context(|| format!("creating store {}", dir.display()))?;
    let opts = ImportOptions { region: Region::NO, strict: true, delimiter: b',' };
    let s = import::import(&mut store, Kind::Stops, STOPS.as_bytes(), opts, |_| {})?;
    let c = import::import(&mut store, Kind::Consents, CONSENTS.as_bytes(), opts, |_| {})?;
    writeln!(
        out,
        "\n# Store {}: {} stops, {} consents imported",
        dir.display(),
        s.imported,
        c.imported
    )?;
    drop(store);
    let view = open_view(&dir)?;

    let now = timefmt::parse_rfc3339(NOW).map_err(anyhow::Error::msg)?;
    let mut filter = FilterOptions::at(now);
    let footer = Footer::new(default_template(Region::NO), "ACME", Some("2401"))?;
    filter.routes = Some(std::sync::Arc::new(Routes::new(vec![(Region::NO, footer.clone())])));
    filter.footer = Some(footer);
    let opts = RunOptions::new("ACME", "offers", filter).with_format(Format::Csv);
    let (mut allowed, mut rejected) = (Vec::new(), Vec::new());
    let report = run_with(
        &view,
        &opts,
        CAMPAIGN.as_bytes(),
        Sinks { output: &mut allowed, rejects: Some(&mut rejected), progress: None },
    )?;
    writeln!(out, "\n# Allowed (to the SMS gateway, opt-out footer stamped):")?;
    out.write_all(&allowed)?;
    writeln!(out, "\n# Rejected (with the reason):")?;
    out.write_all(&rejected)?;
    writeln!(out, "\n# Report:\n{:#}", report.to_json())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
