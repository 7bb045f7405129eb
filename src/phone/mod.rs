//! E.164 normalisation of phone numbers, exactly as Google's libphonenumber judges them.
//!
//! [`normalize`] turns any written form of a phone number (`+47 912 34 567`, `0047…`,
//! national `912 34 567`, `070-123 45 67` with trunk prefix, `tel:` URIs, full-width digits,
//! Unicode spaces, …) into an [`E164`], or a typed [`PhoneError`]. It is a port of
//! libphonenumber's `parse` followed by `isValidNumber`, driven by its metadata (version
//! [`METADATA_VERSION`]) compiled into static tables, so where it answers with a number it
//! answers with the same number the reference does.
//!
//! ```
//! use sendfilter::phone::{normalize, Region};
//!
//! let se: Region = "SE".parse()?;
//! assert_eq!(normalize(b"070-123 45 67", se)?.to_string(), "+46701234567");
//! assert_eq!(normalize(b"912 34 567", Region::NO)?.to_string(), "+4791234567");
//! assert_eq!(normalize("+47\u{a0}912\u{a0}34\u{a0}567".as_bytes(), Region::NO)?.as_u64(), 4791234567);
//! assert!(normalize(b"12345", Region::NO).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is fast
//! The lines campaign lists are made of (`+4791234567`, `004791234567`, `912 34 567`,
//! `070-123 45 67`: ASCII digits, at most one leading `+`, simple separators, at most 20
//! digits) take a fast path (`fast.rs`): one pass over the bytes, a compile-time table for
//! the country code, and validity as one lookup of the first three national digits in a
//! per-country-code table that answers libphonenumber's `isValidNumber` for every region
//! sharing the code at once, then usually one more load (`lendfa.rs`). The tables are
//! derived on first use of a code (well under a millisecond each) from the same compiled
//! metadata as the general path, and property tests hold the two paths to the same answer.
//! No allocation; about 15 ns per clean number on one core.
//!
//! Other input with digits and the usual separators (also Unicode ones) takes the
//! byte-level front end of the general path: no allocation, and validity is one walk of a
//! per-region DFA (built on first use of a region, a few milliseconds). Input with letters,
//! extensions, `;phone-context=` parameters or other unusual characters takes the faithful
//! regex-based path, which is some microseconds per number. [`normalize_reference`] is the
//! general path alone.
//!
//! # Known quirks (all inherited from the reference, on purpose)
//! * Leading text is skipped (`Tel: +47 …` works) and keypad letters are mapped when there
//!   are three or more (`call 912 34 567 now` becomes digits and is usually rejected).
//! * A thin space (U+2009) inside a number makes it invalid; a no-break space does not.
//! * Valid numbers can have up to 19 digits (German and Japanese long toll-free ranges).

mod fast;
mod lendfa;
mod meta;
// Generated data, documented in the generator; left exactly as generated (not rustfmt'd)
// so re-running the generator reproduces the committed file byte for byte.
#[allow(missing_docs)]
#[rustfmt::skip]
mod metadata_gen;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

pub use metadata_gen::METADATA_VERSION;

/// A phone number in E.164 form, stored as the integer of its digits (without `+`).
///
/// Country calling codes never start with 0, so the integer is a unique key. Valid numbers
/// have at most 19 digits, so every one fits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct E164(NonZeroU64);

impl E164 {
    /// Longest written form, `+` and 19 digits: the size [`E164::write_to`] needs.
    pub const MAX_WRITTEN_LEN: usize = 20;

    /// Builds from the digits as an integer, e.g. `4791234567`. Returns `None` for 0 or
    /// more than 19 digits.
    ///
    /// ```
    /// # use sendfilter::E164;
    /// assert_eq!(E164::from_u64(4791234567).map(|n| n.to_string()), Some("+4791234567".into()));
    /// assert_eq!(E164::from_u64(0), None);
    /// ```
    pub fn from_u64(v: u64) -> Option<E164> {
        if v >= 10_000_000_000_000_000_000 {
            return None;
        }
        NonZeroU64::new(v).map(E164)
    }

    /// The digits as an integer (no `+`).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// Writes `+digits` into `out`, returning the number of bytes written (at most
    /// [`E164::MAX_WRITTEN_LEN`]).
    ///
    /// ```
    /// # use sendfilter::E164;
    /// let mut buf = [0u8; E164::MAX_WRITTEN_LEN];
    /// let n = E164::from_u64(4791234567).unwrap().write_to(&mut buf);
    /// assert_eq!(&buf[..n], b"+4791234567");
    /// ```
    pub fn write_to(self, out: &mut [u8; E164::MAX_WRITTEN_LEN]) -> usize {
        let mut v = self.0.get();
        let mut n = 1;
        while n < 19 && v >= POW10[n] {
            n += 1;
        }
        out[0] = b'+';
        // Digits are written backwards straight into place, two at a time (half the chain
        // of divisions), with no temporary: this sits on the CLI's hot path.
        let mut i = n + 1;
        while v >= 100 {
            let r = (v % 100) as usize * 2;
            v /= 100;
            out[i - 2..i].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
            i -= 2;
        }
        if v >= 10 {
            let r = v as usize * 2;
            out[i - 2..i].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
        } else {
            out[i - 1] = b'0' + v as u8;
        }
        n + 1
    }

