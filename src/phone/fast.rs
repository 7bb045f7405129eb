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
//! Both stop walking at the first state from which only the count of remaining digits
//! matters, usually after one to three digits.
//!
//! Handled here, else `None`: a plus followed by a country code; the region's international
//! prefix when it is plain digits; national numbers that do not start with the region's own
//! country code; national prefixes that are plain digits (no transform rule).

use std::sync::OnceLock;

use super::lendfa::{LenDfa, MAX_LEN};
use super::meta::{CC_COUNT, Prefix, cc_slot, plan, plans_for_cc, starts_with};
use super::metadata_gen::META_COUNT;
use super::parse::{self, Ascii, MAX_NSN, MIN_NSN, extract_country_code};
use super::{E164, PhoneError, Region};

/// Product tables with more states than this are not built (the code then uses the
/// reference's per-region loop). Every code of the current metadata stays far below.
const MAX_STATES: usize = 1 << 16;

/// Tries the fast path; `None` means "take the reference path".
#[inline]
pub(super) fn normalize(input: &[u8], region: Region) -> Option<Result<E164, PhoneError>> {
    // The commonest line of all: `+` and 3 to MAX_LEN digits. `ascii_front` would answer
    // `Borrowed(true, rest)` for it; this is the same test without its three scans.
    if let [b'+', rest @ ..] = input
        && (3..=MAX_LEN).contains(&rest.len())
        && rest.iter().all(u8::is_ascii_digit)
    {
        return plus_core(rest);
    }
    match parse::ascii_front(input) {
        Ascii::Borrowed(plus, d) if d.len() <= MAX_LEN => core(plus, d, region),
        Ascii::Borrowed(..) => None,
        Ascii::Separated(plus, rest) => {
            let mut buf = [0u8; MAX_LEN];
            let mut n = 0;
            for &c in rest {
                if c.is_ascii_digit() {
                    *buf.get_mut(n)? = c;
                    n += 1;
                }
            }
            core(plus, &buf[..n], region)
        }
        Ascii::Reject(e) => Some(Err(e)),
        Ascii::Unsure => None,
    }
}

/// `parse::core(true, d, _)` where it does not depend on the region (a country code follows
/// the plus); `d` is ASCII digits.
#[inline]
fn plus_core(d: &[u8]) -> Option<Result<E164, PhoneError>> {
    if d.is_empty() {
        return None;
    }
    if d.len() <= MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    // No country code: the reference retries without the plus, which depends on the region.
    let (cc, l) = extract_country_code(d)?;
    finish_international(cc, &d[l..])
}

/// `parse::core(plus, d, region.plan)` for ASCII digits `d` (at most [`MAX_LEN`]).
#[inline]
fn core(plus: bool, d: &[u8], region: Region) -> Option<Result<E164, PhoneError>> {
    if plus {
        return plus_core(d);
    }
    if d.is_empty() {
        return None;
    }
    let (dm, dc) = plan(region.plan);
    // _parse_prefix_as_idd: strip only when the next digit is not 0.
    match &dc.idd {
        Prefix::None => {}
        Prefix::Literal(p) => {
            if starts_with(d, p) && d.get(p.len()) != Some(&b'0') {
                let full = &d[p.len()..];
                if full.len() <= MIN_NSN {
                    return Some(Err(PhoneError::TooShort));
                }
                return match extract_country_code(full) {
                    Some((cc, l)) => finish_international(cc, &full[l..]),
                    None => Some(Err(PhoneError::InvalidCountryCode)),
                };
            }
        }
        Prefix::Regex(_) => return None,
    }
    // A national number starting with the region's own code: the reference weighs both
    // readings; rare enough to leave to it.
    let (ccd, ccl) = dc.cc_digits;
    if starts_with(d, &ccd[..usize::from(ccl)]) {
        return None;
    }
    finish(dm.country_code, d, region.plan)
}

/// The rest of `parse::core` for national number `nn` of country code `cc`, read by the
/// code's main region.
#[inline]
fn finish_international(cc: u16, nn: &[u8]) -> Option<Result<E164, PhoneError>> {
    let Some(&main) = plans_for_cc(cc).and_then(|p| p.first()) else {
        return Some(Err(PhoneError::InvalidCountryCode));
    };
    finish(cc, nn, main)
}

/// The rest of `parse::core`: national prefix (by plan `p`), length, validity, value.
#[inline]
fn finish(cc: u16, nn: &[u8], p: u16) -> Option<Result<E164, PhoneError>> {
    if nn.len() < MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    let (m, c) = plan(p);
    // _maybe_strip_national_prefix_carrier_code, for plain-digit prefixes only.
    let pot = if !c.has_national_prefix() {
        nn
    } else {
        let np = c.literal_national_prefix()?;
        if !starts_with(nn, np) {
            nn
        } else {
            let g = general(p)?;
            if g.accepts(nn) && !g.accepts(&nn[np.len()..]) { nn } else { &nn[np.len()..] }
        }
    };
    use super::meta::LenCheck;
    let nn = match m.test_len(pot.len()) {
        LenCheck::TooShort | LenCheck::LocalOnly | LenCheck::InvalidLength => nn,
        LenCheck::Possible | LenCheck::TooLong => pot,
    };
    if nn.len() < MIN_NSN {
        return Some(Err(PhoneError::TooShort));
    }
    if nn.len() > MAX_NSN {
        return Some(Err(PhoneError::TooLong));
    }
    let valid = match cc_valid(cc) {
        Some(t) => t.accepts(nn),
        None => parse::is_valid_number(cc, nn),
    };
    if !valid {
        return Some(Err(PhoneError::Invalid));
    }
    // As in `parse::core`: valid numbers have at most 19 digits, the guard keeps it so.
    if nn.len() + usize::from(cc >= 10) + usize::from(cc >= 100) > 18 {
        return Some(Err(PhoneError::TooLong));
    }
    let v = nn.iter().fold(u64::from(cc), |v, &ch| v * 10 + u64::from(ch - b'0'));
    Some(E164::from_u64(v).ok_or(PhoneError::Invalid))
}

/// The `is_valid_number(cc, ·)` table of country code `cc` (built on first use), or `None`
/// when `cc` is unassigned or its table would be too large.
#[inline]
fn cc_valid(cc: u16) -> Option<&'static LenDfa> {
    static TABLES: [OnceLock<Option<LenDfa>>; CC_COUNT] = [const { OnceLock::new() }; CC_COUNT];
    TABLES.get(cc_slot(cc)?)?.get_or_init(|| build_cc_valid(cc)).as_ref()
}

/// The general-pattern table of plan `p` (built on first use).
#[inline]
fn general(p: u16) -> Option<&'static LenDfa> {
    static TABLES: [OnceLock<Option<LenDfa>>; META_COUNT] = [const { OnceLock::new() }; META_COUNT];
    TABLES.get(usize::from(p))?.get_or_init(|| build_general(p)).as_ref()
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
                        NO_LEADING => {
                            if valid(k) {
                                ok = true;
                                break;
                            }
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
    fn every_general_table_builds() {
        for p in 0..META_COUNT as u16 {
            assert!(build_general(p).is_some(), "plan {p}");
        }
    }
}
