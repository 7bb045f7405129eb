//! The consent store: a durable journal of stop and consent events, folded into an
//! immutable, checksummed, memory-mapped snapshot by compaction.
//!
//! ```text
//! Store::append / Batch::commit ──▶ journal (record + xxh3, fsync = acknowledged)
//!                                      │
//! Store::compact ── old snapshot + journal tail ──▶ snapshot.tmp (fsync)
//!                   ──rename──▶ snapshot (fsync dir) ──▶ journal rotated (temp, fsync, rename)
//!
//! Store::view() ──▶ StoreView = Arc<snapshot> + overlay (journal tail folded in memory)
//!                   implements StandingSource for the filter
//! ```
//! A crash at any point leaves a consistent store: the snapshot's last sequence says
//! which journal records are already folded, and open skips them (and finishes an
//! interrupted journal rotation).
//!
//! ## Ways in
//! * [`Store::open`]: the writer (appends, imports, compaction). Takes an exclusive lock.
//! * [`open_view`]: a lock-free read view for a filter run: maps the snapshot, verifies
//!   its hot part, folds the journal tail. Never waits for a writer.
//! * [`Store::view`]: a read view from an open writer (e.g. a service that also appends).
//!
//! Fast: `StoreView::standing` is one xxh3 hash and, usually, one cache line of a flat
//! table in the mapped snapshot (plus a hash-map lookup while the journal tail is
//! non-empty: compact after large imports; plus, for a number holding a consent while
//! the store has erased numbers, one SipHash and a binary search of the small
//! suppression set, about 20–30 ns). Not fast: evidence lookups read the journal
//! tail from disk; `info` checksums the whole snapshot.
//!
//! ## Quirks
//! * Times are stored as `u32` seconds: events before 1970-01-01T00:00:01Z or after
//!   2106 are refused.
//! * A batch (an import) is all or nothing, also across a crash: its records carry a
//!   "batch continues" flag that the commit clears on the last one before the final
//!   fsync; an uncommitted batch is a torn tail, cut at open and invisible to readers.
//!   A batch whose last record was already written out costs two fsyncs.
//!
//! Directory layout: `config` (region, checksummed), `journal`, `snapshot`, `LOCK`, and
//! after the first erasure `suppress.key` (see [`suppress`], [`crate::rights`]); with
//! roles, `access`; `audit` and `audit.idx`, the audit trail (see [`crate::audit`]);
//! `processing`, the records of processing ([`processing`]).
//! The directory is created 0700 and every file 0600. One process at a time opens a
//! store (an exclusive `flock` on `LOCK`); others wait.
//!
//! ```
//! use sendfilter::store::Store;
//! use sendfilter::{E164, StandingSource};
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path())?;
//! let n = E164::from_u64(4791234567).unwrap();
//! store.append_stop(n, "ACME", 1_700_000_000)?;
//! let view = store.view()?;
//! let scope = view.scope("ACME", "offers");
//! assert_eq!(view.standing(&scope, n).stopped_at, Some(1_700_000_000));
//! store.compact()?;
//! let view = store.view()?;
//! assert_eq!(view.standing(&view.scope("ACME", "offers"), n).stopped_at, Some(1_700_000_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod access;
pub mod brands;
pub mod compact;
pub mod dirmode;
pub(crate) mod durable;
pub mod error;
pub mod event;
pub mod expiring;
pub mod extract;
pub mod import;
pub mod journal;
pub mod live;
pub mod manifest;
pub mod pages;
pub mod policy;
pub mod processing;
pub mod recheck;
pub mod retention;
mod role;
pub mod scrub;
mod sealed;
pub mod snapshot;
pub mod sorted_runs;
pub mod suppress;
mod view;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod relationship_tests;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use memmap2::Mmap;

pub use self::compact::{CompactOptions, CompactPolicy, Compacted};
use self::error::io;
pub use self::error::{Corruption, Field, Invalid, StoreError};
pub use self::event::{Consent, Correction, Erase, Event, EventRef, Move, Recorded, Stop};
use self::journal::Journal;
pub use self::journal::TornTail;
pub use self::snapshot::{Snapshot, map_snapshot};
pub(crate) use self::view::event_of;
pub use self::view::{BrandStops, Overlay, StoreView, ViewScope};
use crate::phone::{E164, Region};
use crate::standing::Timestamp;

const JOURNAL: &str = "journal";
const SNAPSHOT: &str = "snapshot";
const CONFIG: &str = "config";
const LOCK: &str = "LOCK";

/// How to open a store.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Create the directory and files when missing.
    pub create: bool,
    /// Default region recorded when the store is created (otherwise `NO`).
    pub region: Option<Region>,
    /// Wait for another process holding the store (true), or fail at once with
    /// [`StoreError::Locked`] (false).
    pub wait: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { create: true, region: None, wait: true }
    }
}

