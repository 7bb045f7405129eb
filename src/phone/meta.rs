//! Numbering-plan metadata (generated tables) and its compiled, matchable form.
//!
//! The tables in `metadata_gen.rs` are plain data dumped from libphonenumber. Matching them
//! per number with a backtracking or even a meta regex engine costs hundreds of nanoseconds,
//! so each plan's validity patterns are compiled once, on first use, into one anchored
//! multi-pattern dense DFA (`MatchKind::All`, regex-automata), which is then flattened into
//! a ten-column table over the digits with the set of fully matching patterns precomputed
//! per state ([`DigitDfa`]). A single walk over the national significant number tells which
//! of the general and type patterns match it in full: one table load per digit. Building a
//! plan takes one to a few milliseconds; a process only builds the plans its numbers use.
//!
//! The few prefix patterns (international and national prefixes) stay with the `regex`
//! crate unless they are plain digits, which is the common case (`00`, `0`, `1`).

use std::sync::OnceLock;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::{primitives::StateID, start, syntax};
use regex_automata::{Anchored, MatchKind};

use super::metadata_gen::{CC_LOOKUP, CC_REGIONS, META_COUNT, METADATA, REGION_INDEX};

/// One number type's description (fixed line, mobile, toll free, ...).
pub struct Desc {
    /// The national-number pattern (full match); `None` means the type never matches.
    pub pattern: Option<&'static str>,
    /// Bit `n` set when length `n` is possible; `None` when the metadata lists no lengths
    /// (then the length check is skipped, as in the reference).
    pub lengths: Option<u32>,
    /// Lengths only possible for local dialling.
    #[allow(dead_code)] // Kept for completeness of the dump; parsing uses the general one.
    pub local_only: u32,
}

/// The general description of a plan, with the list ends `_test_number_length` uses.
pub struct GeneralDesc {
    /// Pattern every valid number matches.
    pub pattern: Option<&'static str>,
    /// Bit `n` set when length `n` is possible.
    pub lengths: u32,
    /// First entry of the possible-length list.
    pub first_length: u8,
    /// Last entry of the possible-length list.
    pub last_length: u8,
    /// Lengths only possible for local dialling.
    pub local_only: u32,
}

/// One numbering plan (a region, or a non-geographic entity with id `001`).
pub struct Meta {
    /// Region code, or `001`.
    pub id: &'static str,
    /// Country calling code.
    pub country_code: u16,
    /// International (IDD) prefix pattern, e.g. `00`.
    pub international_prefix: Option<&'static str>,
    /// National (trunk) prefix pattern for parsing, e.g. `0`.
    pub national_prefix_for_parsing: Option<&'static str>,
    /// Replacement applied to a national-prefix match (Python syntax: digits and `\N`).
    pub national_prefix_transform_rule: Option<&'static str>,
    /// Leading-digits pattern that identifies this region among those sharing a code.
    pub leading_digits: Option<&'static str>,
    /// Whether the mobile and fixed-line patterns are identical.
    pub same_mobile_and_fixed_line_pattern: bool,
    /// The general description.
    pub general: GeneralDesc,
    /// premium, toll free, shared cost, voip, personal, pager, uan, voicemail, fixed, mobile.
    pub types: [Option<Desc>; 10],
}

/// Result of the reference's `_test_number_length` against the general description.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LenCheck {
    /// A possible length.
    Possible,
    /// Possible only when dialled locally.
    LocalOnly,
    /// Shorter than every possible length.
    TooShort,
    /// Longer than every possible length.
    TooLong,
    /// Between possible lengths but not one of them.
    InvalidLength,
}

/// `s.starts_with(p)` for the few-byte prefixes of the hot path, without a `memcmp` call.
#[inline]
pub fn starts_with(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s.iter().zip(p).all(|(a, b)| a == b)
}

/// Bit for length `n`, 0 when it cannot be a length at all.
#[inline]
pub fn len_bit(n: usize) -> u32 {
    if n < 32 { 1 << n } else { 0 }
}

impl Meta {
    /// The reference's `_test_number_length(number, metadata)` for a number of `len` digits.
    #[inline]
    pub fn test_len(&self, len: usize) -> LenCheck {
        let g = &self.general;
        if g.local_only & len_bit(len) != 0 {
            return LenCheck::LocalOnly;
        }
        let (first, last) = (usize::from(g.first_length), usize::from(g.last_length));
        if len == first {
            LenCheck::Possible
        } else if first > len {
            LenCheck::TooShort
        } else if last < len {
            LenCheck::TooLong
        } else if g.lengths & len_bit(len) != 0 {
            LenCheck::Possible
        } else {
            LenCheck::InvalidLength
        }
    }
}

