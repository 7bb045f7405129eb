//! The fast path of [`super::normalize`] for the inputs campaign lists are made of.
//!
//! It answers `+` and digits (`+4791234567`), and the ASCII forms the byte-level front end
//! reads ([`parse::ascii_front`]: national numbers with spaces and dashes, `00` prefixes)
//! when they have at most [`MAX_LEN`] digits, and returns `None` for anything it does not
//! handle, which then takes the reference path ([`super::normalize_reference`]). Where it
//! answers, it answers exactly as the reference does: it follows `parse::core` step by step
//! and only replaces how the patterns are matched.
//!
//! The speed comes from two derived tables, both built on first use from the same compiled
//! metadata DFAs the reference walks ([`LenDfa`]):
//!
//! * per country calling code, one table answering `is_valid_number(cc, nsn)` as a whole:
//!   the product of the validity DFAs (and leading-digits DFAs) of every region sharing the
//!   code, with the per-type possible lengths folded into a mask over the length, so `+47…`
//!   needs no walk of Norway's leading-digits pattern and then of its validity patterns;
//! * per plan, the general pattern alone (the national-prefix stripping test).
//!
//! Both answer the first three digits with one lookup and then stop at the first state
//! from which only the count of remaining digits matters, usually right there.
//!
//! The rest is about branches rather than loads: on a mixed list, branches that depend on
//! the country (walk lengths, the kind of national prefix, the number's length) mispredict
//! and cost more than the table walks did. So the front end classifies bytes by table with
//! no branch per byte, one compare tells that a number cannot start with its plan's
//! national prefix whatever the plan, the country code is one lookup of the first three
//! digits, and the value is parsed eight digits at a time. (Measure in context: a
//! branch-free `E164::write_to` was tried and lost, because its digit count became a data
//! dependency the next output line waited for.)
//!
//! Handled here, else `None`: a plus followed by a country code; the region's international
//! prefix when it is plain digits; national numbers that do not start with the region's own
//! country code; national prefixes that are plain digits (no transform rule).

use std::sync::OnceLock;

use super::lendfa::{LenDfa, MAX_LEN};
use super::meta::{CC_COUNT, LenCheck, Meta, Prefix, cc_slot, plan, plans_for_cc, starts_with};
use super::metadata_gen::{CC_LOOKUP, CC_REGIONS, META_COUNT};
use super::parse::{self, Ascii, MAX_NSN, MIN_NSN};
use super::{E164, PhoneError, Region, Regions};

/// Product tables with more states than this are not built (the code then uses the
/// reference's per-region loop). Every code of the current metadata stays far below.
const MAX_STATES: usize = 1 << 16;

/// Tries the fast path; `None` means "take the reference path".
#[inline]
pub(super) fn normalize(input: &[u8], region: Region) -> Option<Result<E164, PhoneError>> {
    let mut buf = [0u8; BUF];
    match front(input, &mut buf) {
        Front::Digits(plus, d) => core(plus, d, region),
        Front::Reject(e) => Some(Err(e)),
        Front::Unsure => None,
    }
}

/// [`Regions::normalize`]: the same answers as calling [`super::normalize`] per region,
/// reading the input's characters once for all the regions.
#[inline]
pub(super) fn normalize_regions(input: &[u8], regions: &Regions) -> Result<E164, PhoneError> {
    let mut buf = [0u8; BUF];
    let f = front(input, &mut buf);
    match one_region(f, input, regions.primary()) {
        Ok(n) => Ok(n),
        Err(e) => regions.fallbacks().iter().find_map(|&r| one_region(f, input, r).ok()).ok_or(e),
    }
}

/// [`super::normalize`] of `input` with `region`, its front end already run (`f`).
#[inline(always)]
fn one_region(f: Front<'_>, input: &[u8], region: Region) -> Result<E164, PhoneError> {
    match f {
        Front::Digits(plus, d) => match core(plus, d, region) {
            Some(answer) => answer,
            None => super::normalize_reference(input, region),
        },
        // `ascii_front` does not depend on the region: neither does its rejection.
        Front::Reject(e) => Err(e),
        Front::Unsure => super::normalize_reference(input, region),
    }
}

/// Room for the digits of a separated input the fast front end reads.
const BUF: usize = 32;

