//! Live stops: a running filter folds STOPs appended to the journal after it opened its
//! view, so an acknowledged opt-out is honoured without a restart.
//!
//! [`watch`] starts a thread that polls the journal file every `interval`. It remembers
//! the file's identity (device, inode), the offset just past the last committed record it
//! read and that record's sequence number; on growth it reads only the new bytes and
//! decodes them with the journal's own reader ([`journal::scan`], behind a synthesised
//! header continuing at the last sequence), so torn tails and uncommitted batches are
//! handled exactly as everywhere else. A compaction rotates the journal (new inode, new
//! `base_seq`): the new file is read from the start, and events it no longer holds (folded
//! into the new snapshot since the last poll) are taken from that snapshot's evidence.
//! An erasure folded that way took its stop with it (the snapshot keeps only a keyed hash
//! of an erased number): its suppression entry goes into the live set instead, checked by
//! hash, so `erase --compact` between two polls is honoured too.
//!
//! The stops that apply to the run's brand (the brand itself or `*`) go into a
//! [`LiveStops`] set. Deciding threads read it through [`LiveStops::current`]: one atomic
//! load while nothing arrived (the common case), then an `Arc` of an immutable map they
//! cache until the [`LiveStops::version`] changes. The version lets the ordered writer
//! find records decided before a stop arrived and decide them again.
//!
//! ```
//! use std::time::Duration;
//! use sendfilter::{E164, Store};
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path())?;
//! let view = sendfilter::store::open_view(dir.path())?;
//! let watcher = sendfilter::store::live::watch(dir.path(), "ACME", &view, Duration::from_millis(10))?;
//! let n = E164::from_u64(4791234567).unwrap();
//! store.append_stop(n, "*", 1_700_000_000)?;
//! let stops = watcher.stops();
//! let t = std::time::Instant::now();
//! while stops.version() == 0 && t.elapsed() < Duration::from_secs(5) {
//!     std::thread::sleep(Duration::from_millis(5));
//! }
//! assert_eq!(stops.current().1.get(n), Some(1_700_000_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::phone::E164;
use crate::standing::{StandingSource, Timestamp};
use crate::store::error::{StoreError, io};
use crate::store::event::{EVERY_BRAND, EventRef};
use crate::store::journal;
use crate::store::snapshot::format::{KIND_MOVE, KIND_STOP};
use crate::store::suppress::{self, Entry, Suppression};
use crate::store::{JOURNAL, SNAPSHOT, StoreView, map_snapshot};

/// The live stops of a run at one version: the newest stop per number, and the numbers
/// erased during the run whose stop the watcher could not see (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct StopMap {
    stops: HashMap<u64, Timestamp>,
    erased: Suppression,
}

impl StopMap {
    /// True when nothing arrived (deciding then skips the set entirely).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty() && self.erased.is_empty()
    }

    /// When `number` was stopped (or erased) during the run, if it was.
    #[inline]
    pub fn get(&self, number: E164) -> Option<Timestamp> {
        let stop = self.stops.get(&number.as_u64()).copied();
        if self.erased.is_empty() {
            return stop;
        }
        stop.max(self.erased.erased_at(number))
    }

    /// True when `number` was erased during the run: stopped for good, whatever consent
    /// the run's view holds (every such consent was recorded before the erasure).
    #[inline]
    pub fn erased(&self, number: E164) -> bool {
        !self.erased.is_empty() && self.erased.lookup(number).is_some()
    }
}

/// What one poll found.
#[derive(Debug, Default)]
struct Found {
    /// (number, stopped_at) of stops that apply to the run's brand.
    stops: Vec<(u64, Timestamp)>,
    /// Suppression entries of erasures folded into a new snapshot between two polls.
    erased: Vec<Entry>,
}

/// The stops that arrived while a run was going, shared between the watcher and the
/// deciding threads.
#[derive(Debug, Default)]
pub struct LiveStops {
    /// 0 while empty; raised once per fold that changed the set.
    version: AtomicU64,
    map: Mutex<(u64, Arc<StopMap>)>,
    /// The map of `map`, readable without the lock ([`LiveStops::load`]): a long-lived
    /// reader deciding on every thread must not contend on a mutex per decision.
    published: arc_swap::ArcSwap<StopMap>,
    /// Set when the watcher could not read the journal for [`GIVE_UP_AFTER`]: stops may be
    /// arriving unseen, so the run must end (fail closed).
    failed: Mutex<Option<String>>,
}

/// How long polls may keep failing (e.g. across a compaction's renames) before the
/// watcher declares the live set unreliable.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

impl LiveStops {
    /// An empty set.
    pub fn new() -> LiveStops {
        LiveStops::default()
    }