/// A prefix matcher (`lookingAt`): a literal when the pattern is plain digits, else a regex.
pub enum Prefix {
    /// No pattern: never matches.
    None,
    /// Plain digits.
    Literal(&'static [u8]),
    /// A general pattern, compiled as `^(?:pattern)`.
    Regex(regex::bytes::Regex),
}

impl Prefix {
    fn new(p: Option<&'static str>) -> Prefix {
        match p {
            None => Prefix::None,
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => Prefix::Literal(s.as_bytes()),
            Some(s) => Prefix::Regex(
                regex::bytes::RegexBuilder::new(&format!("^(?:{s})"))
                    .unicode(false)
                    .build()
                    // Invariant: every metadata pattern compiles (checked for all plans by
                    // the `every_plan_compiles` test); the patterns are not input-derived.
                    .expect("metadata prefix pattern compiles"),
            ),
        }
    }

    /// End of the match at the start of `s`, if any.
    #[inline]
    pub fn looking_at(&self, s: &[u8]) -> Option<usize> {
        match self {
            Prefix::None => None,
            Prefix::Literal(l) => starts_with(s, l).then_some(l.len()),
            Prefix::Regex(r) => r.find(s).map(|m| m.end()),
        }
    }
}

/// A plan compiled for matching.
pub struct Compiled {
    /// Pattern 0 is the general description, then the present types; accept bits are
    /// bit 0 general, bit 1 + i for `types[i]`.
    valid: DigitDfa,
    /// For each length, the type bits that may make a number of that length valid.
    valid_types_by_len: [u16; 32],
    /// Whether the general description has a pattern at all.
    has_general: bool,
    /// Leading-digits DFA (accept bit 0 when the digits so far match in full).
    leading: Option<DigitDfa>,
    /// International prefix matcher.
    pub idd: Prefix,
    /// National prefix matcher; `Regex` when captures or a transform are involved.
    pub national_prefix: Prefix,
    /// The national prefix pattern for captures (only when a transform rule exists).
    pub national_prefix_captures: Option<regex::bytes::Regex>,
    /// Country code as ASCII digits.
    pub cc_digits: ([u8; 3], u8),
}

fn dfa_builder() -> dense::Builder {
    let mut b = dense::Builder::new();
    b.configure(dense::Config::new().match_kind(MatchKind::All).start_kind(StartKind::Anchored))
        .syntax(syntax::Config::new().unicode(false).utf8(false));
    b
}

impl Compiled {
    fn build(m: &Meta) -> Compiled {
        let mut pats: Vec<&str> = Vec::new();
        let mut bit_of_pattern = Vec::new();
        let has_general = m.general.pattern.is_some();
        // An empty general pattern never matches; keep slot 0 as a never-matching pattern.
        pats.push(m.general.pattern.unwrap_or("[^\\x00-\\xff]"));
        bit_of_pattern.push(1u16);
        for (i, d) in m.types.iter().enumerate() {
            if let Some(Desc { pattern: Some(p), .. }) = d {
                pats.push(p);
                bit_of_pattern.push(1 << (i + 1));
            }
        }
        let dfa = dfa_builder()
            .build_many(&pats)
            // Invariant: checked for every plan by the `every_plan_compiles` test.
            .expect("metadata validity patterns compile to a DFA");
        let valid = DigitDfa::flatten(&dfa, &bit_of_pattern);
        let mut valid_types_by_len = [0u16; 32];
        for (len, slot) in valid_types_by_len.iter_mut().enumerate() {
            for (i, d) in m.types.iter().enumerate() {
                // The reference skips the mobile test when mobile and fixed line share a
                // pattern (it already tested fixed line).
                if i == 9 && m.same_mobile_and_fixed_line_pattern {
                    continue;
                }
                if let Some(Desc { pattern: Some(_), lengths, .. }) = d
                    && lengths.is_none_or(|l| l & len_bit(len) != 0)
                {
                    *slot |= 1 << (i + 1);
                }
            }
        }
        let leading = m.leading_digits.map(|p| {
            let dfa = dfa_builder()
                .build(p)
                // Invariant: checked for every plan by the `every_plan_compiles` test.
                .expect("leading digits pattern compiles");
            DigitDfa::flatten(&dfa, &[1])
        });
        let transform = m.national_prefix_transform_rule.is_some();
        let national_prefix_captures = match m.national_prefix_for_parsing {
            Some(p) if transform => Some(
                regex::bytes::RegexBuilder::new(&format!("^(?:{p})"))
                    .unicode(false)
                    .build()
                    // Invariant: checked for every plan by the `every_plan_compiles` test.
                    .expect("national prefix pattern compiles"),
            ),
            _ => None,
        };
        let cc = m.country_code.to_string();
        let mut cc_digits = [0u8; 3];
        cc_digits[..cc.len()].copy_from_slice(cc.as_bytes());
        Compiled {
            valid,
            valid_types_by_len,
            has_general,
            leading,
            idd: Prefix::new(m.international_prefix),
            national_prefix: Prefix::new(m.national_prefix_for_parsing),
            national_prefix_captures,
            cc_digits: (cc_digits, cc.len() as u8),
        }
    }