/// What the fast front end made of an input.
#[derive(Clone, Copy)]
enum Front<'a> {
    /// `parse::ascii_front`'s `(plus, digits)`, with at most [`MAX_LEN`] digits.
    Digits(bool, &'a [u8]),
    /// `parse::ascii_front`'s rejection.
    Reject(PhoneError),
    /// Anything else: the reference path decides.
    Unsure,
}

/// Byte classes for the one-pass front end.
const DIGIT: u8 = 1;
const SEPARATOR: u8 = 2;
const OTHER: u8 = 4;

/// The class of every byte: digits, `ascii_front`'s simple separators, the rest.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    let seps = b" -.()/[]";
    let mut i = 0;
    while i < seps.len() {
        t[seps[i] as usize] = SEPARATOR;
        i += 1;
    }
    t
};

/// `parse::ascii_front` with its digits gathered, answered in one pass (no branch per
/// byte) for the shapes campaign lists hold: a `+` or digit first, a digit last, digits
/// and simple separators between. Other shapes go through `ascii_front` itself.
#[inline]
fn front<'a>(input: &'a [u8], buf: &'a mut [u8; BUF]) -> Front<'a> {
    // The commonest line of all: `+` and 3 to MAX_LEN digits, eight bytes at a time.
    if let [b'+', rest @ ..] = input
        && (3..=MAX_LEN).contains(&rest.len())
        && all_digits(rest)
    {
        return Front::Digits(true, rest);
    }
    if let [first, .., last] = *input
        && input.len() < BUF
        && last.is_ascii_digit()
        && (first.is_ascii_digit() || (first == b'+' && input[1] != b'+'))
    {
        // ascii_front: no leading or trailing characters to skip; at most one plus.
        let plus = first == b'+';
        let rest = &input[usize::from(plus)..];
        let mut classes = 0;
        let mut n = 0;
        for &c in rest {
            let class = CLASS[usize::from(c)];
            classes |= class;
            // Written always, kept only for digits: `n` < `rest.len()` < BUF.
            buf[n & (BUF - 1)] = c;
            n += usize::from(class & DIGIT);
        }
        if classes & OTHER == 0 {
            if classes & SEPARATOR == 0 {
                // All digits: `Borrowed`, or too few digits.
                return if rest.len() < 2 || (rest.len() == 2 && plus) {
                    Front::Reject(PhoneError::NotANumber)
                } else if rest.len() <= MAX_LEN {
                    Front::Digits(plus, rest)
                } else {
                    Front::Unsure
                };
            }
            // Separated: at least three digits, else rejected.
            return match n {
                ..3 => Front::Reject(PhoneError::NotANumber),
                3..=MAX_LEN => Front::Digits(plus, &buf[..n]),
                _ => Front::Unsure,
            };
        }
    }
    match parse::ascii_front(input) {
        Ascii::Borrowed(plus, d) if d.len() <= MAX_LEN => Front::Digits(plus, d),
        Ascii::Separated(plus, rest) => {
            let mut n = 0;
            for &c in rest {
                if c.is_ascii_digit() {
                    let Some(slot) = buf.get_mut(n).filter(|_| n < MAX_LEN) else {
                        return Front::Unsure;
                    };
                    *slot = c;
                    n += 1;
                }
            }
            Front::Digits(plus, &buf[..n])
        }
        Ascii::Reject(e) => Front::Reject(e),
        Ascii::Borrowed(..) | Ascii::Unsure => Front::Unsure,
    }
}

/// `parse::core(true, d, _)` where it does not depend on the region (a country code follows
/// the plus); `d` is ASCII digits.
#[inline(always)]
fn plus_core(d: &[u8]) -> Option<Result<E164, PhoneError>> {
    if d.is_empty() {
        return None;
    }
    if d.len() <= MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    // No country code: the reference retries without the plus, which depends on the region.
    let (l, main) = country_code(d)?;
    finish(d, l, plan_fast(main))
}