    /// The current version: 0 while no stop arrived. A reader that saw version `v` and then
    /// reads a different one knows the set changed in between.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current set with its version (the map is immutable: cache it until
    /// [`LiveStops::version`] moves).
    pub fn current(&self) -> (u64, Arc<StopMap>) {
        let g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        (g.0, Arc::clone(&g.1))
    }

    /// The current set, without taking a lock or touching a shared reference count in
    /// the common case (an `arc_swap` guard: hold it briefly, per decision or batch).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<StopMap>> {
        self.published.load()
    }

    /// Why the watcher gave up, if it did: the run must not go on deciding (stops may be
    /// arriving unseen).
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Marks the set unreliable (see [`LiveStops::failure`]).
    pub fn fail(&self, why: String) {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Folds `stops` (number, stopped_at) in; returns true when the set changed.
    pub fn fold(&self, stops: &[(u64, Timestamp)]) -> bool {
        if stops.is_empty() {
            return false;
        }
        let mut g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (*g.1).clone();
        let mut changed = false;
        for &(n, t) in stops {
            let e = next.stops.entry(n).or_insert(i64::MIN);
            if t > *e {
                *e = t;
                changed = true;
            }
        }
        if changed {
            let v = g.0 + 1;
            *g = (v, Arc::new(next));
            self.published.store(Arc::clone(&g.1));
            self.version.store(v, Ordering::Release);
        }
        changed
    }

    /// Folds erasures in (suppression entries, by keyed hash); `keyer` is the store's
    /// suppression key. Returns true when the set changed.
    ///
    /// # Errors
    /// [`StoreError::KeyMissing`] when there are entries but no key (the set is then left
    /// unchanged: the caller must fail the run, as it cannot tell whom they suppress).
    pub fn fold_erased(
        &self,
        erased: &[Entry],
        keyer: Option<suppress::Keyer>,
        key_path: &Path,
    ) -> Result<bool, StoreError> {
        if erased.is_empty() {
            return Ok(false);
        }
        let mut g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (*g.1).clone();
        let mut entries = next.erased.entries().to_vec();
        let before = entries.len();
        entries.extend(erased.iter().filter(|e| !next.erased.entries().contains(e)));
        let changed = entries.len() != before;
        next.erased = Suppression::new(keyer, entries, key_path)?;
        if changed {
            let v = g.0 + 1;
            *g = (v, Arc::new(next));
            self.published.store(Arc::clone(&g.1));
            self.version.store(v, Ordering::Release);
        }
        Ok(changed)
    }
}