/// What opening found (beyond errors): a torn tail that was cut, the journal tail size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// A torn journal tail (crash mid-append) that was truncated.
    pub torn_tail: Option<TornTail>,
    /// Whether an interrupted journal rotation was finished.
    pub rotated: bool,
}

/// An open consent store (holds the store's lock until dropped).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    _lock: File,
    region: Region,
    journal: Journal,
    snapshot: Option<Arc<Snapshot<Mmap>>>,
    overlay: Mutex<Option<Arc<Overlay>>>,
    report: OpenReport,
}

/// A test hook: when `SENDFILTER_FAILPOINT` names this point, the process aborts here,
/// as a crash would. Used by the crash tests around each durable step of compaction.
fn failpoint(name: &str) {
    if std::env::var_os("SENDFILTER_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

fn lock(path: &Path, wait: bool) -> Result<File, StoreError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io("opening lock file", path))?;
    // An advisory whole-file lock (flock on Linux), released when `f` closes.
    let locked = if wait { f.lock().map_err(std::fs::TryLockError::Error) } else { f.try_lock() };
    match locked {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked { path: path.to_path_buf() })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io("locking", path)(e)),
    }
}

fn config_text(region: Region) -> String {
    let body = format!("sendfilter-store 1\nregion {}\n", region.as_str());
    let sum = xxhash_rust::xxh3::xxh3_64(body.as_bytes());
    format!("{body}check {sum:016x}\n")
}

fn read_config(path: &Path) -> Result<Region, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    let bad = |reason: &str| StoreError::Config { path: path.into(), reason: reason.into() };
    let region = text
        .lines()
        .find_map(|l| l.strip_prefix("region "))
        .ok_or_else(|| bad("no region line"))?
        .parse::<Region>()
        .map_err(|_| bad("bad region"))?;
    if config_text(region) != text {
        return Err(bad("checksum or format mismatch; rewrite it with the default region"));
    }
    Ok(region)
}

/// Opens a read-only view of the store in `dir` without taking the store's lock: what a
/// filter run uses, so it never waits for (nor blocks) an import or a compaction.
///
/// The snapshot is mapped and its hot part verified; the journal tail after it is folded
/// into the view. A torn tail (an append in progress) is read up to its last whole
/// record and left alone. A compaction publishing at the same moment is retried.
///
/// # Errors
/// [`StoreError::NoStore`], corruption (naming file and offset), I/O errors.
///
/// ```
/// use sendfilter::StandingSource;
/// let dir = tempfile::tempdir()?;
/// let mut store = sendfilter::Store::open(dir.path())?;
/// let n = sendfilter::E164::from_u64(4791234567).unwrap();
/// store.append_stop(n, "*", 1_700_000_000)?;
/// let view = sendfilter::store::open_view(dir.path())?;
/// assert!(view.standing(&view.scope("ACME", "offers"), n).stopped_at.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_view(dir: impl AsRef<Path>) -> Result<StoreView, StoreError> {
    let dir = dir.as_ref();
    if manifest::is_extract(dir) {
        // Shipped elsewhere: every byte checked before the first decision.
        manifest::verify(dir)?;
    }
    let (snapshot, overlay, seq) = read_unlocked(dir, |o: &mut Overlay, seq, ev| o.apply(seq, ev))?;
    StoreView::new(snapshot.map(Arc::new), Arc::new(overlay), seq).with_suppression(dir)
}

/// The snapshot (mapped, hot part verified) and the journal's events after it folded into a
/// `T` with `fold`, read without the store's lock, and the last sequence seen. A compaction
/// that rotates the journal between the two reads is retried; a directory without a store
/// is [`StoreError::NoStore`].
fn read_unlocked<T: Default>(
    dir: &Path,
    mut fold: impl FnMut(&mut T, u64, EventRef<'_>),
) -> Result<(Option<Snapshot<Mmap>>, T, u64), StoreError> {
    if !dir.join(CONFIG).exists() {
        return Err(StoreError::NoStore { path: dir.to_path_buf() });
    }
    let snap_path = dir.join(SNAPSHOT);
    let jpath = dir.join(JOURNAL);
    let mut gap = None;
    for _ in 0..5 {
        let snapshot = if snap_path.exists() {
            // SAFETY: snapshots are published by rename and never modified in place.
            Some(unsafe { map_snapshot(&snap_path) }?)
        } else {
            None
        };
        let folded = snapshot.as_ref().map_or(0, |s| s.last_seq());
        let mut acc = T::default();
        let scan = match journal::scan_file_unlocked(&jpath, |seq, ev| {
            if seq > folded {
                fold(&mut acc, seq, ev);
            }
            Ok(())
        }) {
            Ok(scan) => scan,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                // Journals are replaced by rename, never removed: its events are lost.
                return Err(StoreError::JournalMissing { path: jpath });
            }
            Err(e) => return Err(e),
        };
        if scan.base_seq <= folded {
            return Ok((snapshot, acc, scan.last_seq.max(folded)));
        }
        // The journal was rotated after we read the snapshot: read both again.
        gap = Some(StoreError::JournalGap {
            path: jpath.clone(),
            journal_base: scan.base_seq,
            snapshot_seq: folded,
        });
    }
    Err(gap.unwrap_or(StoreError::NoStore { path: dir.to_path_buf() }))
}