/// `parse::core(plus, d, region.plan)` for ASCII digits `d` (at most [`MAX_LEN`]).
#[inline(always)]
fn core(plus: bool, d: &[u8], region: Region) -> Option<Result<E164, PhoneError>> {
    if plus {
        return plus_core(d);
    }
    if d.is_empty() {
        return None;
    }
    let pf = plan_fast(region.plan);
    // _parse_prefix_as_idd: strip only when the next digit is not 0.
    match pf.idd {
        Prefix::None => {}
        Prefix::Literal(p) => {
            if starts_with(d, p) && d.get(p.len()) != Some(&b'0') {
                let full = &d[p.len()..];
                if full.len() <= MIN_NSN {
                    return Some(Err(PhoneError::TooShort));
                }
                return match country_code(full) {
                    Some((l, main)) => finish(full, l, plan_fast(main)),
                    None => Some(Err(PhoneError::InvalidCountryCode)),
                };
            }
        }
        Prefix::Regex(_) => return None,
    }
    // A national number starting with the region's own code: the reference weighs both
    // readings; rare enough to leave to it.
    let (ccd, ccl) = pf.cc_digits;
    if starts_with(d, &ccd[..usize::from(ccl)]) {
        return None;
    }
    finish(d, 0, pf)
}

/// `parse::extract_country_code` for at least three ASCII digits: the code's length and
/// its main plan, by one lookup of the first three digits.
#[inline]
fn country_code(full: &[u8]) -> Option<(usize, u16)> {
    let [a, b, c, ..] = *full else { return None };
    let i = usize::from(a.wrapping_sub(b'0')) * 100
        + usize::from(b.wrapping_sub(b'0')) * 10
        + usize::from(c.wrapping_sub(b'0'));
    let e = *CC3.get(i)?;
    (e != 0).then_some((usize::from(e >> 8), e & 0xff))
}

/// The country calling code of an E.164 number given as the integer of its digits (`47`
/// for 4791234567), 0 when no assigned code starts it: one lookup of the first three
/// digits (country codes are prefix-free).
#[inline]
pub(crate) fn calling_code(v: u64) -> u16 {
    // Down to three digits: by thousands first (divisions by constants are multiplies).
    let mut head = v;
    while head >= 1_000_000 {
        head /= 1000;
    }
    while head >= 1000 {
        head /= 10;
    }
    if head < 100 {
        return 0;
    }
    let len = CC3.get(head as usize).map_or(0, |&e| e >> 8);
    match len {
        1 => (head / 100) as u16,
        2 => (head / 10) as u16,
        3 => head as u16,
        _ => 0,
    }
}

/// By the first three digits: 0 when no country code starts them, else the length of the
/// shortest assigned code they start with (bits 8-9) and its main plan (bits 0-7): what
/// `parse::extract_country_code` finds, tabulated at compile time from the same tables.
static CC3: [u16; 1000] = {
    let mut t = [0u16; 1000];
    let mut i = 100;
    while i < 1000 {
        let (mut len, mut cc) = (1, i / 100);
        while len <= 3 {
            let slot = CC_LOOKUP[cc] as usize;
            if slot != 0 {
                let main = CC_REGIONS[slot - 1].1[0];
                assert!(main < 256, "plan index fits the table");
                t[i] = ((len as u16) << 8) | main;
                break;
            }
            len += 1;
            cc = i / [1, 100, 10, 1, 1][len];
        }
        i += 1;
    }
    t
};

/// What the fast path uses of one plan, gathered on first use.
struct PlanFast {
    meta: &'static Meta,
    /// International prefix (copied from the compiled plan).
    idd: &'static Prefix,
    /// Country code as ASCII digits.
    cc_digits: ([u8; 3], u8),
    /// The national prefix for parsing.
    national_prefix: NationalPrefix,
    /// The first byte of a plain-digit national prefix; [`PREFIX_NONE`] when there is no
    /// prefix, [`PREFIX_SLOW`] when a number may match it without sharing its first byte
    /// (an empty literal, a pattern).
    prefix_first: u16,
    /// The general-pattern table, when the national prefix is plain digits.
    general: Option<LenDfa>,
    /// The `is_valid_number` table of the plan's country code (`None`: the reference's
    /// per-region loop).
    valid: Option<&'static LenDfa>,
}

/// [`PlanFast::prefix_first`] when the plan has no national prefix (no byte equals it).
const PREFIX_NONE: u16 = 0x100;
/// [`PlanFast::prefix_first`] when the first byte does not settle it.
const PREFIX_SLOW: u16 = 0x101;

