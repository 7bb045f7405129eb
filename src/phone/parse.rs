//! A port of libphonenumber's `parse` + `isValidNumber` (Python `phonenumbers` 9.0.43 is the
//! reference; function names in comments are its names).
//!
//! Parsing has two halves:
//!
//! * the *front end* turns text into `(plus, D)`: whether the number starts with a plus sign
//!   and its normalised digit string `D`. Everything after it in the reference depends only
//!   on those two (the retry without the plus re-normalises the same characters). There is a
//!   fast front end for the common alphabet (digits, spacing and grouping punctuation, a
//!   leading plus) and a faithful regex-based one for everything else (letters, extensions,
//!   `tel:` URIs with `;phone-context=`, odd characters). The fast one answers `None` when
//!   it is unsure, and tests check both agree on its whole domain.
//! * the *core* extracts the country code (plus sign, IDD prefix of the default region, or
//!   the default region's own code), strips the national prefix by the *number's* region,
//!   and validates against the compiled metadata.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::meta::{Compiled, LenCheck, Meta, plan, plans_for_cc};
use super::metadata_gen::{
    EXTN_PATTERN, ND_RANGES, RFC3966_DOMAINNAME, RFC3966_GLOBAL_NUMBER_DIGITS, VALID_PHONE_NUMBER,
    WORD_RANGES,
};
use super::{E164, PhoneError};

/// Inputs longer than this (in characters) are rejected (`_MAX_INPUT_STRING_LENGTH`).
const MAX_INPUT_CHARS: usize = 250;
/// Shortest national significant number.
pub(super) const MIN_NSN: usize = 2;
/// Longest national significant number.
pub(super) const MAX_NSN: usize = 17;
/// Room for a digit string: at most one digit per input character.
const DIGITS_CAP: usize = 256;

/// The normalised digits (ASCII `0`-`9`) of one input, on the stack.
pub(super) struct Digits {
    buf: [u8; DIGITS_CAP],
    len: usize,
}

impl Digits {
    pub(super) fn new() -> Digits {
        Digits { buf: [0; DIGITS_CAP], len: 0 }
    }
    #[inline]
    fn push(&mut self, d: u8) {
        // Inputs are at most 250 characters and each yields at most one digit, so this never
        // drops anything; the check only keeps the write in bounds.
        if self.len < DIGITS_CAP {
            self.buf[self.len] = d;
            self.len += 1;
        }
    }
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The decimal value of a Unicode `Nd` character (Python `re`'s `\d`).
#[inline]
pub(super) fn nd_digit(c: char) -> Option<u8> {
    if c.is_ascii() {
        return c.is_ascii_digit().then(|| c as u8 - b'0');
    }
    let cp = c as u32;
    let i = ND_RANGES.partition_point(|&(lo, _)| lo <= cp);
    let (lo, hi) = *ND_RANGES.get(i.checked_sub(1)?)?;
    // Each range is whole runs of ten starting at a zero (asserted by the generator).
    (cp <= hi).then(|| ((cp - lo) % 10) as u8)
}

/// Python `re`'s `\w` (alphanumeric or `_`).
#[inline]
fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    let cp = c as u32;
    let i = WORD_RANGES.partition_point(|&(lo, _)| lo <= cp);
    i > 0 && cp <= WORD_RANGES[i - 1].1
}

/// Characters the fast front end treats as plain separators: `VALID_PUNCTUATION` without
/// the ones that may also label an extension (`x`, `~`, full-width tilde).
#[inline]
fn is_simple_punct(c: char) -> bool {
    matches!(
        c,
        '-' | ' '
            | '('
            | ')'
            | '.'
            | '['
            | ']'
            | '/'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF0D}'..='\u{FF0F}'
            | '\u{00A0}'
            | '\u{00AD}'
            | '\u{200B}'
            | '\u{2060}'
            | '\u{3000}'
            | '\u{FF08}'
            | '\u{FF09}'
            | '\u{FF3B}'
            | '\u{FF3D}'
            | '\u{2053}'
            | '\u{223C}'
    )
}

