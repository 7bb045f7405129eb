//! `sendfilter info --store DIR [--json]`: counts, generation, sizes, integrity.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Show store counts, sizes, generation and integrity.
///
/// Counts: numbers, stops, consents by brand/purpose/channel; snapshot generation, last
/// journal sequence, file sizes and the result of a full integrity check.
/// Brand names held in a non-canonical spelling (untrimmed, not Unicode NFC: written by an
/// older version) are listed. Reads without the store's lock (it answers while `inbound`
/// or an import runs). Exit 0 when the store is intact, 2 when it is not: a damaged
/// snapshot, or erased numbers whose suppression key is missing or damaged.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store directory.
    #[arg(long, env = "SENDFILTER_STORE")]
    store: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Read without the store's lock: answers while `inbound` or an import holds it.
    let info = sendfilter::store::read_info(&args.store)
        .with_context(|| format!("reading store {}", args.store.display()))?;
    // An extract: its manifest (scope, source generation and sequence) and every file
    // checked against it.
    let extract = sendfilter::store::extract::is_extract(&args.store)
        .then(|| sendfilter::store::extract::verify(&args.store));
    let extract_ok = !matches!(extract, Some(Err(_)));
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut v = serde_json::to_value(&info)?;
        if let (Some(e), Some(obj)) = (&extract, v.as_object_mut()) {
            let e = match e {
                Ok(m) => serde_json::json!({ "name": m.name(), "bytes": m.bytes(), "manifest": m }),
                Err(e) => serde_json::json!({ "damaged": e.to_string() }),
            };
            obj.insert("extract".into(), e);
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "store:               {}", info.dir)?;
        writeln!(out, "region:              {}", info.region)?;
        writeln!(out, "snapshot generation: {}", info.generation)?;
        writeln!(out, "snapshot last seq:   {}", info.snapshot_last_seq)?;
        writeln!(out, "journal last seq:    {}", info.journal_last_seq)?;
        writeln!(out, "snapshot bytes:      {}", info.snapshot_bytes)?;
        writeln!(out, "journal bytes:       {}", info.journal_bytes)?;
        writeln!(out, "snapshot events:     {}", info.snapshot_events)?;
        let c = &info.snapshot_counts;
        if let Some(n) = c.get("numbers") {
            writeln!(out, "snapshot numbers:    {n}")?;
        }
        if let Some(m) = c.get("stops_by_brand").and_then(|v| v.as_object()) {
            for (b, n) in m {
                writeln!(out, "  stops {b}: {n}")?;
            }
        }
        if let Some(v) = c.get("consents").and_then(|v| v.as_array()) {
            for e in v {
                let s = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
                let n = e.get("count").and_then(|v| v.as_u64()).unwrap_or(0);
                writeln!(out, "  consents {}/{}/{}: {n}", s("brand"), s("purpose"), s("channel"))?;
            }
        }
        let t = &info.journal_tail;
        writeln!(out, "journal tail events: {} ({} stops)", t.events, t.stops)?;
        for (k, n) in &t.consents {
            writeln!(out, "  consents {k}: {n}")?;
        }
        if info.compaction_advised {
            writeln!(out, "advice:              run `sendfilter compact`")?;
        }
        if !info.non_canonical_brands.is_empty() {
            let names: Vec<String> =
                info.non_canonical_brands.iter().map(|b| format!("{b:?}")).collect();
            writeln!(
                out,
                "brand spellings:     {} not canonical (untrimmed or not Unicode NFC, from an \
                 older version): their stops still apply to the canonical brand, their \
                 consents count for no run; record those again under the canonical name",
                names.join(", ")
            )?;
        }
        match &extract {
            Some(Ok(m)) => writeln!(
                out,
                "extract:             {} (read-only; {}/{}, source generation {}, journal \
                 sequence {}, {} bytes, files intact)",
                m.name(),
                m.brand,
                m.purpose,
                m.source_generation,
                m.journal_seq,
                m.bytes()
            )?,
            Some(Err(e)) => writeln!(out, "extract:             DAMAGED: {e}")?,
            None => {}
        }
        writeln!(out, "integrity:           {}", info.integrity)?;
    }
    out.flush()?;
    Ok(if info.integrity == "ok" && extract_ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::Inspect, "info")
    }
}