/// A running journal watcher; stops its thread when dropped.
#[derive(Debug)]
pub struct Watcher {
    stops: Arc<LiveStops>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// The live set this watcher fills.
    pub fn stops(&self) -> Arc<LiveStops> {
        Arc::clone(&self.stops)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Starts watching the journal of the store in `dir` for stops of `brand` (or `*`)
/// appended after `view` was opened, polling every `interval`.
///
/// A poll that fails (a file replaced half-way, a read error) is retried at the next
/// poll. When polls keep failing for [`GIVE_UP_AFTER`], the watcher marks the set failed
/// ([`LiveStops::failure`]) and stops: the filter then ends the run with an error rather
/// than go on without seeing new stops (fail closed).
///
/// # Errors
/// I/O errors starting the thread.
pub fn watch(
    dir: &Path,
    brand: &str,
    view: &StoreView,
    interval: Duration,
) -> Result<Watcher, StoreError> {
    let stops = Arc::new(LiveStops::new());
    let quit = Arc::new(AtomicBool::new(false));
    let mut tail = Tail::new(dir, brand, view.journal_seq());
    let (s, q) = (Arc::clone(&stops), Arc::clone(&quit));
    let thread = std::thread::Builder::new()
        .name("sendfilter-live".into())
        .spawn(move || {
            let mut failing_since: Option<std::time::Instant> = None;
            while !q.load(Ordering::Acquire) {
                match tail.poll() {
                    Ok(found) => {
                        failing_since = None;
                        s.fold(&found.stops);
                        if !found.erased.is_empty() {
                            let folded = suppress::load_key(&tail.dir).and_then(|k| {
                                s.fold_erased(&found.erased, k, &tail.dir.join(suppress::KEY_FILE))
                            });
                            if let Err(e) = folded {
                                // Fail closed: erased numbers the run cannot recognise.
                                s.fail(format!(
                                    "cannot honour an erasure made during the run: {e}"
                                ));
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let since = *failing_since.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() >= GIVE_UP_AFTER {
                            s.fail(format!("cannot read the journal for new stops: {e}"));
                            return;
                        }
                    }
                }
                std::thread::park_timeout(interval);
            }
        })
        .map_err(io("starting the journal watcher for", dir))?;
    Ok(Watcher { stops, quit, thread: Some(thread) })
}

/// Where the watcher is in the journal.
struct Tail {
    dir: PathBuf,
    journal: PathBuf,
    snapshot: PathBuf,
    brand: String,
    /// Sequence of the last event seen (folded in the view or read since).
    seq: u64,
    /// (device, inode) of the journal file read last, and the offset after its last
    /// committed record; `None` until the first read.
    at: Option<((u64, u64), u64)>,
}

impl Tail {
    fn new(dir: &Path, brand: &str, seq: u64) -> Tail {
        Tail {
            dir: dir.to_path_buf(),
            journal: dir.join(JOURNAL),
            snapshot: dir.join(SNAPSHOT),
            brand: crate::brand::normalize(brand).into_owned(),
            seq,
            at: None,
        }
    }

    /// A stop for the run's brand (in any spelling: see `view::other_spelling`) or every brand.
    fn applies(&self, brand: &str) -> bool {
        brand == self.brand
            || brand == EVERY_BRAND
            || crate::store::view::other_spelling(brand, &self.brand)
    }

    /// Reads what was appended since the last poll; returns the stops that apply, and the
    /// erasures a compaction folded since.
    fn poll(&mut self) -> Result<Found, StoreError> {
        let path = self.journal.clone();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            // Also a missing journal: between a compaction's rename steps it is retried
            // (the watcher gives up only after `GIVE_UP_AFTER` of failures).
            Err(e) => return Err(io("opening", &path)(e)),
        };
        let meta = file.metadata().map_err(io("reading metadata of", &path))?;
        let id = (meta.dev(), meta.ino());
        let mut found = Found::default();
        match self.at {
            Some((known, end)) if known == id => {
                if meta.len() <= end {
                    return Ok(found);
                }
                // Only the new bytes, behind a header continuing at our sequence.
                let mut data = journal::header(self.seq).to_vec();
                file.seek(SeekFrom::Start(end)).map_err(io("seeking in", &path))?;
                file.read_to_end(&mut data).map_err(io("reading", &path))?;
                let mut seq = self.seq;
                let scan = journal::scan(&path, &data, |s, ev| {
                    seq = s;
                    self.collect(ev, &mut found.stops);
                    Ok(())
                })?;
                self.seq = seq;
                self.at = Some((id, end + scan.end - journal::HEADER_LEN as u64));
            }
            _ => {
                // First read, or a rotated journal: read it whole.
                let mut data = Vec::with_capacity(meta.len() as usize);
                file.read_to_end(&mut data).map_err(io("reading", &path))?;
                let from = self.seq;
                let mut seq = from;
                let scan = journal::scan(&path, &data, |s, ev| {
                    if s > from {
                        seq = s;
                        self.collect(ev, &mut found.stops);
                    }
                    Ok(())
                })?;
                if scan.base_seq > from {
                    // A compaction folded events we never saw into a newer snapshot.
                    self.stops_in_snapshot(from, scan.base_seq, &mut found)?;
                }
                self.seq = seq.max(scan.base_seq);
                self.at = Some((id, scan.end));
            }
        }
        Ok(found)
    }

    fn collect(&self, ev: EventRef<'_>, found: &mut Vec<(u64, Timestamp)>) {
        match ev {
            EventRef::Stop { number, brand, stopped_at } if self.applies(brand) => {
                found.push((number.as_u64(), stopped_at));
            }
            // A number that moved away is stopped for every brand (it may be reassigned).
            EventRef::Move { from, moved_at, .. } => found.push((from.as_u64(), moved_at)),
            _ => {}
        }
    }

    /// Stops with sequence in (`from`, `to`] from the current snapshot's evidence, and its
    /// suppression entries of erasures in that range (their stops went with the number).
    fn stops_in_snapshot(&self, from: u64, to: u64, found: &mut Found) -> Result<(), StoreError> {
        // SAFETY: snapshots are published by rename and never modified in place.
        let snap = unsafe { map_snapshot(&self.snapshot) }?;
        for r in snap.all_evidence()? {
            let stop = (r.kind == KIND_STOP && self.applies(snap.string(r.brand())))
                // A move's record under its old number (see `format::KIND_MOVE`).
                || (r.kind == KIND_MOVE && r.expires == 0);
            if stop && r.seq > from && r.seq <= to {
                found.stops.push((r.number, i64::from(r.t0)));
            }
        }
        found.erased.extend(snap.suppressed().into_iter().filter(|e| e.seq > from && e.seq <= to));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::E164;
    use crate::store::Store;

    fn n(x: u64) -> E164 {
        E164::from_u64(x).unwrap()
    }

    fn got(t: &mut Tail) -> Vec<(u64, Timestamp)> {
        let mut v = t.poll().unwrap().stops;
        v.sort();
        v
    }

    #[test]
    fn folds_new_stops_of_the_brand_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.append_stop(n(4790000001), "ACME", 100).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let mut t = Tail::new(dir.path(), "ACME", view.journal_seq());
        assert_eq!(got(&mut t), vec![], "events in the view are not live");
        store.append_stop(n(4790000002), "ACME", 200).unwrap();
        store.append_stop(n(4790000003), "OTHER", 300).unwrap();
        store.append_stop(n(4790000004), "*", 400).unwrap();
        assert_eq!(got(&mut t), vec![(4790000002, 200), (4790000004, 400)]);
        assert_eq!(got(&mut t), vec![], "nothing new");
        store.append_stop(n(4790000005), "ACME", 500).unwrap();
        assert_eq!(got(&mut t), vec![(4790000005, 500)], "only the new bytes");
    }

    #[test]
    fn a_number_moved_away_is_stopped_live_in_the_tail_and_after_a_compaction() {
        use crate::store::{Event, Move};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let mut t = Tail::new(dir.path(), "ACME", view.journal_seq());
        let mv = |from, to, at| Event::Move(Move { from: n(from), to: n(to), moved_at: at });
        store.append(&mv(4790000001, 4790000002, 100)).unwrap();
        assert_eq!(got(&mut t), vec![(4790000001, 100)], "the old number only");
        store.append(&mv(4790000003, 4790000004, 200)).unwrap();
        store.compact().unwrap();
        assert_eq!(got(&mut t), vec![(4790000003, 200)]);
    }

    #[test]
    fn a_watcher_that_cannot_read_the_journal_gives_up_after_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.append_stop(n(4790000001), "ACME", 100).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let w = watch(dir.path(), "ACME", &view, Duration::from_millis(10)).unwrap();
        let stops = w.stops();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(stops.failure(), None, "a readable journal is fine");
        std::fs::remove_file(dir.path().join("journal")).unwrap();
        let t = std::time::Instant::now();
        while stops.failure().is_none() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(stops.failure().is_some(), "gave up");
        assert!(t.elapsed() >= GIVE_UP_AFTER, "not before the grace period");
    }

    #[test]
    fn a_stop_for_the_brand_in_another_case_applies_live() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let mut t = Tail::new(dir.path(), "ACME", view.journal_seq());
        store.append_stop(n(4790000001), "acme", 100).unwrap();
        store.append_stop(n(4790000002), "ACMEX", 100).unwrap();
        assert_eq!(got(&mut t), vec![(4790000001, 100)]);
    }

    /// A stop written by an older version under an untrimmed or decomposed spelling of the
    /// brand applies live too.
    #[test]
    fn a_stop_under_a_legacy_spelling_of_the_brand_applies_live() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let mut t = Tail::new(dir.path(), "Caf\u{e9}", view.journal_seq());
        let stop = |v: u64, brand: &str| {
            crate::store::Event::Stop(crate::store::Stop {
                number: n(v),
                brand: brand.into(),
                stopped_at: 100,
            })
        };
        let mut b = store.batch();
        b.push_unvalidated(&stop(4790000001, " Cafe\u{301} ")).unwrap();
        b.push_unvalidated(&stop(4790000002, "Cafe")).unwrap();
        b.commit().unwrap();
        assert_eq!(got(&mut t), vec![(4790000001, 100)]);
    }

