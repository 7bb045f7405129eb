//! The set of numbers already seen in a run, for `DUPLICATE` ("first occurrence in input
//! order wins").
//!
//! Campaign lists are dense in the number space: Norwegian and Swedish mobile numbers fill a
//! few ranges of 10⁷–10⁸ numbers. The set therefore splits a number into a *page* (the
//! number without its low 12 bits) and an offset in the page, and keeps
//!
//! * a small open-addressing directory, page → entry, where an entry holds up to
//!   [`INLINE`] offsets itself (a sparse page: a number alone in its range costs one
//!   16-byte entry), and
//! * a 512-byte bitmap per page that has more numbers than that (a dense page: one bit per
//!   possible number).
//!
//! Ten million Nordic mobile numbers take ~10 MB (bitmaps for ~17,000 pages, a directory
//! that fits in L2) where a hash set of the numbers takes 128–256 MB: lookups hit the
//! cache instead of DRAM, and the run does not pay the kernel for zeroing a quarter
//! gigabyte. The worst case (every page with exactly five numbers) is ~130 bytes per
//! number; a list of numbers scattered over the world is ~32 bytes per number.
//!
//! The set is used by one thread at a time, in input order (see `engine.rs`), so it needs
//! no atomics and needs no protocol to find the first occurrence.

use crate::hint::prefetch;

/// Offsets kept in a directory entry before its page gets a bitmap.
const INLINE: u64 = 4;
/// Bits per page.
const PAGE_BITS: u32 = 12;
const OFF_MASK: u64 = (1 << PAGE_BITS) - 1;
/// `Entry::data` flag: the low 32 bits index a bitmap.
const DENSE: u64 = 1 << 63;
/// `Entry::data` bits 48..51: inline count.
const COUNT_SHIFT: u32 = 48;

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Page number + 1; 0 = empty.
    page: u64,
    /// [`DENSE`] | bitmap index, or count << [`COUNT_SHIFT`] | offsets (12 bits each).
    data: u64,
}

/// The numbers seen so far in a run.
pub(crate) struct SeenSet {
    dir: Vec<Entry>,
    shift: u32,
    used: usize,
    bitmaps: Vec<[u64; 64]>,
}

impl Default for SeenSet {
    fn default() -> SeenSet {
        SeenSet::new()
    }
}

impl SeenSet {
    /// An empty set.
    pub(crate) fn new() -> SeenSet {
        let cap = 1usize << 10;
        SeenSet {
            dir: vec![Entry::default(); cap],
            shift: 64 - cap.trailing_zeros(),
            used: 0,
            bitmaps: Vec::new(),
        }
    }

