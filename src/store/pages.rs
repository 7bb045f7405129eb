//! Releasing the pages a whole-file pass over a memory mapping has read.
//!
//! Snapshots and journals are read through shared, read-only mappings. A pass that reads
//! a whole file once (verifying every checksum, compacting all evidence, scanning the
//! journal) would otherwise leave every page it touched resident in the process: for a
//! store of many gigabytes, gigabytes of RSS that are only page cache. Releasing them
//! behind the cursor keeps a pass's footprint at a few megabytes; a later read faults
//! the page back in from the page cache, unchanged (these files are never written in
//! place).

/// Bytes a pass reads before it releases them.
pub const RELEASE_EVERY: usize = 16 << 20;

/// Releases the resident pages of `b[start..end]` (whole pages inside it) from this
/// process. A hint: nothing changes but memory.
///
/// # Safety
/// `b` must lie in a `MAP_SHARED` mapping of a file that is not written in place:
/// releasing pages of anonymous or private memory would zero them.
pub unsafe fn release(b: &[u8], start: usize, end: usize) {
    #[cfg(target_os = "linux")]
    {
        let end = end.min(b.len());
        let base = b.as_ptr() as usize;
        let from = (base + start.min(end)).next_multiple_of(4096);
        let to = (base + end) / 4096 * 4096;
        if to > from {
            // SAFETY: the range lies inside the mapping (the caller's contract); on a
            // shared read-only file mapping MADV_DONTNEED only drops this process's
            // page-table entries.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (b, start, end);
}
