//! CPU hints shared by the hot paths.

/// Asks the CPU to fetch the cache line holding `p` into all cache levels. A hint: it
/// never faults and changes no result, only when memory arrives.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, and `p` is a valid reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the kernel to back the memory of `v` (its whole capacity) with 2 MiB pages where
/// it can (`MADV_HUGEPAGE`; this machine's kernel gives them only to memory advised so).
/// For tables probed at random: on 4 KiB pages nearly every probe of a table of several
/// megabytes also misses the TLB (a page walk, nested under virtualisation). A hint: call
/// it before the memory is first written (pages already faulted in stay small); it never
/// changes what the memory holds. Allocations under 2 MiB are left alone.
pub(crate) fn huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < HUGE {
            return;
        }
        let start = v.as_ptr() as usize;
        // The whole 2 MiB pages inside the allocation: nothing outside it is advised.
        let from = start.next_multiple_of(HUGE);
        let to = (start + bytes) / HUGE * HUGE;
        if to > from {
            // SAFETY: MADV_HUGEPAGE only changes how the kernel backs these pages, which
            // lie inside `v`'s allocation; their contents and validity are unchanged.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}