    #[inline]
    fn home(&self, page: u64) -> usize {
        (page.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Hints the CPU to fetch the directory entry [`insert`](Self::insert)ing `number`
    /// reads first. Call it a few records ahead of [`prefetch_bits`](Self::prefetch_bits).
    #[inline]
    pub(crate) fn prefetch(&self, number: u64) {
        let i = self.home(number >> PAGE_BITS);
        if let Some(e) = self.dir.get(i) {
            prefetch(e);
        }
    }

    /// Hints the CPU to fetch the bitmap word of `number` when its page has a bitmap (the
    /// directory entry, prefetched earlier, says where).
    #[inline]
    pub(crate) fn prefetch_bits(&self, number: u64) {
        let page = (number >> PAGE_BITS) + 1;
        let mask = self.dir.len() - 1;
        let mut i = self.home(page - 1);
        loop {
            let e = self.dir[i];
            if e.page == page {
                if e.data & DENSE != 0
                    && let Some(map) = self.bitmaps.get((e.data & u64::from(u32::MAX)) as usize)
                {
                    prefetch(&map[((number & OFF_MASK) >> 6) as usize]);
                }
                return;
            }
            if e.page == 0 {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `number`; true when it was not in the set yet.
    #[inline]
    pub(crate) fn insert(&mut self, number: u64) -> bool {
        let page = (number >> PAGE_BITS) + 1;
        let off = number & OFF_MASK;
        let mask = self.dir.len() - 1;
        let mut i = self.home(page - 1);
        loop {
            let e = self.dir[i];
            if e.page == page {
                return self.insert_in(i, e.data, off);
            }
            if e.page == 0 {
                break;
            }
            i = (i + 1) & mask;
        }
        // A new page. Keep the directory at most half full: probes stay short.
        if (self.used + 1) * 2 > self.dir.len() {
            self.grow();
            i = self.home(page - 1);
            while self.dir[i].page != 0 {
                i = (i + 1) & (self.dir.len() - 1);
            }
        }
        self.dir[i] = Entry { page, data: 1 << COUNT_SHIFT | off };
        self.used += 1;
        true
    }

    #[inline]
    fn insert_in(&mut self, i: usize, data: u64, off: u64) -> bool {
        let (word, bit) = ((off >> 6) as usize, 1u64 << (off & 63));
        if data & DENSE != 0 {
            let map = &mut self.bitmaps[(data & u64::from(u32::MAX)) as usize];
            let new = map[word] & bit == 0;
            map[word] |= bit;
            return new;
        }
        let count = data >> COUNT_SHIFT;
        for k in 0..count {
            if (data >> (k * 12)) & OFF_MASK == off {
                return false;
            }
        }
        if count < INLINE {
            let offsets = data & ((1 << COUNT_SHIFT) - 1);
            self.dir[i].data = (count + 1) << COUNT_SHIFT | offsets | off << (count * 12);
            return true;
        }
        // The page is dense: move its offsets into a bitmap.
        let mut map = [0u64; 64];
        for k in 0..count {
            let o = (data >> (k * 12)) & OFF_MASK;
            map[(o >> 6) as usize] |= 1 << (o & 63);
        }
        map[word] |= bit;
        self.dir[i].data = DENSE | self.bitmaps.len() as u64;
        if self.bitmaps.len() == self.bitmaps.capacity() {
            // Grown by hand so that the new buffer is advised for huge pages before it is
            // written (bitmaps are probed at random: see `hint::huge_pages`).
            let mut grown = Vec::with_capacity((self.bitmaps.capacity() * 2).max(64));
            crate::hint::huge_pages(&grown);
            grown.extend_from_slice(&self.bitmaps);
            self.bitmaps = grown;
        }
        self.bitmaps.push(map);
        true
    }

    fn grow(&mut self) {
        let cap = self.dir.len() * 2;
        let old = std::mem::replace(&mut self.dir, vec![Entry::default(); cap]);
        self.shift = 64 - cap.trailing_zeros();
        let mask = cap - 1;
        for e in old.into_iter().filter(|e| e.page != 0) {
            let mut i = self.home(e.page - 1);
            while self.dir[i].page != 0 {
                i = (i + 1) & mask;
            }
            self.dir[i] = e;
        }
    }

    /// Bytes held (for tests and reports).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.dir.len() * std::mem::size_of::<Entry>() + self.bitmaps.len() * 512
    }
}

/// The [`SeenSet`] of a run, handed to chunks strictly in input order: a worker waits for
/// its chunk's turn, marks the chunk's duplicates, and passes the turn on. Marking is a few
/// nanoseconds per record against tens for the rest of a record's work, so the other
/// workers rarely wait.
pub(crate) struct InOrder {
    state: std::sync::Mutex<Turns>,
    turn_passed: std::sync::Condvar,
    /// `Turns::next`, readable without the lock (for waiting without sleeping).
    ready: std::sync::atomic::AtomicU64,
}

/// Yields before a waiting worker sleeps.
const SPINS: usize = 200;

struct Turns {
    next: u64,
    /// A worker died before taking its turn: later chunks are never written anyway.
    aborted: bool,
    seen: SeenSet,
}

impl Default for InOrder {
    fn default() -> InOrder {
        InOrder {
            state: std::sync::Mutex::new(Turns { next: 0, aborted: false, seen: SeenSet::new() }),
            turn_passed: std::sync::Condvar::new(),
            ready: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl InOrder {
    /// A turn for chunk `index`; every chunk index from 0 must take (or drop) its turn.
    pub(crate) fn turn(&self, index: u64) -> Turn<'_> {
        Turn { order: self, index, taken: false }
    }
}

/// Chunk `index`'s right to use the set, once every earlier chunk has used it.
pub(crate) struct Turn<'a> {
    order: &'a InOrder,
    index: u64,
    taken: bool,
}

impl Turn<'_> {
    /// Waits for the turn and runs `f` on the set. Returns false without running `f` when
    /// an earlier chunk's worker died (the run is failing; nothing later is written).
    pub(crate) fn take(mut self, f: impl FnOnce(&mut SeenSet)) -> bool {
        let o = self.order;
        // The turn usually comes within a millisecond: yield (to the reader, the writer or
        // the process feeding us) rather than sleep, then sleep if it does not come.
        for _ in 0..SPINS {
            if o.ready.load(std::sync::atomic::Ordering::Acquire) >= self.index {
                break;
            }
            std::thread::yield_now();
        }
        let mut t = o.state.lock().unwrap_or_else(|p| p.into_inner());
        while t.next != self.index && !t.aborted {
            t = o.turn_passed.wait(t).unwrap_or_else(|p| p.into_inner());
        }
        self.taken = true;
        if t.aborted {
            return false;
        }
        f(&mut t.seen);
        t.next += 1;
        o.ready.store(t.next, std::sync::atomic::Ordering::Release);
        drop(t);
        o.turn_passed.notify_all();
        true
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.taken {
            // Unwinding (or a bug): later chunks must not wait for this one forever.
            let o = self.order;
            o.state.lock().unwrap_or_else(|p| p.into_inner()).aborted = true;
            o.turn_passed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn check(numbers: &[u64]) {
        let mut set = SeenSet::new();
        let mut model = HashSet::new();
        for &n in numbers {
            assert_eq!(set.insert(n), model.insert(n), "number {n}");
        }
    }

    proptest! {
        /// Against a `HashSet`, with numbers drawn from a few narrow ranges (dense pages,
        /// inline entries filling up and turning into bitmaps) and from everywhere.
        #[test]
        fn agrees_with_a_hash_set(
            picks in proptest::collection::vec((0u8..4, 0u64..1 << 14, 1u64..999_999_999_999_999), 0..3000)
        ) {
            let numbers: Vec<u64> = picks
                .iter()
                .map(|&(kind, small, any)| match kind {
                    0 => 4_790_000_000 + small,
                    1 => 46_700_000_000 + small * 3,
                    2 => 4_790_000_000 + small % 7 * 4096 + small % 5,
                    _ => any,
                })
                .collect();
            check(&numbers);
        }
    }

    #[test]
    fn dense_ranges_are_small_and_exact() {
        // 1 M numbers in one 4 M range, each twice.
        let numbers: Vec<u64> =
            (0..2_000_000u64).map(|i| 4_790_000_000 + (i % 1_000_000) * 4).collect();
        check(&numbers);
        let mut set = SeenSet::new();
        for &n in &numbers {
            set.insert(n);
        }
        // 1,024 pages of 512 bytes plus the directory: well under a hash set's 16 MB.
        assert!(set.bytes() < 1 << 20, "{} bytes", set.bytes());
    }

    #[test]
    fn turns_run_in_chunk_order_across_threads() {
        let order = InOrder::default();
        let log = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (order, log) = (&order, &log);
                s.spawn(move || {
                    for index in (0..200u64).filter(|i| i % 4 == (3 - t)) {
                        assert!(order.turn(index).take(|_| log.lock().unwrap().push(index)));
                    }
                });
            }
        });
        assert_eq!(log.into_inner().unwrap(), (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_dropped_turn_releases_later_chunks() {
        let order = InOrder::default();
        drop(order.turn(0));
        assert!(!order.turn(1).take(|_| panic!("not run after an abort")));
    }

    #[test]
    fn page_edges_and_the_largest_numbers() {
        let edge = [0, 1, 4095, 4096, 4097, 8191, 999_999_999_999_999, 999_999_999_995_904];
        let mut numbers = edge.to_vec();
        numbers.extend_from_slice(&edge);
        // Promote one page across its edge offsets.
        numbers.extend((0..10).map(|k| 4096 * 7 + k * 409));
        numbers.extend((0..10).map(|k| 4096 * 7 + k * 409));
        check(&numbers);
    }
}