#[inline]
fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// Unwanted trailing characters (`_UNWANTED_END_CHARS`: `_` or neither `#` nor `\w`).
#[inline]
fn is_unwanted_end(c: char) -> bool {
    c == '_' || (c != '#' && !is_word(c))
}

/// What the ASCII front end made of an input.
pub(super) enum Ascii<'a> {
    /// `plus`, and the digits as a slice of the input (no separators inside).
    Borrowed(bool, &'a [u8]),
    /// `plus`, and the part of the input holding the digits among simple ASCII separators
    /// (at least three digits); [`Digits::from_separated`] extracts them.
    Separated(bool, &'a [u8]),
    /// Rejected for sure.
    Reject(PhoneError),
    /// Not ASCII, or not in the fast domain: use the other front ends.
    Unsure,
}

/// The byte-level front end for the commonest inputs: the domain of [`fast_front`]
/// restricted to ASCII, without decoding UTF-8. `+4791234567` and `004791234567` are
/// answered with a slice of the input.
#[inline]
pub(super) fn ascii_front(b: &[u8]) -> Ascii<'_> {
    if b.len() > MAX_INPUT_CHARS {
        return Ascii::Unsure;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'+' || c.is_ascii_digit() {
            break;
        }
        if c >= 0x80 || c == b';' {
            return Ascii::Unsure;
        }
        i += 1;
    }
    if i == b.len() {
        return Ascii::Reject(PhoneError::NotANumber);
    }
    let mut end = b.len();
    while end > i {
        let c = b[end - 1];
        if c.is_ascii_alphanumeric() || c == b'#' {
            break;
        }
        if c >= 0x80 {
            return Ascii::Unsure;
        }
        end -= 1;
    }
    let body = &b[i..end];
    let mut j = 0;
    while j < body.len() && body[j] == b'+' {
        j += 1;
    }
    let plus = j > 0;
    let rest = &body[j..];
    let mut k = 0;
    while k < rest.len() && rest[k].is_ascii_digit() {
        k += 1;
    }
    if k == rest.len() {
        if body.len() < 2 || rest.len() < 2 || (rest.len() == 2 && plus) {
            return Ascii::Reject(PhoneError::NotANumber);
        }
        return Ascii::Borrowed(plus, rest);
    }
    let mut digits = k;
    for &c in &rest[k..] {
        if c.is_ascii_digit() {
            digits += 1;
        } else if !is_simple_ascii_punct(c) {
            return Ascii::Unsure;
        }
    }
    // There is a separator, so "exactly two digits and nothing else" cannot apply.
    if digits >= 3 { Ascii::Separated(plus, rest) } else { Ascii::Reject(PhoneError::NotANumber) }
}

#[inline]
fn is_simple_ascii_punct(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'[' | b']')
}

impl Digits {
    /// The digits of a [`Ascii::Separated`] body.
    pub(super) fn from_separated(rest: &[u8]) -> Digits {
        let mut d = Digits::new();
        let mut n = 0;
        for &c in rest {
            // `rest` is at most 250 bytes (checked by `ascii_front`), so `n` stays in bounds;
            // the `min` only lets the compiler drop the bounds check.
            if c.is_ascii_digit() {
                d.buf[n.min(DIGITS_CAP - 1)] = c;
                n += 1;
            }
        }
        d.len = n.min(DIGITS_CAP);
        d
    }
}