/// [`Store::info`] without taking the store's lock, reading as [`open_view`] does: `info`
/// then answers while a long-running `inbound` or an import holds the lock.
///
/// # Errors
/// [`StoreError::NoStore`], a bad config, journal corruption, I/O errors; snapshot
/// corruption is reported in [`Info::integrity`] when the snapshot can be mapped at all.
pub fn read_info(dir: impl AsRef<Path>) -> Result<Info, StoreError> {
    let dir = dir.as_ref();
    let (snapshot, tail, last) = read_unlocked(dir, |t: &mut TailCounts, _, ev| t.add(ev))?;
    let region = read_config(&dir.join(CONFIG))?;
    let bytes = std::fs::metadata(dir.join(JOURNAL)).map_or(0, |m| m.len());
    Ok(info_of(dir, region, snapshot.as_ref(), tail, (last, bytes)))
}

/// [`Info`] from what [`Store::info`] and [`read_info`] read: `journal` is (last sequence,
/// file bytes).
fn info_of<D: AsRef<[u8]>>(
    dir: &Path,
    region: Region,
    snap: Option<&Snapshot<D>>,
    tail: TailCounts,
    journal: (u64, u64),
) -> Info {
    let mut problems = Vec::new();
    if let Some(Err(e)) = snap.map(|s| s.verify()) {
        problems.push(format!("snapshot: {e}"));
    }
    // Erased numbers are recognised only with the key: without it the store cannot filter.
    let erased = snap.map_or(0, |s| s.suppressed().len()) as u64 + tail.erasures;
    if erased > 0 {
        match suppress::load_key(dir) {
            Ok(Some(_)) => {}
            Ok(None) => problems
                .push(StoreError::KeyMissing { path: dir.join(suppress::KEY_FILE) }.to_string()),
            Err(e) => problems.push(format!("suppression key: {e}")),
        }
    }
    let integrity = if problems.is_empty() { "ok".to_string() } else { problems.join("; ") };
    let folded = snap.map_or(0, |s| s.last_seq());
    let mut odd = tail.non_canonical_brands.clone();
    if let Some(stats) =
        snap.and_then(|s| serde_json::from_slice::<serde_json::Value>(s.stats_json()).ok())
    {
        let keys = |k: &str| {
            stats.get(k).and_then(|v| v.as_object()).into_iter().flat_map(|m| m.keys().cloned())
        };
        let consents = stats.get("consents").and_then(|v| v.as_array()).into_iter().flatten();
        let names = keys("stops_by_brand")
            .chain(keys("relationships_by_brand"))
            .chain(consents.filter_map(|c| c.get("brand")?.as_str().map(str::to_string)))
            .collect::<Vec<_>>();
        odd.extend(
            names
                .into_iter()
                .filter(|b| b != crate::brand::EVERY_BRAND && !crate::brand::is_canonical(b)),
        );
    }
    Info {
        dir: dir.display().to_string(),
        region: region.as_str().to_string(),
        generation: snap.map_or(0, |s| s.generation()),
        snapshot_last_seq: folded,
        journal_last_seq: journal.0,
        snapshot_bytes: snap.map_or(0, |s| s.len()),
        journal_bytes: journal.1,
        snapshot_events: snap.map_or(0, |s| s.evidence_len() as u64),
        snapshot_counts: snap
            .and_then(|s| serde_json::from_slice(s.stats_json()).ok())
            .unwrap_or(serde_json::Value::Null),
        scopes: snap.map_or_else(Vec::new, |s| {
            s.scopes()
                .into_iter()
                .map(|s| InfoScope { brand: s.brand, purpose: s.purpose, numbers: s.entries })
                .collect()
        }),
        // A pending erasure is only complete once compacted.
        compaction_advised: tail.erasures > 0
            || CompactPolicy::default()
                .should_compact(snap.map_or(0, |s| s.evidence_len() as u64), tail.events),
        journal_tail: tail,
        non_canonical_brands: odd.into_iter().collect(),
        integrity,
    }
}

