//! The journal tail of a compaction, sorted by (number, seq) in bounded memory: records
//! are buffered up to a limit, then each full buffer is sorted and written to a run file
//! next to the snapshot being built; reading merges the runs (a k-way merge over a
//! binary heap) with the buffer. A tail that fits the buffer never touches the disk.
//! (The sorted runs and merge of an external sort, as in tantivy's segment merging.)
//!
//! Run files hold personal data: they are created owner-only and removed when the
//! [`SortedRuns`] is dropped (and by the next store open after a crash, see
//! [`crate::store::Store::open`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::store::error::{StoreError, io};

/// Records held in memory before a run is written: 4 M evidence records × 64 bytes =
/// 256 MB.
pub const DEFAULT_LIMIT: usize = 4 << 20;

/// The prefix of run file names, after the snapshot temp file's name.
pub const RUN_SUFFIX: &str = ".run";

/// A fixed-size record that can be sorted in runs: its sort key and its encoding.
pub trait RunRecord: Copy {
    /// Bytes of the encoding (at most [`MAX_LEN`]).
    const LEN: usize;
    /// What records are sorted by.
    type Key: Ord + Copy;
    /// The sort key.
    fn key(&self) -> Self::Key;
    /// Encodes into `out` ([`Self::LEN`] bytes).
    fn encode_into(&self, out: &mut [u8]);
    /// Decodes [`Self::LEN`] bytes (`None` if they are not a record).
    fn decode_from(b: &[u8]) -> Option<Self>;
}

/// The longest encoding a [`RunRecord`] may have.
pub const MAX_LEN: usize = 64;

/// Records collected in any order, read back sorted by their key (evidence records
/// of a compaction's journal tail by (number, seq), consent-list entries by (list, id)).
pub struct SortedRuns<R> {
    mem: Vec<R>,
    runs: Vec<PathBuf>,
    base: PathBuf,
    limit: usize,
    len: u64,
}

impl<R: RunRecord> SortedRuns<R> {
    /// Collects records, spilling runs named after `base` (`base.run0`, …) once more than
    /// `limit` records are held.
    pub fn new(base: &Path, limit: usize) -> SortedRuns<R> {
        debug_assert!(R::LEN <= MAX_LEN);
        SortedRuns {
            mem: Vec::new(),
            runs: Vec::new(),
            base: base.to_path_buf(),
            limit: limit.max(1),
            len: 0,
        }
    }

    /// Adds a record.
    ///
    /// # Errors
    /// I/O errors writing a run.
    pub fn push(&mut self, rec: R) -> Result<(), StoreError> {
        self.mem.push(rec);
        self.len += 1;
        if self.mem.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Records collected.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no record was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Run files written so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<(), StoreError> {
        self.mem.sort_unstable_by_key(R::key);
        let mut name = self.base.clone().into_os_string();
        name.push(format!("{RUN_SUFFIX}{}", self.runs.len()));
        let path = PathBuf::from(name);
        let file = crate::store::durable::create_private(&path)?;
        self.runs.push(path.clone());
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut b = [0u8; MAX_LEN];
        for r in &self.mem {
            r.encode_into(&mut b[..R::LEN]);
            w.write_all(&b[..R::LEN]).map_err(io("writing", &path))?;
        }
        w.flush().map_err(io("writing", &path))?;
        self.mem.clear();
        self.mem.shrink_to_fit();
        Ok(())
    }

    /// Sorts what is held in memory; call once, after the last [`push`](Self::push).
    pub fn finish(&mut self) {
        self.mem.sort_unstable_by_key(R::key);
    }

    /// The records in key order (after [`finish`](Self::finish)); may be called more
    /// than once.
    ///
    /// # Errors
    /// I/O errors opening a run.
    pub fn iter(&self) -> Result<Merge<'_, R>, StoreError> {
        let mut readers = Vec::new();
        for p in &self.runs {
            let f = File::open(p).map_err(io("opening", p))?;
            readers.push((BufReader::with_capacity(1 << 20, f), p.as_path()));
        }
        let mut m = Merge { mem: &self.mem, at: 0, readers, heap: BinaryHeap::new(), error: None };
        for k in 0..m.readers.len() {
            m.refill(k);
        }
        Ok(m)
    }
}