/// Fast front end. `Ok(Some(plus))` with `out` filled, `Err` for a definite rejection, or
/// `Ok(None)` when the input needs the full front end.
///
/// Its domain: no `;`, at most 250 bytes, and after the reference's extraction (skip to the
/// first plus or digit, drop unwanted trailing characters) only leading plus signs, `Nd`
/// digits and simple separators. On that domain no extension pattern, second-number cut,
/// `tel:` parameter or alpha mapping can apply, and `VALID_PHONE_NUMBER` reduces to "at
/// least three digits, or exactly two digits and nothing else".
pub(super) fn fast_front(s: &str, out: &mut Digits) -> Result<Option<bool>, PhoneError> {
    let b = s.as_bytes();
    if b.len() > MAX_INPUT_CHARS || memchr::memchr(b';', b).is_some() {
        return Ok(None);
    }
    // _extract_possible_number: skip to the first [+＋\d].
    let start = if b.first().is_some_and(|&c| c == b'+' || c.is_ascii_digit()) {
        0
    } else {
        match s.char_indices().find(|&(_, c)| is_plus(c) || nd_digit(c).is_some()) {
            Some((i, _)) => i,
            None => return Err(PhoneError::NotANumber),
        }
    };
    // Strip unwanted trailing characters.
    let mut end = b.len();
    while end > start {
        let c = b[end - 1];
        if c < 0x80 {
            if c.is_ascii_alphanumeric() || c == b'#' {
                break;
            }
            end -= 1;
        } else {
            // `end` is a char boundary and the byte before it is non-ASCII, so a char ends here.
            let Some(ch) = s[start..end].chars().next_back() else { break };
            if !is_unwanted_end(ch) {
                break;
            }
            end -= ch.len_utf8();
        }
    }
    let body = &s[start..end];
    let bb = body.as_bytes();
    let mut plus = false;
    let mut punct = false;
    let mut nchars = 0usize;
    out.len = 0;
    let mut i = 0;
    // Leading plus signs.
    while i < bb.len() {
        if bb[i] == b'+' {
            i += 1;
        } else if bb[i..].starts_with("\u{FF0B}".as_bytes()) {
            i += 3;
        } else {
            break;
        }
        plus = true;
        nchars += 1;
    }
    while i < bb.len() {
        let c = bb[i];
        if c.is_ascii_digit() {
            out.push(c);
            i += 1;
        } else if c < 0x80 {
            if is_simple_ascii_punct(c) {
                punct = true;
                i += 1;
            } else {
                return Ok(None);
            }
        } else {
            let Some(ch) = body[i..].chars().next() else { return Ok(None) };
            if let Some(d) = nd_digit(ch) {
                out.push(b'0' + d);
            } else if is_simple_punct(ch) {
                punct = true;
            } else {
                return Ok(None);
            }
            i += ch.len_utf8();
        }
        nchars += 1;
    }
    // _is_viable_phone_number.
    if nchars < 2 {
        return Err(PhoneError::NotANumber);
    }
    if out.len >= 3 || (out.len == 2 && !plus && !punct) {
        Ok(Some(plus))
    } else {
        Err(PhoneError::NotANumber)
    }
}

/// The top-level regexes of the reference, with Python's `\d` spelled as its exact `Nd` set.
struct Regexes {
    valid: regex::Regex,
    extn: regex::Regex,
    global_digits: regex::Regex,
    domainname: regex::Regex,
}

fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let mut nd = String::from("[");
        for &(lo, hi) in ND_RANGES.iter() {
            nd.push_str(&format!("\\x{{{lo:x}}}-\\x{{{hi:x}}}"));
        }
        nd.push(']');
        // Python's case-insensitive matching also equates `i` with dotless `ı` (sre's
        // `_equivalences`), which Unicode simple case folding (Rust) does not.
        let fix = |p: &str| {
            p.replace("\\d", &nd)
                .replace("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz\u{131}")
                .replace("ensi(", "ens[i\u{131}](")
                .replace("|int|", "|[i\u{131}]nt|")
        };
        let build = |p: String| {
            regex::RegexBuilder::new(&p)
                .size_limit(1 << 26)
                .build()
                // Invariant: fixed patterns from the reference, covered by every test run.
                .expect("reference pattern compiles")
        };
        Regexes {
            valid: build(format!("(?i)^(?:{})$", fix(VALID_PHONE_NUMBER))),
            extn: build(format!("(?i){}", fix(EXTN_PATTERN))),
            global_digits: build(fix(RFC3966_GLOBAL_NUMBER_DIGITS)),
            domainname: build(fix(RFC3966_DOMAINNAME)),
        }
    })
}

/// `_is_viable_phone_number`.
fn is_viable(s: &str) -> bool {
    s.chars().nth(1).is_some() && regexes().valid.is_match(s)
}