impl Store {
    /// Opens the store in `dir`, creating it (region `NO`) if missing.
    ///
    /// # Errors
    /// Corruption of the journal or snapshot (naming file and offset), I/O errors.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens the store in `dir` with `opts`.
    ///
    /// The whole snapshot is checksummed (evidence included; [`open_view`] checks only
    /// the tables, for speed). A torn journal tail is cut and reported in
    /// [`Store::open_report`]. A damaged snapshot or a damaged journal record followed by
    /// valid ones is an error: the store refuses to serve rather than answer wrongly.
    ///
    /// # Errors
    /// [`StoreError::NoStore`] when missing and `create` is false; corruption; I/O errors.
    pub fn open_with(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if manifest::is_extract(&dir) {
            return Err(StoreError::ReadOnlyExtract { path: dir });
        }
        if !dir.join(CONFIG).exists() {
            if !opts.create {
                return Err(StoreError::NoStore { path: dir });
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("creating store directory", &dir))?;
            // Make the new directory's entry durable before anything in it is acknowledged.
            durable::sync_dir(&dir)?;
        }
        let lock = lock(&dir.join(LOCK), opts.wait)?;
        Store::open_locked(dir, opts, lock, None)
    }

    /// The rest of [`Store::open_with`], with the store's lock held through `lock`; `reuse`
    /// is the snapshot already mapped and verified when the file is known to be the same.
    fn open_locked(
        dir: PathBuf,
        opts: StoreOptions,
        lock: File,
        reuse: Option<Arc<Snapshot<Mmap>>>,
    ) -> Result<Store, StoreError> {
        let config = dir.join(CONFIG);
        let jpath = dir.join(JOURNAL);
        let region = if config.exists() {
            read_config(&config)?
        } else {
            // A new store: the journal first, so that every store with a config has one (a
            // missing journal is then always a lost one).
            if !jpath.exists() {
                journal::create(&jpath, 0)?;
            }
            let region = opts.region.unwrap_or(Region::NO);
            durable::replace_file(&config, config_text(region).as_bytes())?;
            region
        };
        // Leftovers of an interrupted compaction or rotation are never used.
        for tmp in [
            "snapshot.tmp",
            "journal.tmp",
            "config.tmp",
            "policy.tmp",
            "brands.tmp",
            "access.tmp",
            "suppress.key.tmp",
        ] {
            let _ = std::fs::remove_file(dir.join(tmp));
        }
        // Sorted runs of a compaction that crashed (see `sorted_runs`).
        let run_prefix = format!("snapshot.tmp{}", sorted_runs::RUN_SUFFIX);
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(&run_prefix)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let snap_path = dir.join(SNAPSHOT);
        let snapshot = if reuse.is_some() {
            reuse
        } else if snap_path.exists() {
            // SAFETY: snapshots are published by rename and never modified in place.
            let snap = unsafe { map_snapshot(&snap_path) }?;
            // The writer checks the evidence too (compaction and evidence lookups read it);
            // the lock-free `open_view` of a filter run checks only what it reads.
            snap.verify()?;
            Some(Arc::new(snap))
        } else {
            None
        };
        let folded = snapshot.as_ref().map_or(0, |s| s.last_seq());
        let mut report = OpenReport::default();
        if !jpath.exists() {
            return Err(StoreError::JournalMissing { path: jpath });
        }
        let mut scan = journal::scan_file(&jpath, |_, _| Ok(()))?;
        if scan.base_seq > folded {
            return Err(StoreError::JournalGap {
                path: jpath,
                journal_base: scan.base_seq,
                snapshot_seq: folded,
            });
        }
        if scan.last_seq <= folded && scan.base_seq < folded {
            // Everything in the journal is folded: finish the rotation compaction started.
            journal::create(&jpath, folded)?;
            scan = journal::scan_file(&jpath, |_, _| Ok(()))?;
            report.rotated = true;
        }
        report.torn_tail = scan.torn.clone();
        let journal = Journal::open_at(&jpath, &scan)?;
        Ok(Store { dir, _lock: lock, region, journal, snapshot, overlay: Mutex::new(None), report })
    }

    /// Runs `f` with the store's lock released, then takes the lock again (waiting for
    /// whoever holds it) and picks up what other writers did meanwhile: events they
    /// appended, a compaction's new snapshot and journal. Returns `f`'s value and whether
    /// the store changed (state derived from it, such as caches, must then be rebuilt).
    ///
    /// For a long-running writer that spends most of its time waiting for input (such as
    /// `inbound`): while it waits, `import`, `stop`, `compact` and the rest can run.
    /// Everything this store appended is durable before the lock is released (appends are
    /// synced when they return).
    ///
    /// # Errors
    /// I/O errors releasing or taking the lock; reopening errors (corruption) after a
    /// change. On an error (or if `f` panics) the store must not be used any further: it
    /// may no longer hold the lock.
    pub fn unlocked<T>(&mut self, f: impl FnOnce() -> T) -> Result<(T, bool), StoreError> {
        let path = self.dir.join(LOCK);
        let before = self.disk_identity()?;
        self._lock.unlock().map_err(io("locking", &path))?;
        let t = f();
        self._lock.lock().map_err(io("locking", &path))?;
        let after = self.disk_identity()?;
        if after == before {
            return Ok((t, false));
        }
        // The same snapshot file (snapshots are never modified in place): keep the mapping
        // and skip verifying it again; only the journal is read afresh.
        let reuse = self.snapshot.clone().filter(|_| after[3..] == before[3..] && after[4] != 0);
        // The lock belongs to the open file description, which the clone shares: it stays
        // held when the old store (and its descriptor) is dropped below.
        let lock = self._lock.try_clone().map_err(io("duplicating the lock of", &path))?;
        let opts = StoreOptions { create: false, region: None, wait: true };
        *self = Store::open_locked(self.dir.clone(), opts, lock, reuse)?;
        Ok((t, true))
    }