    /// Whether the plan has a national prefix pattern for parsing.
    #[inline]
    pub fn has_national_prefix(&self) -> bool {
        !matches!(self.national_prefix, Prefix::None) || self.national_prefix_captures.is_some()
    }

    /// Bits of the patterns that match all of `nsn` (bit 0 general, 1 + i type i).
    #[inline]
    fn matches(&self, nsn: &[u8]) -> u16 {
        self.valid.accept_bits(nsn)
    }

    /// The reference's `_match_national_number(number, general_desc, False)`.
    #[inline]
    pub fn general_matches(&self, number: &[u8]) -> bool {
        self.has_general && self.matches(number) & 1 != 0
    }

    /// The reference's `_number_type_helper(nsn, metadata) != UNKNOWN`.
    #[inline]
    pub fn is_valid(&self, m: &Meta, nsn: &[u8]) -> bool {
        let bit = len_bit(nsn.len());
        if bit == 0 || m.general.lengths & bit == 0 || !self.has_general {
            return false;
        }
        let bits = self.matches(nsn);
        bits & 1 != 0 && bits & self.valid_types_by_len[nsn.len()] != 0
    }

    /// Whether the leading-digits pattern matches at the start of `nsn`; `None` when the
    /// plan has no such pattern.
    #[inline]
    pub fn leading_digits_match(&self, nsn: &[u8]) -> Option<bool> {
        Some(self.leading.as_ref()?.prefix_matches(nsn))
    }

    /// The validity DFA (pattern 0 general, then the types), for building derived tables.
    pub(super) fn valid_dfa(&self) -> &DigitDfa {
        &self.valid
    }

    /// The leading-digits DFA, if the plan has that pattern.
    pub(super) fn leading_dfa(&self) -> Option<&DigitDfa> {
        self.leading.as_ref()
    }

    /// [`Compiled::general_matches`] for a number that ended the validity DFA in `state`.
    pub(super) fn general_matches_end(&self, state: u32) -> bool {
        self.has_general && self.valid.accept_at(state) & 1 != 0
    }

    /// [`Compiled::is_valid`] for a number of `len` digits that ended the validity DFA in
    /// `state`: the same tests in the same order.
    pub(super) fn is_valid_end(&self, m: &Meta, state: u32, len: usize) -> bool {
        let bit = len_bit(len);
        if bit == 0 || m.general.lengths & bit == 0 || !self.has_general {
            return false;
        }
        let bits = self.valid.accept_at(state);
        bits & 1 != 0 && bits & self.valid_types_by_len[len] != 0
    }

    /// The national prefix as plain digits when stripping it is a literal prefix test (no
    /// transform rule, no regex); `None` otherwise.
    pub(super) fn literal_national_prefix(&self) -> Option<&'static [u8]> {
        match (&self.national_prefix, &self.national_prefix_captures) {
            (Prefix::Literal(p), None) => Some(p),
            _ => None,
        }
    }
}

/// A DFA over the ten ASCII digits, flattened from an anchored `MatchKind::All` dense DFA
/// into one `u32` table: a step is one load, and what matches when the input ends in a
/// state is precomputed as a bit set. State 0 is dead; states are premultiplied by 10.
pub(super) struct DigitDfa {
    /// `trans[s + d]`: the state after digit `d` from premultiplied state `s`.
    trans: Vec<u32>,
    /// `accept[s]` (at premultiplied indices): bits of the patterns matching in full when
    /// the input ends in state `s`.
    accept: Vec<u16>,
    start: u32,
}