/// `_extract_possible_number`.
fn extract_possible_number(s: &str) -> &str {
    let Some((start, _)) = s.char_indices().find(|&(_, c)| is_plus(c) || nd_digit(c).is_some())
    else {
        return "";
    };
    let mut t = &s[start..];
    while let Some(c) = t.chars().next_back() {
        if !is_unwanted_end(c) {
            break;
        }
        t = &t[..t.len() - c.len_utf8()];
    }
    // _SECOND_NUMBER_START: [\\/] *x
    let tb = t.as_bytes();
    for (i, &c) in tb.iter().enumerate() {
        if c == b'\\' || c == b'/' {
            let mut j = i + 1;
            while j < tb.len() && tb[j] == b' ' {
                j += 1;
            }
            if j < tb.len() && tb[j] == b'x' {
                return &t[..i];
            }
        }
    }
    t
}

/// `_build_national_number_for_parsing`.
fn build_national_number(s: &str) -> Result<Cow<'_, str>, PhoneError> {
    const PHONE_CONTEXT: &str = ";phone-context=";
    let mut nn: Cow<'_, str> = match s.find(PHONE_CONTEXT) {
        Some(idx) => {
            let pcs = idx + PHONE_CONTEXT.len();
            let pc = match s[pcs..].find(';') {
                Some(e) => &s[pcs..pcs + e],
                None => &s[pcs..],
            };
            let r = regexes();
            if pc.is_empty() || !(r.global_digits.is_match(pc) || r.domainname.is_match(pc)) {
                return Err(PhoneError::NotANumber);
            }
            let mut n = String::new();
            if pc.starts_with('+') {
                n.push_str(pc);
            }
            let nstart = s.find("tel:").map_or(0, |i| i + 4);
            if nstart < idx {
                n.push_str(&s[nstart..idx]);
            }
            Cow::Owned(n)
        }
        None => Cow::Borrowed(extract_possible_number(s)),
    };
    if let Some(i) = nn.find(";isub=")
        && i > 0
    {
        match &mut nn {
            Cow::Borrowed(b) => *b = &b[..i],
            Cow::Owned(o) => o.truncate(i),
        }
    }
    Ok(nn)
}

/// `_maybe_strip_extension`: the number without a trailing extension.
fn strip_extension(s: &str) -> &str {
    if let Some(m) = regexes().extn.find(s)
        && is_viable(&s[..m.start()])
    {
        return &s[..m.start()];
    }
    s
}

/// `_normalize`: keypad letters when there are three or more ASCII letters, else digits.
fn normalize_digits(s: &str, out: &mut Digits) {
    out.len = 0;
    let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
    if letters >= 3 && !s.contains('\n') {
        for c in s.chars() {
            let mut up = c.to_uppercase();
            let (Some(u), None) = (up.next(), up.next()) else { continue };
            match u {
                '0'..='9' => out.push(u as u8),
                'A'..='Z' => out.push(b'0' + keypad(u as u8)),
                _ => {}
            }
        }
    } else {
        for c in s.chars() {
            if let Some(d) = nd_digit(c) {
                out.push(b'0' + d);
            }
        }
    }
}

/// ITU E.161 keypad digit of an upper-case ASCII letter.
fn keypad(c: u8) -> u8 {
    match c {
        b'A'..=b'C' => 2,
        b'D'..=b'F' => 3,
        b'G'..=b'I' => 4,
        b'J'..=b'L' => 5,
        b'M'..=b'O' => 6,
        b'P'..=b'S' => 7,
        b'T'..=b'V' => 8,
        _ => 9,
    }
}

/// Full front end (the reference's parse up to normalisation).
pub(super) fn full_front(s: &str, out: &mut Digits) -> Result<bool, PhoneError> {
    if s.len() > MAX_INPUT_CHARS && s.chars().nth(MAX_INPUT_CHARS).is_some() {
        return Err(PhoneError::TooLong);
    }
    let nn = build_national_number(s)?;
    if !is_viable(&nn) {
        return Err(PhoneError::NotANumber);
    }
    let nn = strip_extension(&nn);
    let plus = nn.starts_with(is_plus);
    normalize_digits(nn, out);
    Ok(plus)
}

