//! Byte-block helpers for measuring messages, 16 bytes at a time.
//!
//! On x86_64 they use SSE2 (part of the baseline, so always there); elsewhere a plain
//! byte loop with the same results. Tests compare both against per-byte definitions.

/// True for the bytes that are one GSM septet and one UTF-16 unit and need no further
/// look: `0x20..=0x5A` and `0x61..=0x7A`. The rest of ASCII (controls, `[\]^_` and the
/// backtick, `{|}~`, DEL) and every non-ASCII byte take the careful path.
/// (The definition the SSE2 masks implement: used by the portable fallback and tests.)
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2", not(test)), allow(dead_code))]
#[inline]
pub(crate) fn is_plain(c: u8) -> bool {
    matches!(c, 0x20..=0x5A | 0x61..=0x7A)
}

/// How many bytes of `b` from `at` are plain ([`is_plain`]) before the first one that is
/// not (or the end).
#[inline]
pub(crate) fn plain_prefix(b: &[u8], at: usize) -> usize {
    let mut i = at;
    while i < b.len() {
        let special = special_mask_at(b, i);
        if special != 0 {
            return i + special.trailing_zeros() as usize - at;
        }
        i += 16;
    }
    b.len().max(at) - at
}

/// Bit `k` set when `b[at + k]` is not plain (`at < b.len()`; bits past the end are 0).
#[inline]
fn special_mask_at(b: &[u8], at: usize) -> u32 {
    if let Some(c) = b.get(at..).and_then(|r| r.first_chunk::<16>()) {
        return imp::special_mask(*c);
    }
    // The last, partial block: the text's last 16 bytes, shifted, when there are 16
    // (copying a short tail into a buffer costs a memcpy call and a stalled load).
    let over = (at + 16).saturating_sub(b.len());
    if let Some(c) = b.len().checked_sub(16).and_then(|s| b[s..].first_chunk::<16>()) {
        return imp::special_mask(*c) >> over;
    }
    let mut buf = [b'a'; 16];
    let rest = b.get(at..).unwrap_or_default();
    buf[..rest.len()].copy_from_slice(rest);
    imp::special_mask(buf) & (0xFFFF >> over.min(16))
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod imp {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };

    // SAFETY (every `unsafe` below): SSE2 is enabled (this module's cfg), and the only
    // memory access is `loadu` of a `[u8; 16]`: 16 readable bytes, no alignment needed.

    #[inline(always)]
    fn load(b: &[u8; 16]) -> __m128i {
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    /// Bit `i` set when byte `i` is not plain. Bytes compare as signed, so every
    /// non-ASCII byte is "below 0x20".
    #[inline(always)]
    pub(super) fn special_mask(b: [u8; 16]) -> u32 {
        let v = load(&b);
        unsafe {
            let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            let high = _mm_cmpgt_epi8(v, _mm_set1_epi8(0x7A));
            let gap = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(0x5A)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x61)),
            );
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, high), gap)) as u32
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod imp {
    pub(super) fn special_mask(b: [u8; 16]) -> u32 {
        b.iter().enumerate().fold(0, |m, (i, &c)| m | (u32::from(!super::is_plain(c)) << i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn plain_prefix_matches_bytewise(b in proptest::collection::vec(prop_oneof![
            4 => 0x20u8..0x7B, 1 => any::<u8>()], 0..80), at in 0usize..90) {
            let want = b.get(at..).map_or(0, |r| r.iter().take_while(|&&c| is_plain(c)).count());
            prop_assert_eq!(plain_prefix(&b, at.min(b.len())), if at <= b.len() { want } else { 0 });
        }
    }

    #[test]
    fn every_byte_classifies_as_defined() {
        for c in 0..=255u8 {
            let mut b = [b'a'; 16];
            b[5] = c;
            let want = if is_plain(c) { 16 } else { 5 };
            assert_eq!(plain_prefix(&b, 0), want, "{c:#x}");
        }
    }
}
