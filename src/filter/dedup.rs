//! Exact "first occurrence in input order wins" across parallel chunks.
//!
//! A shared open-addressing table maps each E.164 number to the smallest record *order*
//! seen so far (an order is `chunk_index << 32 | record_in_chunk`, so it follows input
//! order). A worker inserts with `fetch_min` (stored inverted as a `fetch_max`, so an
//! all-zero table is empty):
//!
//! * the previous value is smaller: an earlier record has the number: `DUPLICATE`;
//! * the slot was empty: this record is the first so far;
//! * the previous value is larger: this record displaced a *later* record that had been
//!   decided as first. The worker returns that order as a **demotion**.
//!
//! Values only ever decrease, so a record that is not the first is either told so at
//! insert time or is displaced later by a `fetch_min` that sees exactly its order; every
//! wrong "first" is demoted exactly once. A demoted record is always in a later chunk than
//! the record that demoted it (inside one chunk, records run in order on one thread).
//! The ordered sink therefore knows all demotions for chunk `k` when it reaches `k`, and
//! re-decides that chunk with [`Guard::is_first`], which is exact once all earlier chunks
//! are done (later chunks can only store larger orders).
//!
//! Growth: workers hold a read lock for a whole chunk and first reserve room for the
//! chunk's records, so the table never fills up while shared; when a reservation does not
//! fit, one worker doubles the table under the write lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

const EMPTY: u64 = 0; // E.164 numbers are never 0

/// `inv` holds `!order` (so 0, the zero page's value, means "no order yet") and is raised
/// with `fetch_max`, which lowers the order.
#[repr(C, align(16))]
struct Slot {
    key: AtomicU64,
    inv: AtomicU64,
}

struct Table {
    slots: Slots,
    shift: u32,
    mask: usize,
}

impl Table {
    fn with_capacity(cap: usize) -> Table {
        let cap = cap.next_power_of_two().max(1024);
        Table { slots: Slots::zeroed(cap), shift: 64 - cap.trailing_zeros(), mask: cap - 1 }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Most records may be inserted while sharing: 3/4 load.
    fn limit(&self) -> usize {
        self.slots.len() / 4 * 3
    }
}

/// Zeroed slots in anonymous memory, backed by transparent huge pages where the kernel
/// allows: a probe is a random access into tens of megabytes, and with 4 KiB pages nearly
/// every probe is also a TLB miss (a page walk, slower still under virtualisation).
/// Zeroed pages also come lazily from the kernel, so a big table costs nothing up front.
struct Slots {
    ptr: std::ptr::NonNull<Slot>,
    len: usize,
}

// SAFETY: `Slots` owns its mapping; the slots are atomics, shared like a `Box<[Slot]>`.
unsafe impl Send for Slots {}
// SAFETY: as above; all access through `&Slot` is atomic.
unsafe impl Sync for Slots {}

impl Slots {
    fn zeroed(len: usize) -> Slots {
        let bytes = len * std::mem::size_of::<Slot>();
        // SAFETY: a fresh private anonymous mapping; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            // Out of address space: nothing sensible to do but stop (like Vec's abort).
            std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<Slot>(len).expect("layout fits"),
            );
        }
        // SAFETY: advice on our own mapping; failure only means small pages.
        unsafe { libc::madvise(p, bytes, libc::MADV_HUGEPAGE) };
        // mmap never returns null on success and its pages are zero: all-zero atomics are
        // valid `Slot`s (empty key, no order).
        Slots { ptr: std::ptr::NonNull::new(p.cast()).expect("mmap success is non-null"), len }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        // SAFETY: `ptr` maps `len` zero-initialised slots for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Slot] {
        // SAFETY: as in `deref`, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `zeroed`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len * std::mem::size_of::<Slot>()) };
    }
}

/// The shared first-occurrence table.
pub(crate) struct DedupTable {
    table: RwLock<Table>,
    /// Occupied slots plus room reserved by workers holding a [`Guard`].
    committed: AtomicUsize,
}

impl DedupTable {
    /// A table expecting about `expected` distinct numbers (it grows if there are more).
    pub(crate) fn new(expected: usize) -> DedupTable {
        DedupTable {
            table: RwLock::new(Table::with_capacity(expected.saturating_mul(4) / 3 + 1)),
            committed: AtomicUsize::new(0),
        }
    }