/// Where a national number lives: a suffix of the input digits, or a transformed copy
/// (only regions with a national-prefix transform rule allocate).
enum Src {
    Suffix(usize),
    Owned(Vec<u8>),
}

/// Outcome of `_maybe_strip_national_prefix_carrier_code` relative to its input.
enum Strip {
    Same,
    Suffix(usize),
    Transformed(Vec<u8>),
}

impl Strip {
    fn apply<'a>(&'a self, number: &'a [u8]) -> &'a [u8] {
        match self {
            Strip::Same => number,
            Strip::Suffix(k) => &number[*k..],
            Strip::Transformed(v) => v,
        }
    }
}

/// `_maybe_strip_national_prefix_carrier_code` (the carrier code is not needed).
#[inline]
fn strip_national_prefix(number: &[u8], c: &Compiled, m: &Meta) -> Strip {
    // Many plans (NO, DK, IS, ...) have no national prefix at all: answer inline.
    if number.is_empty() || !c.has_national_prefix() {
        return Strip::Same;
    }
    strip_national_prefix_slow(number, c, m)
}

fn strip_national_prefix_slow(number: &[u8], c: &Compiled, m: &Meta) -> Strip {
    if let (Some(re), Some(rule)) = (&c.national_prefix_captures, m.national_prefix_transform_rule)
    {
        let Some(caps) = re.captures(number) else { return Strip::Same };
        let end = caps.get(0).map_or(0, |g| g.end());
        let viable_original = c.general_matches(number);
        let groups = re.captures_len() - 1;
        if groups == 0 || caps.get(groups).is_none() {
            if viable_original && !c.general_matches(&number[end..]) {
                return Strip::Same;
            }
            return Strip::Suffix(end);
        }
        // re.sub(pattern, rule, number, count=1): the first match is the one at the start.
        let mut t = Vec::with_capacity(number.len() + rule.len());
        let rb = rule.as_bytes();
        let mut i = 0;
        while i < rb.len() {
            if rb[i] == b'\\' && i + 1 < rb.len() {
                // The generator checks rules are digits and `\N` group references.
                let g = usize::from(rb[i + 1].wrapping_sub(b'0'));
                if let Some(m) = caps.get(g) {
                    t.extend_from_slice(m.as_bytes());
                }
                i += 2;
            } else {
                t.push(rb[i]);
                i += 1;
            }
        }
        t.extend_from_slice(&number[end..]);
        if viable_original && !c.general_matches(&t) {
            return Strip::Same;
        }
        Strip::Transformed(t)
    } else {
        let Some(end) = c.national_prefix.looking_at(number) else { return Strip::Same };
        if c.general_matches(number) && !c.general_matches(&number[end..]) {
            return Strip::Same;
        }
        Strip::Suffix(end)
    }
}

/// `_extract_country_code`: a 1-3 digit assigned code at the start (never starting with 0).
#[inline]
pub(super) fn extract_country_code(full: &[u8]) -> Option<(u16, usize)> {
    if full.first().is_none_or(|&c| c == b'0') {
        return None;
    }
    let mut cc = 0u16;
    for (i, &d) in full.iter().take(3).enumerate() {
        cc = cc * 10 + u16::from(d - b'0');
        if plans_for_cc(cc).is_some() {
            return Some((cc, i + 1));
        }
    }
    None
}

