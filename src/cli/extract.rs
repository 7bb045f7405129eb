//! `sendfilter extract`: a read-only, checksummed store for one (brand, purpose).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sendfilter::store::access::Action;
use sendfilter::store::extract;

/// Write a read-only extract of the store for one brand and purpose (or check one).
///
/// The extract is a store directory holding only what `filter --brand B --purpose P`
/// reads: the brand's stops (any spelling) and those for every brand, number moves,
/// erasures, the scope's consents and their evidence, the brand's customer relationships,
/// the policy, the brand registry, the roles and the keys. `filter --store OUT` on it
/// decides exactly as on the store at the moment of the extract. It is named by the source
/// generation and journal sequence (stdout, `info`, the manifest file `EXTRACT`); events
/// after that sequence are found by `filter --recheck-since SEQ` on the store.
#[derive(Debug, clap::Args)]
#[command(after_help = "The extract refuses every write (import, stop, inbound, compact, policy, \
    brand): record in the source store and extract again. Every file is checksummed in the \
    manifest and checked whenever the extract is opened: a damaged extract is refused.\n\n\
    `sendfilter extract --verify OUT` checks an extract (every byte) and prints its manifest \
    (JSON); exit 2 when it is damaged.")]
pub struct Args {
    /// The source store directory.
    #[arg(long, value_name = "DIR", required_unless_present = "verify")]
    store: Option<PathBuf>,
    /// The brand (trimmed, Unicode NFC).
    #[arg(long, value_parser = super::brand_arg, required_unless_present = "verify")]
    brand: Option<String>,
    /// The consent purpose.
    #[arg(long, required_unless_present = "verify")]
    purpose: Option<String>,
    /// Check the extract OUT against its manifest instead of writing one.
    #[arg(long, conflicts_with_all = ["store", "brand", "purpose"])]
    verify: bool,
    /// The extract directory (new or empty; created 0700).
    #[arg(value_name = "OUT")]
    out: PathBuf,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.verify {
        let m = extract::verify(&args.out)
            .with_context(|| format!("verifying extract {}", args.out.display()))?;
        outln!("{}", serde_json::to_string_pretty(&m)?)?;
        eprintln!("sendfilter extract: {} is intact ({})", args.out.display(), m.name());
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(store), Some(brand), Some(purpose)) = (&args.store, &args.brand, &args.purpose)
    else {
        anyhow::bail!("extract needs --store, --brand and --purpose (or --verify)");
    };
    let t = Instant::now();
    let m = extract::extract(store, brand, purpose, &args.out).with_context(|| {
        format!("extracting {brand}/{purpose} from {} into {}", store.display(), args.out.display())
    })?;
    super::audit::note(|n| {
        n.brand = Some(brand.clone());
        n.purpose = Some(purpose.clone());
        n.outputs = vec![args.out.display().to_string()];
    });
    outln!("{}", m.name())?;
    eprintln!(
        "sendfilter extract: {} written: {} bytes, source generation {}, journal sequence {}, \
         {:.2} s",
        args.out.display(),
        m.bytes(),
        m.source_generation,
        m.journal_seq,
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// The store this command works on and what it does there (for the store's roles):
    /// copying out a scope's numbers is listing them. `--verify` reads only the extract.
    pub(super) fn need(&self) -> Option<(&Path, Action, &'static str)> {
        match (&self.store, self.verify) {
            (Some(store), false) => Some((store, Action::ListNumbers, "extract")),
            _ => None,
        }
    }
}