/// A plan's national prefix for parsing, as the fast path sees it.
#[derive(Clone, Copy)]
enum NationalPrefix {
    /// None: nothing to strip.
    None,
    /// Plain digits, no transform rule.
    Literal(&'static [u8]),
    /// A pattern or a transform rule: left to the reference path.
    Other,
}

/// The fast path's view of plan `p` (built on first use).
fn plan_fast(p: u16) -> &'static PlanFast {
    static TABLES: [OnceLock<PlanFast>; META_COUNT] = [const { OnceLock::new() }; META_COUNT];
    // Plan indices come from the metadata's own tables (regions, country codes), so they are
    // in range; an out-of-range index would be a bug in the tables, caught by every test.
    TABLES[usize::from(p)].get_or_init(|| {
        let (meta, c) = plan(p);
        let national_prefix = match c.literal_national_prefix() {
            _ if !c.has_national_prefix() => NationalPrefix::None,
            Some(p) => NationalPrefix::Literal(p),
            None => NationalPrefix::Other,
        };
        let prefix_first = match national_prefix {
            NationalPrefix::None => PREFIX_NONE,
            NationalPrefix::Literal([first, ..]) => u16::from(*first),
            NationalPrefix::Literal([]) | NationalPrefix::Other => PREFIX_SLOW,
        };
        PlanFast {
            meta,
            prefix_first,
            idd: &c.idd,
            cc_digits: c.cc_digits,
            national_prefix,
            general: match national_prefix {
                NationalPrefix::Literal(_) => build_general(p),
                _ => None,
            },
            valid: cc_valid(meta.country_code),
        }
    })
}

/// The rest of `parse::core` for the national number `full[l..]`, read by plan `pf` (the
/// default region's, or the main region of the number's code): national prefix, length,
/// validity, value. `full[..l]` is the country code when `l > 0`.
#[inline(always)]
fn finish(full: &[u8], l: usize, pf: &PlanFast) -> Option<Result<E164, PhoneError>> {
    let nn = full.get(l..)?;
    if nn.len() < MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    // _maybe_strip_national_prefix_carrier_code. Most numbers cannot start with their
    // plan's national prefix: one compare says so, whatever the plan (no branch on it).
    let nn = if u16::from(nn[0]) != pf.prefix_first && pf.prefix_first != PREFIX_SLOW {
        nn
    } else {
        let pot = match pf.national_prefix {
            NationalPrefix::None => nn,
            NationalPrefix::Literal(np) if !starts_with(nn, np) => nn,
            NationalPrefix::Literal(np) => {
                let g = pf.general.as_ref()?;
                if g.accepts_digits(nn) && !g.accepts_digits(&nn[np.len()..]) {
                    nn
                } else {
                    &nn[np.len()..]
                }
            }
            NationalPrefix::Other => return None,
        };
        match pf.meta.test_len(pot.len()) {
            LenCheck::TooShort | LenCheck::LocalOnly | LenCheck::InvalidLength => nn,
            LenCheck::Possible | LenCheck::TooLong => pot,
        }
    };
    if nn.len() < MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    if nn.len() > MAX_NSN {
        return Some(Err(PhoneError::TooLong));
    }
    let cc = pf.meta.country_code;
    let valid = match pf.valid {
        Some(t) => t.accepts_digits(nn),
        None => parse::is_valid_number(cc, nn),
    };
    if !valid {
        return Some(Err(PhoneError::Invalid));
    }
    // As in `parse::core`: valid numbers have at most 19 digits, the guard keeps it so.
    if nn.len() + usize::from(cc >= 10) + usize::from(cc >= 100) > 18 {
        return Some(Err(PhoneError::TooLong));
    }
    // With nothing stripped after a country code, the answer is the input's digits as they
    // stand (10 to 13 of them for most numbers: one code path for every country).
    let v = if l != 0 && nn.len() + l == full.len() {
        digits_value(full)
    } else {
        u64::from(cc) * POW10[nn.len()] + digits_value(nn)
    };
    Some(E164::from_u64(v).ok_or(PhoneError::Invalid))
}