    /// The number of digits of the country calling code (1–3); `None` when no assigned
    /// code starts the number.
    pub fn country_code_len(self) -> Option<usize> {
        let digits = self.0.to_string();
        parse::extract_country_code(digits.as_bytes()).map(|(_, len)| len)
    }

    /// The country calling code (`47` for `+4791234567`), 0 when none is assigned.
    ///
    /// ```
    /// # use sendfilter::E164;
    /// assert_eq!(E164::from_u64(4540100011).unwrap().country_code(), 45);
    /// ```
    #[inline]
    pub fn country_code(self) -> u16 {
        fast::calling_code(self.as_u64())
    }

    /// A masked form for logs and errors, e.g. `+47*****567`.
    pub fn masked(self) -> String {
        // Written in place (one allocation): it is on `inbound`'s per-message path.
        let mut buf = [0u8; E164::MAX_WRITTEN_LEN];
        let len = self.write_to(&mut buf);
        let keep_head = 3.min(len);
        let keep_tail = 3.min(len - keep_head);
        buf[keep_head..len - keep_tail].fill(b'*');
        // `+`, digits and `*`: ASCII.
        buf[..len].iter().map(|&b| char::from(b)).collect()
    }
}

/// "00" to "99", for writing two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Powers of ten up to 10^18.
const POW10: [u64; 19] = {
    let mut p = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// A region (ISO 3166-1 alpha-2 code) that the numbering-plan metadata knows, used to read
/// numbers written in national form.
///
/// Parsing checks the code against the metadata: `"XX".parse::<Region>()` is an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Region {
    code: [u8; 2],
    /// Index of the region's plan in the metadata (derived from `code`).
    plan: u16,
}

impl Region {
    /// Norway, the default region.
    pub const NO: Region = Region { code: *b"NO", plan: metadata_gen::NO_INDEX };

    /// The region's country calling code (`NO` → 47).
    pub fn country_code(&self) -> u16 {
        meta::country_code_of(self.plan)
    }

    /// The main region of country calling code `cc` (47 → `NO`), if it has one (a
    /// non-geographic code such as 800 has none).
    pub fn of_country_code(cc: u16) -> Option<Region> {
        let main = *meta::plans_for_cc(cc)?.first()?;
        main_region_code(main).and_then(|c| std::str::from_utf8(&c).ok()?.parse().ok())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The two bytes are ASCII uppercase letters by construction.
        std::str::from_utf8(&self.code).unwrap_or("??")
    }
}

/// The two-letter code of plan `idx`, unless it is a non-geographic plan (`001`).
fn main_region_code(idx: u16) -> Option<[u8; 2]> {
    match meta::plan_id(idx).as_bytes() {
        &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some([a, b]),
        _ => None,
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A region code that is not a region of the numbering-plan metadata.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown region code {0:?}: use a two-letter ISO 3166 code such as NO, SE, DK")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    /// Parses a two-letter code (any case, surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`UnknownRegion`] when the code is not a region of the metadata.
    fn from_str(s: &str) -> Result<Region, UnknownRegion> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            let code = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
            if let Some(plan) = meta::region_index(code) {
                return Ok(Region { code, plan });
            }
        }
        Err(UnknownRegion(s.to_string()))
    }
}

/// Why a number could not be normalised. Never carries the number itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// The input is not a phone number at all (no digits, letters or symbols in the wrong
    /// places, malformed `tel:` parameters).
    #[error("not a phone number")]
    NotANumber,
    /// The number parses but is not valid by the numbering plan metadata.
    #[error("not a valid number")]
    Invalid,
    /// Too few digits for a number (also: too few after an international prefix).
    #[error("too short to be a phone number")]
    TooShort,
    /// More than 250 characters, or a national number longer than 17 digits.
    #[error("too long to be a phone number")]
    TooLong,
    /// The digits after `+` or an international prefix start with no assigned country code.
    #[error("unknown country calling code")]
    InvalidCountryCode,
}

/// Normalises one written phone number to E.164, reading national forms by `region`.
///
/// The answer is libphonenumber's: `parse(input, region)` then `is_valid_number`. Bytes that
/// are not UTF-8 are read as U+FFFD. Never panics and never allocates for ordinary input.
///
/// # Errors
/// [`PhoneError`] when the input is not a valid phone number.
///
/// ```
/// use sendfilter::phone::{normalize, PhoneError, Region};
///
/// assert_eq!(normalize(b"004791234567", Region::NO)?.to_string(), "+4791234567");
/// assert_eq!(normalize(b"47667814", Region::NO)?.to_string(), "+4747667814");
/// assert_eq!(normalize(b"+47 912 34 56", Region::NO), Err(PhoneError::Invalid));
/// # Ok::<(), PhoneError>(())
/// ```
#[inline]
pub fn normalize(input: &[u8], region: Region) -> Result<E164, PhoneError> {
    match fast::normalize(input, region) {
        Some(answer) => answer,
        None => normalize_reference(input, region),
    }
}