/// `_maybe_extract_country_code` on normalised digits `d` (`plus`: they followed a plus sign).
#[inline]
fn maybe_extract_country_code(
    plus: bool,
    d: &[u8],
    dm: &Meta,
    dc: &Compiled,
) -> Result<(u16, Src), PhoneError> {
    if d.is_empty() {
        return Ok((0, Src::Suffix(0)));
    }
    let full_start = if plus {
        Some(0)
    } else {
        // _parse_prefix_as_idd: strip only when the next digit is not 0.
        dc.idd.looking_at(d).filter(|&end| d.get(end) != Some(&b'0'))
    };
    if let Some(fs) = full_start {
        let full = &d[fs..];
        if full.len() <= MIN_NSN {
            return Err(PhoneError::TooShort);
        }
        return match extract_country_code(full) {
            Some((cc, l)) => Ok((cc, Src::Suffix(fs + l))),
            None => Err(PhoneError::InvalidCountryCode),
        };
    }
    let (ccd, ccl) = dc.cc_digits;
    let ccl = usize::from(ccl);
    if super::meta::starts_with(d, &ccd[..ccl]) {
        let pot = &d[ccl..];
        let s = strip_national_prefix(pot, dc, dm);
        let stripped = s.apply(pot);
        if (!dc.general_matches(d) && dc.general_matches(stripped))
            || dm.test_len(d.len()) == LenCheck::TooLong
        {
            let src = match s {
                Strip::Same => Src::Suffix(ccl),
                Strip::Suffix(k) => Src::Suffix(ccl + k),
                Strip::Transformed(t) => Src::Owned(t),
            };
            return Ok((dm.country_code, src));
        }
    }
    Ok((0, Src::Suffix(0)))
}

/// The core: country code, national prefix, validity, for normalised ASCII digits `d` read
/// with default plan `region`.
pub(super) fn core(plus: bool, d: &[u8], region: u16) -> Result<E164, PhoneError> {
    let (dm, dc) = plan(region);
    let (cc, src) = match maybe_extract_country_code(plus, d, dm, dc) {
        Ok(r) => r,
        Err(PhoneError::InvalidCountryCode) if plus => {
            // Strip the plus and try again.
            let r = maybe_extract_country_code(false, d, dm, dc)?;
            if r.0 == 0 {
                return Err(PhoneError::InvalidCountryCode);
            }
            r
        }
        Err(e) => return Err(e),
    };
    let (cc, nn, m, c) = if cc != 0 {
        let nn: &[u8] = match src {
            Src::Suffix(k) => &d[k..],
            Src::Owned(ref t) => t,
        };
        // The number's main region (first in the reference's list) drives the rest.
        let main =
            plans_for_cc(cc).and_then(|p| p.first()).ok_or(PhoneError::InvalidCountryCode)?;
        let (m, c) = plan(*main);
        (cc, nn, m, c)
    } else {
        (dm.country_code, d, dm, dc)
    };
    if nn.len() < MIN_NSN {
        return Err(PhoneError::TooShort);
    }
    let s = strip_national_prefix(nn, c, m);
    let nn: &[u8] = {
        let pot = s.apply(nn);
        match m.test_len(pot.len()) {
            LenCheck::TooShort | LenCheck::LocalOnly | LenCheck::InvalidLength => nn,
            LenCheck::Possible | LenCheck::TooLong => pot,
        }
    };
    if nn.len() < MIN_NSN {
        return Err(PhoneError::TooShort);
    }
    if nn.len() > MAX_NSN {
        return Err(PhoneError::TooLong);
    }
    if !is_valid_number(cc, nn) {
        return Err(PhoneError::Invalid);
    }
    // A country code has at most 3 digits and a national number at most 17, but valid numbers
    // have at most 19 digits in all (checked when E164 was sized), so this cannot overflow;
    // the guard keeps it so even if metadata changed.
    if nn.len() + usize::from(cc >= 10) + usize::from(cc >= 100) > 18 {
        return Err(PhoneError::TooLong);
    }
    let v = nn.iter().fold(u64::from(cc), |v, &ch| v * 10 + u64::from(ch - b'0'));
    E164::from_u64(v).ok_or(PhoneError::Invalid)
}

/// `is_valid_number`: find the number's region (`region_code_for_number`), then test it.
#[inline]
pub(super) fn is_valid_number(cc: u16, nsn: &[u8]) -> bool {
    let Some(plans) = plans_for_cc(cc) else { return false };
    if let [only] = plans {
        let (m, c) = plan(*only);
        return c.is_valid(m, nsn);
    }
    for &p in plans {
        let (m, c) = plan(p);
        match c.leading_digits_match(nsn) {
            Some(true) => return c.is_valid(m, nsn),
            Some(false) => {}
            None => {
                if c.is_valid(m, nsn) {
                    return true;
                }
            }
        }
    }
    false
}