impl DigitDfa {
    /// Flattens `dfa`; `bit_of_pattern[p]` is the accept bit reported for pattern `p`.
    fn flatten(dfa: &dense::DFA<Vec<u32>>, bit_of_pattern: &[u16]) -> DigitDfa {
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            // Invariant: built with `StartKind::Anchored` and no look-around, so an
            // anchored start state exists.
            .expect("anchored start state");
        // Index 0 is the dead state; the DFA's own dead state maps to it.
        let mut ids: Vec<StateID> = vec![start];
        let mut index = std::collections::HashMap::new();
        let mut trans = vec![0u32; 10];
        let mut accept = vec![0u16; 10];
        index.insert(start, 1u32);
        let mut i = 0;
        while i < ids.len() {
            let s = ids[i];
            let mut row = [0u32; 10];
            for (d, slot) in row.iter_mut().enumerate() {
                let t = dfa.next_state(s, b'0' + d as u8);
                if dfa.is_dead_state(t) {
                    continue;
                }
                let next = index.len() as u32 + 1;
                let id = *index.entry(t).or_insert_with(|| {
                    ids.push(t);
                    next
                });
                *slot = id * 10;
            }
            trans.extend_from_slice(&row);
            let eoi = dfa.next_eoi_state(s);
            let mut bits = 0u16;
            if dfa.is_match_state(eoi) {
                for k in 0..dfa.match_len(eoi) {
                    bits |= bit_of_pattern[dfa.match_pattern(eoi, k).as_usize()];
                }
            }
            accept.extend_from_slice(&[bits, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            i += 1;
        }
        DigitDfa { trans, accept, start: 10 }
    }

    /// Bits of the patterns that match all of `digits` (ASCII digits; anything else: 0).
    #[inline]
    fn accept_bits(&self, digits: &[u8]) -> u16 {
        let mut s = self.start;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return 0;
            }
            // In bounds: every stored state is a premultiplied row start.
            s = self.trans[s as usize + usize::from(d)];
        }
        self.accept[s as usize]
    }

    /// The (premultiplied) start state.
    pub(super) fn start(&self) -> u32 {
        self.start
    }

    /// The state after digit `d` (0-9) from state `s`; 0 is the dead state.
    pub(super) fn step(&self, s: u32, d: u8) -> u32 {
        self.trans.get(s as usize + usize::from(d)).copied().unwrap_or(0)
    }

    /// Accept bits when the input ends in state `s`.
    pub(super) fn accept_at(&self, s: u32) -> u16 {
        self.accept.get(s as usize).copied().unwrap_or(0)
    }

    /// Whether some prefix of `digits` (possibly empty) matches in full (`re.match`).
    #[inline]
    fn prefix_matches(&self, digits: &[u8]) -> bool {
        let mut s = self.start;
        for &b in digits {
            if self.accept[s as usize] != 0 {
                return true;
            }
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return false;
            }
            s = self.trans[s as usize + usize::from(d)];
            if s == 0 {
                return false;
            }
        }
        self.accept[s as usize] != 0
    }
}

static COMPILED: [OnceLock<Compiled>; META_COUNT] = [const { OnceLock::new() }; META_COUNT];

/// The plan at `idx` with its compiled matchers (built on first use).
#[inline]
pub fn plan(idx: u16) -> (&'static Meta, &'static Compiled) {
    let m = &METADATA[usize::from(idx)];
    (m, COMPILED[usize::from(idx)].get_or_init(|| Compiled::build(m)))
}

/// Plans sharing country calling code `cc` (main region first), or `None` if unassigned.
#[inline]
pub fn plans_for_cc(cc: u16) -> Option<&'static [u16]> {
    let slot = *CC_LOOKUP.get(usize::from(cc))?;
    if slot == 0 {
        return None;
    }
    Some(CC_REGIONS[usize::from(slot) - 1].1)
}

/// The country calling code of plan `idx`.
pub fn country_code_of(idx: u16) -> u16 {
    METADATA.get(usize::from(idx)).map_or(0, |m| m.country_code)
}

/// The id of plan `idx`: its region code, or `001` for a non-geographic plan.
pub fn plan_id(idx: u16) -> &'static str {
    METADATA.get(usize::from(idx)).map_or("", |m| m.id)
}

/// Index of region `code` (upper-case ASCII), if the metadata knows it.
pub fn region_index(code: [u8; 2]) -> Option<u16> {
    REGION_INDEX.binary_search_by(|(c, _)| c.cmp(&code)).ok().map(|i| REGION_INDEX[i].1)
}

/// Number of numbering plans.
#[cfg(test)]
pub fn plan_count() -> usize {
    META_COUNT
}

/// Index of country calling code `cc` among the assigned codes (0..[`CC_COUNT`]), or
/// `None` if unassigned.
#[inline]
pub fn cc_slot(cc: u16) -> Option<usize> {
    let slot = *CC_LOOKUP.get(usize::from(cc))?;
    usize::from(slot).checked_sub(1)
}

/// Number of assigned country calling codes.
pub const CC_COUNT: usize = CC_REGIONS.len();