/// The same as [`normalize`] without its fast path (`phone::fast`): the general port of
/// libphonenumber's parse and validation, which answers every input the fast path leaves
/// alone. Exists so tests and benches can check the fast path against it.
#[doc(hidden)]
pub fn normalize_reference(input: &[u8], region: Region) -> Result<E164, PhoneError> {
    match parse::ascii_front(input) {
        parse::Ascii::Borrowed(plus, d) => return parse::core(plus, d, region.plan),
        parse::Ascii::Separated(plus, rest) => {
            let digits = parse::Digits::from_separated(rest);
            return parse::core(plus, digits.as_slice(), region.plan);
        }
        parse::Ascii::Reject(e) => return Err(e),
        parse::Ascii::Unsure => {}
    }
    let mut digits = parse::Digits::new();
    let text = match std::str::from_utf8(input) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(input),
    };
    let plus = match parse::fast_front(&text, &mut digits)? {
        Some(plus) => plus,
        None => parse::full_front(&text, &mut digits)?,
    };
    parse::core(plus, digits.as_slice(), region.plan)
}

/// A default region plus fallback regions, e.g. `NO,SE`.
///
/// A number is read with the first region; only when that gives no valid number is it
/// read again with each fallback in order, and the first valid reading wins. This is for
/// lists that mix national forms of two countries (Norwegian `912 34 567` beside Swedish
/// `070-123 45 67`): numbers valid in the default region are never re-read, and numbers
/// written internationally read the same in every region. When no region gives a valid
/// number, the default region's error is returned.
///
/// ```
/// use sendfilter::phone::Regions;
/// let r: Regions = "NO,SE".parse()?;
/// assert_eq!(r.normalize(b"070-123 45 67")?.to_string(), "+46701234567");
/// assert_eq!(r.normalize(b"912 34 567")?.to_string(), "+4791234567");
/// assert!("NO".parse::<Regions>()?.normalize(b"070-123 45 67").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regions {
    primary: Region,
    fallbacks: Vec<Region>,
}

impl Regions {
    /// A default region with fallbacks, tried in order.
    pub fn new(primary: Region, fallbacks: Vec<Region>) -> Regions {
        Regions { primary, fallbacks }
    }

    /// The default region (also what picks, e.g., the footer's language).
    pub fn primary(&self) -> Region {
        self.primary
    }

    /// The fallback regions, in the order they are tried.
    pub fn fallbacks(&self) -> &[Region] {
        &self.fallbacks
    }

    /// Normalises `input` with the default region, then with each fallback.
    ///
    /// # Errors
    /// The default region's [`PhoneError`] when no region gives a valid number.
    #[inline]
    pub fn normalize(&self, input: &[u8]) -> Result<E164, PhoneError> {
        fast::normalize_regions(input, self)
    }
}

impl From<Region> for Regions {
    fn from(primary: Region) -> Regions {
        Regions { primary, fallbacks: Vec::new() }
    }
}

impl std::str::FromStr for Regions {
    type Err = UnknownRegion;

    /// Parses `NO` or a comma-separated list such as `NO,SE`.
    fn from_str(s: &str) -> Result<Regions, UnknownRegion> {
        let mut it = s.split(',').map(str::parse::<Region>);
        let primary = it.next().unwrap_or_else(|| Err(UnknownRegion(s.into())))?;
        let fallbacks = it.collect::<Result<Vec<_>, _>>()?;
        Ok(Regions { primary, fallbacks })
    }
}

impl fmt::Display for Regions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.primary)?;
        for r in &self.fallbacks {
            write!(f, ",{r}")?;
        }
        Ok(())
    }
}

/// The same as [`normalize`] but skipping the byte-level ASCII front end (the UTF-8 fast
/// front end, then the general one). For tests of the fast paths.
#[doc(hidden)]
pub fn normalize_utf8_path(input: &[u8], region: Region) -> Result<E164, PhoneError> {
    let mut digits = parse::Digits::new();
    let text = String::from_utf8_lossy(input);
    let plus = match parse::fast_front(&text, &mut digits)? {
        Some(plus) => plus,
        None => parse::full_front(&text, &mut digits)?,
    };
    parse::core(plus, digits.as_slice(), region.plan)
}

/// The same as [`normalize`] but always through the general (regex-based) front end.
/// Exists so tests and benches can check the fast paths against it.
#[doc(hidden)]
pub fn normalize_reference_path(input: &[u8], region: Region) -> Result<E164, PhoneError> {
    let mut digits = parse::Digits::new();
    let text = String::from_utf8_lossy(input);
    let plus = parse::full_front(&text, &mut digits)?;
    parse::core(plus, digits.as_slice(), region.plan)
}