    #[test]
    fn follows_a_compaction_without_losing_stops() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let view = crate::store::open_view(dir.path()).unwrap();
        let mut t = Tail::new(dir.path(), "ACME", view.journal_seq());
        store.append_stop(n(4790000001), "ACME", 100).unwrap();
        assert_eq!(got(&mut t), vec![(4790000001, 100)]);
        // Appended and compacted between two polls: only the snapshot has it.
        store.append_stop(n(4790000002), "*", 200).unwrap();
        store.compact().unwrap();
        store.append_stop(n(4790000003), "ACME", 300).unwrap();
        assert_eq!(got(&mut t), vec![(4790000002, 200), (4790000003, 300)]);
        store.append_stop(n(4790000004), "ACME", 400).unwrap();
        assert_eq!(got(&mut t), vec![(4790000004, 400)]);
    }

    #[test]
    fn versions_move_only_on_change() {
        let s = LiveStops::new();
        assert_eq!(s.version(), 0);
        let (a, b) = (4790000001, 4790000002);
        assert!(s.fold(&[(a, 10)]));
        assert_eq!(s.version(), 1);
        assert!(!s.fold(&[(a, 5)]), "an older stop changes nothing");
        assert!(s.fold(&[(a, 20), (b, 1)]));
        let (v, m) = s.current();
        assert_eq!((v, m.get(n(a)), m.get(n(b))), (2, Some(20), Some(1)));
    }
}