/// Powers of ten up to 10^17 (national numbers have at most 17 digits here).
const POW10: [u64; MAX_NSN + 1] = {
    let mut p = [1u64; MAX_NSN + 1];
    let mut i = 1;
    while i <= MAX_NSN {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// `'0'` in every byte.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Eight bytes, the first in the low byte (as in the input).
#[inline]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Whether all eight bytes of `w` are ASCII digits: each high nibble is 3, also after
/// adding 6 (which carries `:`-`?` into 4). A carry out of a byte only happens from a byte
/// that already fails.
#[inline]
fn digits8(w: u64) -> bool {
    (w & 0xF0F0_F0F0_F0F0_F0F0)
        | ((w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)
        == 0x3333_3333_3333_3333
}

/// Whether `b` is all ASCII digits, eight at a time.
#[inline]
fn all_digits(b: &[u8]) -> bool {
    if b.len() < 8 {
        return b.iter().all(u8::is_ascii_digit);
    }
    let mut i = 0;
    while i + 8 <= b.len() {
        if !digits8(load8(b, i)) {
            return false;
        }
        i += 8;
    }
    digits8(load8(b, b.len() - 8))
}

/// The value of eight digit values `v` (bytes 0-9, the most significant in the low byte),
/// by three multiplications: pairs, then quads, then all eight.
#[inline]
fn value8(v: u64) -> u64 {
    // Wrapping only so that a broken invariant cannot panic; digit values never overflow.
    let v = v.wrapping_mul(10).wrapping_add(v >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = v.wrapping_mul(100).wrapping_add(v >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(10_000).wrapping_add(v >> 32) & 0xFFFF_FFFF
}

/// The value of at most 17 ASCII digits.
#[inline]
fn digits_value(d: &[u8]) -> u64 {
    let n = d.len();
    if n < 8 {
        return d.iter().fold(0, |v, &c| v * 10 + u64::from(c.wrapping_sub(b'0') % 10));
    }
    let lo = value8(load8(d, n - 8).wrapping_sub(ZEROS));
    if n == 8 {
        return lo;
    }
    if n <= 16 {
        // The first n - 8 digits, moved to the top of the word so they read as the last
        // digits of eight (the emptied low bytes read as leading zeros).
        let hi = value8(load8(d, 0).wrapping_sub(ZEROS) << (8 * (16 - n)));
        return hi * 100_000_000 + lo;
    }
    let top = d[..n - 16].iter().fold(0, |v, &c| v * 10 + u64::from(c.wrapping_sub(b'0') % 10));
    let mid = value8(load8(d, n - 16).wrapping_sub(ZEROS));
    (top * 100_000_000 + mid) * 100_000_000 + lo
}

/// The `is_valid_number(cc, ·)` table of country code `cc` (built on first use), or `None`
/// when `cc` is unassigned or its table would be too large.
#[inline]
fn cc_valid(cc: u16) -> Option<&'static LenDfa> {
    static TABLES: [OnceLock<Option<LenDfa>>; CC_COUNT] = [const { OnceLock::new() }; CC_COUNT];
    TABLES.get(cc_slot(cc)?)?.get_or_init(|| build_cc_valid(cc)).as_ref()
}

fn build_general(p: u16) -> Option<LenDfa> {
    let (_, c) = plan(p);
    let dfa = c.valid_dfa();
    LenDfa::build(
        dfa.start(),
        |&s, d| dfa.step(s, d),
        |&s| if c.general_matches_end(s) { u32::MAX } else { 0 },
        MAX_STATES,
    )
}

/// Leading-digits component of a product state: no pattern, matched (some prefix matched
/// in full; stays so), or the live DFA state (0: dead, never matches).
const NO_LEADING: u32 = u32::MAX - 1;
const MATCHED: u32 = u32::MAX;

/// Builds the product table for `parse::is_valid_number(cc, ·)`.
///
/// A state holds, per region of the code in the reference's order, the validity DFA state
/// and the leading-digits state; its mask has bit `len` set when `is_valid_number` answers
/// true for a number of `len` digits ending there.
fn build_cc_valid(cc: u16) -> Option<LenDfa> {
    let plans: Vec<_> = plans_for_cc(cc)?.iter().map(|&p| plan(p)).collect();
    let single = plans.len() == 1;
    let lead = |k: usize, s: u32| -> u32 {
        match plans[k].1.leading_dfa() {
            Some(l) if s != 0 && l.accept_at(s) != 0 => MATCHED,
            Some(_) => s,
            None => NO_LEADING,
        }
    };
    let start: Vec<u32> = (0..plans.len())
        .flat_map(|k| {
            let c = plans[k].1;
            let l = match c.leading_dfa() {
                Some(ld) if !single => lead(k, ld.start()),
                _ => NO_LEADING,
            };
            [c.valid_dfa().start(), l]
        })
        .collect();
    let step = |s: &Vec<u32>, d: u8| -> Vec<u32> {
        let mut t = s.clone();
        for k in 0..plans.len() {
            let c = plans[k].1;
            t[2 * k] = c.valid_dfa().step(s[2 * k], d);
            let l = s[2 * k + 1];
            if l != NO_LEADING && l != MATCHED && l != 0 {
                // A leading DFA exists whenever the component is a live state.
                if let Some(ld) = c.leading_dfa() {
                    t[2 * k + 1] = lead(k, ld.step(l, d));
                }
            }
        }
        t
    };
    let mask = |s: &Vec<u32>| -> u32 {
        let mut mask = 0;
        for len in 0..=MAX_LEN {
            let valid = |k: usize| plans[k].1.is_valid_end(plans[k].0, s[2 * k], len);
            let ok = if single {
                valid(0)
            } else {
                // is_valid_number's loop over the regions sharing the code.
                let mut ok = false;
                for k in 0..plans.len() {
                    match s[2 * k + 1] {
                        NO_LEADING if valid(k) => {
                            ok = true;
                            break;
                        }
                        MATCHED => {
                            ok = valid(k);
                            break;
                        }
                        _ => {}
                    }
                }
                ok
            };
            if ok {
                mask |= 1 << len;
            }
        }
        mask
    };
    LenDfa::build(start, step, mask, MAX_STATES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code's table builds within the cap (else the code silently loses its speed).
    #[test]
    fn every_cc_table_builds() {
        let mut big = Vec::new();
        for cc in 1..1000u16 {
            if plans_for_cc(cc).is_some() {
                let t = build_cc_valid(cc).unwrap_or_else(|| panic!("cc {cc} over the cap"));
                big.push((t.states(), cc));
            }
        }
        big.sort_unstable();
        eprintln!("largest product tables (states, cc): {:?}", &big[big.len().saturating_sub(5)..]);
    }

    #[test]
    fn calling_code_of_numbers() {
        assert_eq!(calling_code(4791234567), 47);
        assert_eq!(calling_code(4540100011), 45);
        assert_eq!(calling_code(358401234567), 358);
        assert_eq!(calling_code(12025550123), 1);
        assert_eq!(calling_code(79161234567), 7);
        assert_eq!(calling_code(47), 0);
        for d in 100u64..1000 {
            let want = country_code(d.to_string().as_bytes())
                .map_or(0, |(l, _)| d.to_string()[..l].parse::<u16>().unwrap_or(0));
            assert_eq!(calling_code(d * 1_000_000), want, "{d}");
        }
    }

    #[test]
    fn country_code_table_agrees_with_extract_country_code() {
        for i in 0..1000 {
            let d = format!("{i:03}");
            let want = parse::extract_country_code(d.as_bytes())
                .map(|(cc, l)| (l, plans_for_cc(cc).expect("assigned")[0]));
            assert_eq!(country_code(d.as_bytes()), want, "{d}");
        }
        assert_eq!(country_code(b"47"), None, "needs three digits");
    }

    #[test]
    fn digit_helpers_agree_with_the_obvious() {
        for s in ["123", "12345678", "123456789", "1234567890123456", "12345678901234567"] {
            assert_eq!(digits_value(s.as_bytes()), s.parse::<u64>().expect("digits"), "{s}");
            assert!(all_digits(s.as_bytes()));
        }
        for s in ["1234567/", "/1234567", "12345678:", "1234\u{ff}5678", "12a", "123456789012345a"]
        {
            assert!(!all_digits(s.as_bytes()), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn digits_value_is_the_number(s in "[0-9]{1,17}") {
            proptest::prop_assert_eq!(digits_value(s.as_bytes()), s.parse::<u64>().expect("digits"));
        }

        #[test]
        fn all_digits_is_the_byte_test(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)) {
            proptest::prop_assert_eq!(all_digits(&b), b.iter().all(u8::is_ascii_digit));
        }

        #[test]
        fn all_digits_on_near_digits(b in proptest::collection::vec(0x2eu8..0x3c, 0..24)) {
            proptest::prop_assert_eq!(all_digits(&b), b.iter().all(u8::is_ascii_digit));
        }
    }

    #[test]
    fn every_general_table_builds() {
        for p in 0..META_COUNT as u16 {
            assert!(build_general(p).is_some(), "plan {p}");
        }
    }
}