    /// What tells that another writer changed the store: the journal's identity and length
    /// and the snapshot's identity.
    fn disk_identity(&self) -> Result<[u64; 5], StoreError> {
        use std::os::unix::fs::MetadataExt;
        let jpath = self.dir.join(JOURNAL);
        let j = std::fs::metadata(&jpath).map_err(io("reading metadata of", &jpath))?;
        let spath = self.dir.join(SNAPSHOT);
        let (sd, si) = match std::fs::metadata(&spath) {
            Ok(m) => (m.dev(), m.ino()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(e) => return Err(io("reading metadata of", &spath)(e)),
        };
        Ok([j.dev(), j.ino(), j.len(), sd, si])
    }

    /// What opening found (a torn tail that was cut, a finished rotation).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The journal file (for readers that scan it, e.g. `inbound`'s consent cache).
    pub fn journal_path(&self) -> &Path {
        self.journal.path()
    }

    /// The store's default region for national-format numbers.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The current snapshot, if any compaction has run.
    pub fn snapshot(&self) -> Option<Arc<Snapshot<Mmap>>> {
        self.snapshot.clone()
    }

    /// Whether [`CompactPolicy::default`] advises compacting now (journal tail large
    /// relative to the snapshot).
    pub fn compaction_advised(&self) -> bool {
        self.compaction_advised_by(&CompactPolicy::default())
    }

    /// Whether `policy` advises compacting now: the journal tail (events after the
    /// snapshot) against the snapshot's event count.
    pub fn compaction_advised_by(&self, policy: &CompactPolicy) -> bool {
        let snap = self.snapshot.as_ref();
        let tail = self.journal.last_seq() - snap.map_or(0, |s| s.last_seq());
        policy.should_compact(snap.map_or(0, |s| s.evidence_len() as u64), tail)
    }

    /// Sequence number of the last acknowledged event (0 for none).
    pub fn last_seq(&self) -> u64 {
        self.journal.last_seq()
    }

    /// Appends one event and fsyncs; returns its sequence number once durable.
    ///
    /// # Errors
    /// [`StoreError::InvalidEvent`] (nothing written), I/O errors (not acknowledged).
    pub fn append(&mut self, event: &Event) -> Result<u64, StoreError> {
        let mut b = self.batch();
        b.push(event)?;
        b.commit()
    }

    /// Appends a stop of `number` for `brand` (`*` = every brand) at `at`.
    ///
    /// # Errors
    /// As [`Store::append`].
    pub fn append_stop(
        &mut self,
        number: E164,
        brand: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.append(&Event::Stop(Stop { number, brand: brand.to_string(), stopped_at: at }))
    }

    /// Appends a consent with its evidence.
    ///
    /// # Errors
    /// As [`Store::append`].
    pub fn append_consent(&mut self, consent: Consent) -> Result<u64, StoreError> {
        self.append(&Event::Consent(consent))
    }

    /// Starts a batch: many events, one fsync at [`Batch::commit`]. Dropping the batch
    /// without committing removes its records.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch { store: self, events: Vec::new(), large: false }
    }