impl<R> Drop for SortedRuns<R> {
    fn drop(&mut self) {
        for p in &self.runs {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A record waiting in the merge, ordered by (key, run): smallest first in the heap.
struct Pending<R: RunRecord> {
    key: R::Key,
    run: usize,
    rec: R,
}

impl<R: RunRecord> PartialEq for Pending<R> {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.run) == (o.key, o.run)
    }
}
impl<R: RunRecord> Eq for Pending<R> {}
impl<R: RunRecord> PartialOrd for Pending<R> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<R: RunRecord> Ord for Pending<R> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.key, self.run).cmp(&(o.key, o.run))
    }
}

/// A merge of the runs and the in-memory buffer (see [`SortedRuns::iter`]).
pub struct Merge<'a, R: RunRecord> {
    mem: &'a [R],
    at: usize,
    readers: Vec<(BufReader<File>, &'a Path)>,
    heap: BinaryHeap<Reverse<Pending<R>>>,
    error: Option<StoreError>,
}

impl<R: RunRecord> Merge<'_, R> {
    fn refill(&mut self, k: usize) {
        let (r, path) = &mut self.readers[k];
        let mut b = [0u8; MAX_LEN];
        match r.read_exact(&mut b[..R::LEN]) {
            Ok(()) => match R::decode_from(&b[..R::LEN]) {
                Some(rec) => self.heap.push(Reverse(Pending { key: rec.key(), run: k, rec })),
                None => {
                    self.error = Some(io("reading", path)(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a sorted run holds a record that does not decode",
                    )));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => self.error = Some(io("reading", path)(e)),
        }
    }

    /// The first I/O error met while merging, if any: a merge that met one ended early,
    /// so the caller must check before trusting what it read.
    pub fn take_error(&mut self) -> Option<StoreError> {
        self.error.take()
    }
}

impl<R: RunRecord> Iterator for Merge<'_, R> {
    type Item = R;

    fn next(&mut self) -> Option<R> {
        if self.error.is_some() {
            return None;
        }
        let mem = self.mem.get(self.at).map(R::key);
        let disk = self.heap.peek().map(|Reverse(p)| p.key);
        match (mem, disk) {
            (Some(m), Some(d)) if m < d => {
                self.at += 1;
                self.mem.get(self.at - 1).copied()
            }
            (Some(_), None) => {
                self.at += 1;
                self.mem.get(self.at - 1).copied()
            }
            (_, Some(_)) => {
                let Reverse(p) = self.heap.pop()?;
                self.refill(p.run);
                Some(p.rec)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshot::format::EvidenceRec;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Whatever the limit, the merge yields every record once, sorted, as a sort does.
        #[test]
        fn merge_equals_a_sort(keys in proptest::collection::vec((0u64..50, 0u64..1000), 0..300), limit in 1usize..64) {
            let d = tempfile::tempdir().unwrap();
            let mut runs: SortedRuns<EvidenceRec> = SortedRuns::new(&d.path().join("snap.tmp"), limit);
            let recs: Vec<EvidenceRec> = keys
                .iter()
                .enumerate()
                .map(|(i, &(n, s))| EvidenceRec { number: n + 1, seq: s * 1000 + i as u64, t0: i as u32, ..EvidenceRec::default() })
                .collect();
            for r in &recs {
                runs.push(*r).unwrap();
            }
            runs.finish();
            let mut want = recs.clone();
            want.sort_by_key(|r| (r.number, r.seq));
            for _ in 0..2 {
                let mut m = runs.iter().unwrap();
                let got: Vec<EvidenceRec> = m.by_ref().collect();
                prop_assert!(m.take_error().is_none());
                prop_assert_eq!(&got, &want);
            }
            prop_assert_eq!(runs.runs(), recs.len() / limit);
            let files = std::fs::read_dir(d.path()).unwrap().count();
            drop(runs);
            prop_assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "{} run files removed", files);
        }
    }
}
