//! Extracts: a self-contained, read-only, checksummed store for one (brand, purpose), to
//! ship where a campaign is decided away from the store (Spark executors, see
//! `integrations/spark/`).
//!
//! [`extract`] compacts the source store's snapshot and journal tail into a new snapshot
//! that keeps only what decisions for the scope read ([`CompactOptions::scope`]), writes an
//! empty journal continuing after it, copies the small files a `filter` run reads (config,
//! policy, brand registry, roles, suppression and receipt keys) and, last, a manifest
//! ([`MANIFEST`]) naming the scope, the source generation and journal sequence, and the
//! size and xxh3 of every file. The manifest is the read-only marker: [`super::Store::open`]
//! refuses a directory that has one (imports, stops, inbound, compaction, policy and brand
//! changes), and [`super::open_view`] verifies every file against it before the first
//! decision, so a damaged extract is refused rather than read.
//!
//! ```text
//! OUT/ config journal snapshot [policy brands access suppress.key receipt.key] EXTRACT
//! ```

use std::path::{Path, PathBuf};

use crate::store::compact::{self, CompactOptions};
use crate::store::durable;
use crate::store::error::io;
pub use crate::store::manifest::{
    FORMAT, FileSum, MANIFEST, Manifest, is_extract, read_manifest, verify,
};
use crate::store::manifest::{manifest_text, sum_of};
use crate::store::{CONFIG, JOURNAL, SNAPSHOT, Store, StoreError, StoreOptions, journal};

/// Files copied from the source store when present (what `filter` reads besides the
/// snapshot and journal).
const COPIED: [&str; 5] = [
    super::policy::FILE,
    super::brands::FILE,
    super::role::ACCESS_FILE,
    super::suppress::KEY_FILE,
    super::suppress::RECEIPT_KEY_FILE,
];

/// What went wrong with an extract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The output directory exists and is not empty.
    #[error("{} exists and is not empty: give a new directory for the extract", path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// The source is itself an extract.
    #[error("{} is an extract: extract from the store it was made from", path.display())]
    SourceIsExtract {
        /// The directory.
        path: PathBuf,
    },
    /// A store error (reading the source, writing the extract).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes to `out` (a new or empty directory, created 0700) an extract of the store in
/// `src` for (`brand`, `purpose`): see the module docs. Holds the source store's lock
/// while it reads (a consistent snapshot and journal tail), and writes the manifest last,
/// so an interrupted extract has none and is never mistaken for a whole one.
///
/// # Errors
/// [`ExtractError::OutputExists`], [`ExtractError::SourceIsExtract`], store errors.
pub fn extract(
    src: &Path,
    brand: &str,
    purpose: &str,
    out: &Path,
) -> Result<Manifest, ExtractError> {
    if is_extract(src) {
        return Err(ExtractError::SourceIsExtract { path: src.to_path_buf() });
    }
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ExtractError::OutputExists { path: out.to_path_buf() });
    }
    let store = Store::open_with(src, StoreOptions { create: false, ..StoreOptions::default() })?;
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .map_err(io("creating extract directory", out))?;
    let generation = store.snapshot.as_ref().map_or(0, |s| s.generation());
    let mut opts = CompactOptions {
        keyer: super::suppress::load_key(src)?,
        key_path: src.join(super::suppress::KEY_FILE),
        scope: Some((brand.to_string(), purpose.to_string())),
        ..CompactOptions::default()
    };
    let tmp = out.join("snapshot.tmp");
    let old = store.snapshot.as_deref();
    // Two passes over the same inputs (the lock is held): the first counts the numbers the
    // scope keeps, the second sizes the number table for them, not for every number of
    // the store (the table would be most of a small scope's snapshot).
    let count = compact::build_with(old, store.journal.path(), generation, &tmp, &opts)?;
    opts.number_bound = Some(count.numbers);
    let done = compact::build_with(old, store.journal.path(), generation, &tmp, &opts)?;
    {
        // SAFETY: the temp file is ours, fully written and fsynced; nobody writes it.
        let snap = unsafe { super::map_snapshot(&tmp) }?;
        snap.verify()?;
    }
    let snap_path = out.join(SNAPSHOT);
    durable::publish(&tmp, &snap_path)?;
    journal::create(&out.join(JOURNAL), done.last_seq)?;
    for name in std::iter::once(CONFIG).chain(COPIED) {
        let from = src.join(name);
        match std::fs::read(&from) {
            Ok(bytes) => durable::replace_file(&out.join(name), &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("reading", &from)(e).into()),
        }
    }
    drop(store);
    let mut files = Vec::new();
    for name in [CONFIG, JOURNAL, SNAPSHOT].into_iter().chain(COPIED) {
        let path = out.join(name);
        if path.exists() {
            files.push(sum_of(&path)?);
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        brand: brand.to_string(),
        purpose: purpose.to_string(),
        source_generation: generation,
        journal_seq: done.last_seq,
        created_at: crate::timefmt::now(),
        files,
    };
    durable::replace_file(&out.join(MANIFEST), manifest_text(&manifest).as_bytes())?;
    Ok(manifest)
}