    /// Calls `f` for every journal event after the snapshot (the tail compaction has not
    /// folded yet) whose sequence number is at most `up_to`, in journal order: the one
    /// place that knows which journal records the snapshot already holds.
    ///
    /// # Errors
    /// Journal corruption or I/O errors, and the first error of `f`.
    pub fn scan_tail(
        &self,
        up_to: u64,
        mut f: impl FnMut(u64, EventRef<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let folded = self.snapshot.as_ref().map_or(0, |s| s.last_seq());
        journal::scan_file(self.journal.path(), |seq, ev| {
            if seq > folded && seq <= up_to { f(seq, ev) } else { Ok(()) }
        })
        .map(|_| ())
    }

    fn overlay(&self) -> Result<Arc<Overlay>, StoreError> {
        let mut guard = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = guard.as_ref() {
            return Ok(o.clone());
        }
        let mut o = Overlay::default();
        // What was committed: inside a batch ([`Batch::committed_view`]) the cached overlay
        // is the store before it, as its commit folds its events in (or drops the cache).
        self.scan_tail(self.journal.synced_seq(), |seq, ev| {
            o.apply(seq, ev);
            Ok(())
        })?;
        let o = Arc::new(o);
        *guard = Some(o.clone());
        Ok(o)
    }

    /// A cheap, consistent read view (snapshot + journal tail) implementing
    /// [`crate::StandingSource`]; share it across threads. Later appends are not visible
    /// in it; take a new view.
    ///
    /// # Errors
    /// Journal I/O or corruption while folding the journal tail (first call after a
    /// large batch only).
    pub fn view(&self) -> Result<StoreView, StoreError> {
        StoreView::new(self.snapshot.clone(), self.overlay()?, self.journal.synced_seq())
            .with_suppression(&self.dir)
    }

    /// Folds the journal into a new snapshot generation and rotates the journal.
    ///
    /// Order of durable steps: new snapshot written to `snapshot.tmp`, fsynced and fully
    /// verified; renamed over `snapshot`; directory fsynced; then a fresh journal starting
    /// after the snapshot's last sequence replaces the old one (temp, fsync, rename,
    /// fsync). A crash before the rename leaves the old generation; a crash after it is
    /// finished at the next open. Views holding the old snapshot keep reading it.
    ///
    /// # Errors
    /// Corruption found in the inputs, I/O errors; the old generation then stays.
    pub fn compact(&mut self) -> Result<Compacted, StoreError> {
        self.compact_with(CompactOptions::default())
    }

    /// Replaces the store's records of processing (see [`processing`]).
    ///
    /// # Errors
    /// [`StoreError::Config`] for an invalid record (nothing written), I/O errors.
    pub fn set_processing(&self, records: &processing::Records) -> Result<(), StoreError> {
        processing::write(&self.dir, records)
    }

    /// [`Store::compact`] with options (a retention purge, see [`crate::rights::purge`]).
    /// Erased numbers' events are always dropped (their keyed hashes are matched with the
    /// store's key file, see [`suppress`]).
    ///
    /// # Errors
    /// As [`Store::compact`]; [`StoreError::KeyMissing`] with erasures but no key file.
    pub fn compact_with(&mut self, mut opts: CompactOptions) -> Result<Compacted, StoreError> {
        if opts.keyer.is_none() {
            opts.keyer = suppress::load_key(&self.dir)?;
            opts.key_path = self.dir.join(suppress::KEY_FILE);
        }
        let generation = self.snapshot.as_ref().map_or(0, |s| s.generation()) + 1;
        let tmp = self.dir.join("snapshot.tmp");
        let done = compact::build_with(
            self.snapshot.as_deref(),
            self.journal.path(),
            generation,
            &tmp,
            &opts,
        )?;
        {
            let file = File::open(&tmp).map_err(io("opening", &tmp))?;
            snapshot::drop_cached(&file);
            // SAFETY: the temp file is ours, fully written and fsynced; nobody writes it.
            let map = unsafe { Mmap::map(&file) }.map_err(io("mapping", &tmp))?;
            // Verifying reads the file back through a huge-page mapping: the page cache
            // then holds it in 2 MiB folios, which every later run maps as huge pages.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            let mut snap = Snapshot::new(map, &tmp)?;
            // SAFETY: `map` is a shared mapping of the file.
            unsafe { snap.set_file_mapped() };
            snap.verify()?;
        }
        failpoint("compact-before-publish");
        let path = self.dir.join(SNAPSHOT);
        durable::publish(&tmp, &path)?;
        failpoint("compact-after-publish");
        // SAFETY: published by rename just now, never modified in place.
        let snap = Arc::new(unsafe { map_snapshot(&path) }?);
        let jpath = self.journal.path().to_path_buf();
        journal::create(&jpath, done.last_seq)?;
        failpoint("compact-after-rotate");
        let scan = journal::scan_file(&jpath, |_, _| Ok(()))?;
        self.journal = Journal::open_at(&jpath, &scan)?;
        self.snapshot = Some(snap);
        *self.overlay.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Overlay::default()));
        Ok(done)
    }

    /// The stop that `consent` would leave standing: an sms consent granted after the
    /// newest stop for its brand (or `*`) but not confirmed after it is kept as evidence,
    /// yet does not lift the stop. `None` when there is no such stop.
    ///
    /// # Errors
    /// As [`Store::view`].
    pub fn stop_left_standing(&self, consent: &Consent) -> Result<Option<Timestamp>, StoreError> {
        if consent.channel != "sms" {
            return Ok(None);
        }
        let view = self.view()?;
        let scope = crate::standing::StandingSource::scope(&view, &consent.brand, &consent.purpose);
        let stop =
            crate::standing::StandingSource::standing(&view, &scope, consent.number).stopped_at;
        Ok(stop.filter(|&s| consent.granted_at > s && consent.confirmed_at.is_none_or(|c| c <= s)))
    }

    /// Suppression entries the store holds: in the snapshot plus erasures in the journal
    /// tail (readable without the key).
    ///
    /// # Errors
    /// Journal I/O or corruption while folding the journal tail.
    pub fn suppression_entries(&self) -> Result<usize, StoreError> {
        let snap = self.snapshot.as_ref().map_or(0, |s| s.suppressed().len());
        Ok(snap + self.overlay()?.erasures())
    }

    /// The newest erasure of `number` (snapshot suppression list or journal tail), if it
    /// was erased. Events of the number recorded before it (`seq` below the entry's) are
    /// erased data awaiting the next compaction: they must not be used, corrected or
    /// copied, or the erased number would be written to the store again.
    ///
    /// # Errors
    /// As [`Store::view`]; [`StoreError::KeyMissing`] with erasures but no key file.
    pub fn erasure(&self, number: E164) -> Result<Option<suppress::Entry>, StoreError> {
        Ok(self.view()?.suppression().lookup(number))
    }

    /// Every event recorded for `number`, in journal order: the evidence for an access
    /// request (GDPR export).
    ///
    /// # Errors
    /// Snapshot evidence or journal corruption, I/O errors.
    pub fn evidence(&self, number: E164) -> Result<Vec<Recorded>, StoreError> {
        let mut out = Vec::new();
        if let Some(s) = &self.snapshot {
            for r in s.evidence(number.as_u64())? {
                out.push(Recorded { seq: r.seq, event: view::event_of(s, &r, number) });
            }
        }
        self.scan_tail(u64::MAX, |seq, ev| {
            if ev.mentions(number) {
                out.push(Recorded { seq, event: ev.to_owned() });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every number with events in the store whose E.164 digits start with `prefix`
    /// (`+4791`, `4791`), ascending: for audits and bulk access requests.
    ///
    /// # Errors
    /// Snapshot evidence or journal corruption, I/O errors.
    pub fn numbers_with_prefix(&self, prefix: &str) -> Result<Vec<E164>, StoreError> {
        let digits = prefix.trim().trim_start_matches('+');
        let mut out: Vec<u64> = match &self.snapshot {
            Some(s) => s.numbers_with_prefix(digits)?,
            None => Vec::new(),
        };
        self.scan_tail(u64::MAX, |_, ev| {
            let n = ev.number().map_or(0, E164::as_u64);
            if n != 0 && !digits.is_empty() && n.to_string().starts_with(digits) {
                out.push(n);
            }
            Ok(())
        })?;
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().filter_map(E164::from_u64).collect())
    }

    /// Counts, sizes and an integrity check (full snapshot checksum) for `info`.
    ///
    /// # Errors
    /// Journal corruption or I/O errors while counting the journal tail; snapshot
    /// corruption is reported in [`Info::integrity`].
    pub fn info(&self) -> Result<Info, StoreError> {
        let mut tail = TailCounts::default();
        self.scan_tail(u64::MAX, |_, ev| {
            tail.add(ev);
            Ok(())
        })?;
        let journal = (self.journal.last_seq(), self.journal.file_len());
        Ok(info_of(&self.dir, self.region, self.snapshot.as_deref(), tail, journal))
    }
}

/// Counts of journal-tail events (not yet compacted), for `info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TailCounts {
    /// Events.
    pub events: u64,
    /// Stops.
    pub stops: u64,
    /// Consents by "brand/purpose/channel".
    pub consents: std::collections::BTreeMap<String, u64>,
    /// Customer relationships (soft opt-in).
    pub relationships: u64,
    /// Erasures (applied at the next compaction).
    pub erasures: u64,
    /// Brand names in the tail that are not canonical (written by older versions; see
    /// [`Info::non_canonical_brands`]).
    #[serde(skip)]
    pub non_canonical_brands: std::collections::BTreeSet<String>,
}

impl TailCounts {
    fn add(&mut self, ev: EventRef<'_>) {
        self.events += 1;
        if let Some(b) = ev.brand()
            && b != crate::brand::EVERY_BRAND
            && !crate::brand::is_canonical(b)
        {
            self.non_canonical_brands.insert(b.to_string());
        }
        match ev {
            EventRef::Stop { .. } => self.stops += 1,
            EventRef::Consent { text: [brand, purpose, channel, ..], .. } => {
                *self.consents.entry(format!("{brand}/{purpose}/{channel}")).or_default() += 1
            }
            EventRef::Relationship { .. } => self.relationships += 1,
            EventRef::Erase { .. } => self.erasures += 1,
            EventRef::Correct { .. } | EventRef::Move { .. } => {}
        }
    }
}

/// One snapshot table in [`Info`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InfoScope {
    /// Brand.
    pub brand: String,
    /// Purpose.
    pub purpose: String,
    /// Numbers with a stop or sms consent under it.
    pub numbers: u64,
}

