//! The recheck before sending: which numbers were stopped, moved away or erased after a
//! journal sequence (an extract's, see [`crate::store::extract`]), for one brand.
//!
//! A campaign decided on an extract (on Spark executors, say) was decided as of the
//! extract's journal sequence; [`Recheck::since`] reads only what the store recorded after
//! it: the journal tail, and, when a compaction has folded part of that into the snapshot
//! since, the snapshot's evidence and suppression entries newer than the sequence. It is
//! fail safe: every stop of the brand (any spelling) or of `*` recorded after the sequence
//! counts, whatever its `stopped_at`, and a consent recorded after it never lifts one (run
//! `filter` again for that).

use std::collections::HashSet;
use std::path::Path;

use crate::E164;
use crate::store::event::EventRef;
use crate::store::snapshot::format::{KIND_MOVE, KIND_STOP};
use crate::store::suppress::{self, Keyer, SubjectKey};
use crate::store::{JOURNAL, SNAPSHOT, StoreError, journal, map_snapshot};

/// Numbers to reject for one brand: stopped, moved away or erased after a sequence.
#[derive(Debug, Default)]
pub struct Recheck {
    stopped: HashSet<u64>,
    erased: HashSet<SubjectKey>,
    keyer: Option<Keyer>,
    /// Events read after the sequence (journal tail and, see [`Recheck::read_snapshot`],
    /// snapshot evidence).
    pub events: u64,
    /// The last journal sequence read.
    pub last_seq: u64,
    /// True when a compaction had folded events after the sequence into the snapshot, so
    /// its evidence was scanned too (slower than the journal tail alone).
    pub read_snapshot: bool,
}

fn brand_applies(stop_brand: &str, brand: &str) -> bool {
    stop_brand == crate::brand::EVERY_BRAND
        || stop_brand == brand
        || crate::brand::same_name(stop_brand, brand)
}

impl Recheck {
    /// Reads what the store in `dir` recorded after journal sequence `since` that rejects
    /// numbers for `brand`, without the store's lock.
    ///
    /// # Errors
    /// [`StoreError::NoStore`], corruption, I/O errors; [`StoreError::KeyMissing`] when
    /// erasures were recorded but the suppression key is missing.
    pub fn since(dir: &Path, brand: &str, since: u64) -> Result<Recheck, StoreError> {
        if !dir.join(super::CONFIG).exists() {
            return Err(StoreError::NoStore { path: dir.to_path_buf() });
        }
        let snap_path = dir.join(SNAPSHOT);
        let jpath = dir.join(JOURNAL);
        for _ in 0..5 {
            let mut r = Recheck::default();
            let mut erasures = 0u64;
            let scan = journal::scan_file_unlocked(&jpath, |seq, ev| {
                if seq <= since {
                    return Ok(());
                }
                r.events += 1;
                match ev {
                    EventRef::Stop { number, brand: b, .. } if brand_applies(b, brand) => {
                        r.stopped.insert(number.as_u64());
                    }
                    EventRef::Move { from, .. } => {
                        r.stopped.insert(from.as_u64());
                    }
                    EventRef::Erase { subject, .. } => {
                        erasures += 1;
                        r.erased.insert(subject);
                    }
                    _ => {}
                }
                Ok(())
            })?;
            r.last_seq = scan.last_seq;
            if scan.base_seq > since {
                // A compaction folded events after `since`: read them from the snapshot.
                if !snap_path.exists() {
                    return Err(StoreError::JournalGap {
                        path: jpath,
                        journal_base: scan.base_seq,
                        snapshot_seq: 0,
                    });
                }
                // SAFETY: snapshots are published by rename and never modified in place.
                let snap = unsafe { map_snapshot(&snap_path) }?;
                if snap.last_seq() < scan.base_seq {
                    continue; // rotated between the two reads: read both again
                }
                r.read_snapshot = true;
                for e in snap.all_evidence()? {
                    if e.seq <= since {
                        continue;
                    }
                    r.events += 1;
                    let hit = match e.kind {
                        KIND_STOP => brand_applies(snap.string(e.brand()), brand),
                        KIND_MOVE => e.expires == 0,
                        _ => false,
                    };
                    if hit {
                        r.stopped.insert(e.number);
                    }
                }
                for s in snap.suppressed().into_iter().filter(|s| s.seq > since) {
                    erasures += 1;
                    r.erased.insert(s.key);
                }
            }
            if erasures > 0 {
                r.keyer = Some(suppress::load_key(dir)?.ok_or_else(|| StoreError::KeyMissing {
                    path: dir.join(suppress::KEY_FILE),
                })?);
            }
            return Ok(r);
        }
        Err(StoreError::JournalGap { path: jpath, journal_base: 0, snapshot_seq: since })
    }

    /// True when `number` was stopped for the brand (or every brand), moved away or erased
    /// after the sequence: reject it (`STOPPED`, as `filter` does).
    pub fn rejects(&self, number: E164) -> bool {
        self.stopped.contains(&number.as_u64())
            || self.keyer.as_ref().is_some_and(|k| self.erased.contains(&k.hash(number)))
    }

    /// How many numbers were stopped or moved away (erasures not included: held as
    /// hashes).
    pub fn stopped_numbers(&self) -> usize {
        self.stopped.len()
    }
}
