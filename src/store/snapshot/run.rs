//! A run's index of one (brand, purpose): built once per run from the scope's sorted
//! lists, so that a decision is one number-table probe and one word of this index.
//!
//! The snapshot holds each tenant's consents and stops as sorted id lists (compact, and
//! proportional to events). A binary search in a list of millions costs ~20 dependent
//! reads; a run that decides millions of recipients instead spreads the lists it reads
//! (the scope's consents, the brand's and `*`'s stops, merged) over a dense bitmap of the
//! number table's ids with a rank per 64 ids: membership is one bit, the entry's index
//! is the rank plus a popcount. Memory: 32 bytes per 64 ids of the number table (4 MB
//! for 8 M numbers) plus 4 bytes per stop in the run's view; built in milliseconds
//! (measured in BENCHMARKS.md, "tenant-scaling store").

use super::format::ConsentRec;
use super::{List, Snapshot};

/// One word of the index: 64 ids. 32 bytes, aligned: one cache line per lookup.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(32))]
struct Word {
    /// Ids with a consent in the scope.
    consent: u64,
    /// Ids with a stop for the brand (any spelling of it) or `*`.
    stop: u64,
    /// Consents before this word.
    consent_rank: u32,
    /// Stops before this word.
    stop_rank: u32,
}

/// The index of one run's scope (see the module docs).
#[derive(Debug, Default)]
pub struct RunIndex {
    words: Vec<Word>,
    /// Newest stop per stopped id, in id order.
    stop_times: Vec<u32>,
    /// The scope's consent list in the snapshot (records are read from there).
    consents: Option<List>,
}

impl RunIndex {
    /// Builds the index for consents `consents` and the stop lists `stops` (the brand's,
    /// its other spellings', `*`'s), all verified lists of `snap`.
    pub fn build<D: AsRef<[u8]>>(
        snap: &Snapshot<D>,
        consents: Option<List>,
        stops: &[List],
    ) -> RunIndex {
        let n = snap.id_bound().div_ceil(64) as usize;
        // Probed at random by every decision: huge pages save a page walk per probe.
        let mut words = Vec::with_capacity(n);
        crate::hint::huge_pages(&words);
        words.resize(n, Word::default());
        let mut index = RunIndex { words, stop_times: Vec::new(), consents };
        if let Some(list) = &consents {
            for i in 0..list.len() {
                let id = snap.list_id(list, i) as usize;
                if let Some(w) = index.words.get_mut(id / 64) {
                    w.consent |= 1 << (id % 64);
                }
            }
        }
        // Merge the stop lists (each sorted by id) into one, newest time per id.
        let mut at = vec![0usize; stops.len()];
        loop {
            let mut next: Option<(u32, u32)> = None;
            for (k, list) in stops.iter().enumerate() {
                if at[k] < list.len() {
                    let id = snap.list_id(list, at[k]);
                    let t = snap.stop_at(list, at[k]).unwrap_or(u32::MAX);
                    next = match next {
                        Some((nid, nt)) if nid < id => Some((nid, nt)),
                        Some((nid, nt)) if nid == id => Some((id, nt.max(t))),
                        _ => Some((id, t)),
                    };
                }
            }
            let Some((id, t)) = next else { break };
            for (k, list) in stops.iter().enumerate() {
                if at[k] < list.len() && snap.list_id(list, at[k]) == id {
                    at[k] += 1;
                }
            }
            let Some(w) = index.words.get_mut(id as usize / 64) else { continue };
            w.stop |= 1 << (id % 64);
            index.stop_times.push(t);
        }
        let (mut c, mut s) = (0u32, 0u32);
        for w in &mut index.words {
            w.consent_rank = c;
            w.stop_rank = s;
            c += w.consent.count_ones();
            s += w.stop.count_ones();
        }
        index
    }

    /// Bytes of memory the index holds.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * std::mem::size_of::<Word>() + self.stop_times.len() * 4
    }

    /// The consent entry index of `id`, if it has one.
    #[inline]
    pub fn consent_index(&self, id: u32) -> Option<usize> {
        let w = self.words.get(id as usize / 64)?;
        let bit = 1u64 << (id % 64);
        (w.consent & bit != 0)
            .then(|| w.consent_rank as usize + (w.consent & (bit - 1)).count_ones() as usize)
    }

    /// The newest stop of `id` for the run's brand or `*`.
    #[inline]
    pub fn stop(&self, id: u32) -> Option<u32> {
        let w = self.words.get(id as usize / 64)?;
        let bit = 1u64 << (id % 64);
        if w.stop & bit == 0 {
            return None;
        }
        let i = w.stop_rank as usize + (w.stop & (bit - 1)).count_ones() as usize;
        self.stop_times.get(i).copied()
    }

    /// The consent of `id` (entry `i` from [`consent_index`](Self::consent_index)).
    #[inline]
    pub fn consent<D: AsRef<[u8]>>(&self, snap: &Snapshot<D>, i: usize) -> Option<ConsentRec> {
        snap.consent_at(self.consents.as_ref()?, i)
    }

    /// Prefetches the index word of `id` (stage 1 of a lookup, on the number's home slot:
    /// its id is nearly always in the same word).
    #[inline]
    pub fn prefetch_word(&self, id: u32) {
        if let Some(w) = self.words.get(id as usize / 64) {
            crate::hint::prefetch(w);
        }
    }

    /// Prefetches the consent record and the stop time of `id`, if it has them (stage 2 of
    /// a lookup, its word fetched by [`prefetch_word`](Self::prefetch_word)).
    #[inline]
    pub fn prefetch_consent<D: AsRef<[u8]>>(&self, snap: &Snapshot<D>, id: u32) {
        let Some(w) = self.words.get(id as usize / 64) else { return };
        let bit = 1u64 << (id % 64);
        if w.consent & bit != 0
            && let Some(list) = &self.consents
        {
            let i = w.consent_rank as usize + (w.consent & (bit - 1)).count_ones() as usize;
            snap.prefetch_rec(list, i);
        }
        if w.stop & bit != 0 {
            let i = w.stop_rank as usize + (w.stop & (bit - 1)).count_ones() as usize;
            if let Some(t) = self.stop_times.get(i) {
                crate::hint::prefetch(t);
            }
        }
    }
}