/// What `sendfilter info` shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Info {
    /// Store directory.
    pub dir: String,
    /// Default region.
    pub region: String,
    /// Snapshot generation (0 = none yet).
    pub generation: u64,
    /// Last journal sequence in the snapshot.
    pub snapshot_last_seq: u64,
    /// Last journal sequence acknowledged.
    pub journal_last_seq: u64,
    /// Snapshot size in bytes.
    pub snapshot_bytes: u64,
    /// Journal size in bytes.
    pub journal_bytes: u64,
    /// Events folded into the snapshot.
    pub snapshot_events: u64,
    /// Counts stored in the snapshot (numbers, stops by brand, consents by
    /// brand/purpose/channel).
    pub snapshot_counts: serde_json::Value,
    /// Snapshot tables.
    pub scopes: Vec<InfoScope>,
    /// Events in the journal after the snapshot.
    pub journal_tail: TailCounts,
    /// Whether the compaction policy advises compacting now.
    pub compaction_advised: bool,
    /// Brand names the store holds in a form that is not canonical (untrimmed, not NFC,
    /// …: written before names were canonical, see [`crate::brand`]). Their stops still
    /// apply to the canonical brand (fail safe); their consents count for no run.
    pub non_canonical_brands: Vec<String>,
    /// `ok`, or what the full checksum check and the suppression key check found.
    pub integrity: String,
}