    /// Shared access for inserting up to `records` new numbers.
    pub(crate) fn reserve(&self, records: usize) -> Guard<'_> {
        loop {
            {
                let t = self.table.read().unwrap_or_else(|p| p.into_inner());
                let before = self.committed.fetch_add(records, Ordering::Relaxed);
                if before + records <= t.limit() {
                    return Guard { table: t, owner: self, reserved: records, inserted: 0 };
                }
                self.committed.fetch_sub(records, Ordering::Relaxed);
            }
            let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
            // No reader holds a reservation now: committed == occupied.
            let occupied = self.committed.load(Ordering::Relaxed);
            if occupied + records > t.limit() {
                // Quadruple while small (fewer stop-the-world rehashes), then double.
                let factor = if t.slots.len() < 1 << 24 { 4 } else { 2 };
                let mut bigger =
                    Table::with_capacity(((occupied + records) * 2).max(t.slots.len() * factor));
                for s in t.slots.iter_mut() {
                    let key = *s.key.get_mut();
                    if key != EMPTY {
                        let mut i = bigger.home(key);
                        while *bigger.slots[i].key.get_mut() != EMPTY {
                            i = (i + 1) & bigger.mask;
                        }
                        *bigger.slots[i].key.get_mut() = key;
                        *bigger.slots[i].inv.get_mut() = *s.inv.get_mut();
                    }
                }
                *t = bigger;
            }
        }
    }

    /// Shared read-only access (no insertions).
    pub(crate) fn read(&self) -> Guard<'_> {
        Guard {
            table: self.table.read().unwrap_or_else(|p| p.into_inner()),
            owner: self,
            reserved: 0,
            inserted: 0,
        }
    }
}

/// Shared access to the table for one chunk.
pub(crate) struct Guard<'a> {
    table: RwLockReadGuard<'a, Table>,
    owner: &'a DedupTable,
    reserved: usize,
    inserted: usize,
}

/// What an insertion found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// An earlier record has this number.
    Earlier,
    /// This record is the first so far.
    First,
    /// This record is first so far and displaced the record with this (later) order.
    Displaced(u64),
}

impl Guard<'_> {
    /// Hints that `key` will be inserted or looked up soon.
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        let slot = &self.table.slots[self.table.home(key)];
        let p = slot as *const Slot as *const u8;
        prefetch(p);
        prefetch(p.wrapping_add(64));
    }

    /// Records that the record with `order` has `key`.
    ///
    /// # Panics
    /// When called more often than reserved (an internal invariant).
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, order: u64) -> Seen {
        let t = &*self.table;
        let mut i = t.home(key);
        loop {
            let slot = &t.slots[i];
            let k = slot.key.load(Ordering::Acquire);
            if k == EMPTY {
                assert!(self.inserted < self.reserved, "dedup table reservation exceeded");
                match slot.key.compare_exchange(EMPTY, key, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => self.inserted += 1,
                    Err(other) if other != key => {
                        i = (i + 1) & t.mask;
                        continue;
                    }
                    Err(_) => {}
                }
            } else if k != key {
                i = (i + 1) & t.mask;
                continue;
            }
            let prev_inv = slot.inv.fetch_max(!order, Ordering::AcqRel);
            let prev = !prev_inv;
            return if prev < order {
                Seen::Earlier
            } else if prev_inv == 0 || prev == order {
                Seen::First
            } else {
                Seen::Displaced(prev)
            };
        }
    }

    /// True when `order` is the smallest order stored for `key`. Exact for a record of
    /// chunk `k` once every chunk before `k` is done.
    #[inline]
    pub(crate) fn is_first(&self, key: u64, order: u64) -> bool {
        let t = &*self.table;
        let mut i = t.home(key);
        loop {
            let slot = &t.slots[i];
            match slot.key.load(Ordering::Acquire) {
                EMPTY => return true, // never inserted (not reached in practice)
                k if k == key => return !slot.inv.load(Ordering::Acquire) >= order,
                _ => i = (i + 1) & t.mask,
            }
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.owner.committed.fetch_sub(self.reserved - self.inserted, Ordering::Relaxed);
    }
}

/// A software prefetch of one cache line (a no-op where unsupported).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_earlier_displaced() {
        let d = DedupTable::new(10);
        let mut g = d.reserve(10);
        assert_eq!(g.insert(4791234567, 5), Seen::First);
        assert_eq!(g.insert(4791234567, 7), Seen::Earlier);
        assert_eq!(g.insert(4791234567, 3), Seen::Displaced(5));
        assert_eq!(g.insert(4791234567, 1), Seen::Displaced(3));
        assert!(g.is_first(4791234567, 1));
        assert!(!g.is_first(4791234567, 3));
    }

    #[test]
    fn grows_past_the_estimate() {
        let d = DedupTable::new(1);
        for chunk in 0..50u64 {
            let mut g = d.reserve(1000);
            for i in 0..1000u64 {
                let key = 4790000000 + chunk * 1000 + i;
                assert_eq!(g.insert(key, chunk << 32 | i), Seen::First);
            }
        }
        let g = d.read();
        for k in 0..50_000u64 {
            assert!(g.is_first(4790000000 + k, (k / 1000) << 32 | (k % 1000)));
        }
    }
}