/// A batch of appends made durable by one fsync.
#[derive(Debug)]
pub struct Batch<'a> {
    store: &'a mut Store,
    events: Vec<(u64, Event)>,
    large: bool,
}

/// Batches up to this size are folded into an in-memory overlay on commit; larger ones
/// make the overlay reload lazily from the journal (cheaper than keeping copies).
const FOLD_ON_COMMIT: usize = 65_536;

impl Batch<'_> {
    /// Validates and adds one event; returns the sequence number it will have.
    ///
    /// # Errors
    /// [`StoreError::InvalidEvent`] (the event is not added), I/O errors.
    pub fn push(&mut self, event: &Event) -> Result<u64, StoreError> {
        self.push_ref(event.as_ref())
    }

    /// Like [`Batch::push`] for a borrowed event (no copies of its text on the way).
    ///
    /// # Errors
    /// [`StoreError::InvalidEvent`] (the event is not added), I/O errors.
    pub fn push_ref(&mut self, event: EventRef<'_>) -> Result<u64, StoreError> {
        event.validate().map_err(|reason| StoreError::InvalidEvent {
            number: event.number().map_or_else(|| "(erasure)".to_string(), E164::masked),
            reason,
        })?;
        let seq = self.store.journal.push(event)?;
        if !self.large {
            if self.events.len() < FOLD_ON_COMMIT {
                self.events.push((seq, event.to_owned()));
            } else {
                self.large = true;
                self.events = Vec::new();
            }
        }
        Ok(seq)
    }

    /// Adds one event without validating it, as journals written by earlier versions may
    /// hold events that are refused today (tests of how such events are read).
    #[cfg(test)]
    pub(crate) fn push_unvalidated(&mut self, event: &Event) -> Result<u64, StoreError> {
        self.large = true;
        self.events = Vec::new();
        self.store.journal.push(event.as_ref())
    }

    /// A read view of the store as committed before this batch (its own events are not
    /// in it, committed or not): what an import checks its rows against. Taken when first
    /// needed, so a batch that never asks does not fold the journal tail.
    ///
    /// # Errors
    /// As [`Store::view`].
    pub fn committed_view(&self) -> Result<StoreView, StoreError> {
        self.store.view()
    }

    /// Number of events pushed so far.
    pub fn len(&self) -> u64 {
        self.store.journal.last_seq() - self.store.journal_synced_seq()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes and fsyncs the batch; after `Ok` every event is durable. Returns the last
    /// sequence number.
    ///
    /// # Errors
    /// I/O errors: then nothing of the batch is acknowledged (and it is rolled back).
    pub fn commit(mut self) -> Result<u64, StoreError> {
        let seq = match self.store.journal.sync() {
            Ok(s) => s,
            Err(e) => {
                let _ = self.store.journal.rollback();
                return Err(e);
            }
        };
        let mut guard = self.store.overlay.lock().unwrap_or_else(|p| p.into_inner());
        if self.large {
            *guard = None;
        } else if let Some(o) = guard.as_mut() {
            let o = Arc::make_mut(o);
            for (s, e) in &self.events {
                o.apply(*s, e.as_ref());
            }
        }
        self.events.clear();
        Ok(seq)
    }

    /// Drops everything pushed (memory and file).
    ///
    /// # Errors
    /// I/O errors while truncating the journal.
    pub fn abort(self) -> Result<(), StoreError> {
        self.store.journal.rollback()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.store.journal.has_unsynced() {
            let _ = self.store.journal.rollback();
        }
    }
}

impl Store {
    fn journal_synced_seq(&self) -> u64 {
        self.journal.synced_seq()
    }
}
