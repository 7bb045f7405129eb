//! E.164 normalisation of phone numbers.
//!
//! PLACEHOLDER: the real normaliser (a port of libphonenumber's parse + validity rules over
//! generated metadata tables) replaces this module. The public API below is the contract.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

/// A phone number in E.164 form, stored as the integer of its digits (without `+`).
///
/// Country calling codes never start with 0, so the integer is a unique key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct E164(NonZeroU64);

impl E164 {
    /// Builds from the digits as an integer, e.g. `4791234567`. Returns `None` for 0 or
    /// more than 15 digits.
    pub fn from_u64(v: u64) -> Option<E164> {
        if v >= 1_000_000_000_000_000 {
            return None;
        }
        NonZeroU64::new(v).map(E164)
    }
    /// The digits as an integer (no `+`).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
    /// Writes `+digits` into `out`, returning the number of bytes written (at most 16).
    pub fn write_to(self, out: &mut [u8; 16]) -> usize {
        let mut tmp = [0u8; 20];
        let mut v = self.0.get();
        let mut i = tmp.len();
        while v > 0 {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let n = tmp.len() - i;
        out[0] = b'+';
        out[1..=n].copy_from_slice(&tmp[i..]);
        n + 1
    }
    /// A masked form for logs and errors, e.g. `+47*****567`.
    pub fn masked(self) -> String {
        let s = self.to_string();
        let keep_head = 3.min(s.len());
        let keep_tail = 3.min(s.len() - keep_head);
        let stars = s.len() - keep_head - keep_tail;
        format!("{}{}{}", &s[..keep_head], "*".repeat(stars), &s[s.len() - keep_tail..])
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// A two-letter region (ISO 3166-1 alpha-2) used for national-format numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Region([u8; 2]);

impl Region {
    /// Norway, the default region.
    pub const NO: Region = Region(*b"NO");
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The two bytes are ASCII uppercase letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for Region {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Region, crate::Error> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Region([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
        } else {
            Err(crate::Error::UnknownRegion(s.to_string()))
        }
    }
}

/// Why a number could not be normalised.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// The input is not a phone number at all.
    #[error("not a phone number")]
    NotANumber,
    /// The number parses but is not valid by the numbering plan metadata.
    #[error("not a valid number")]
    Invalid,
}

/// Normalises one written phone number to E.164, reading national forms by `region`.
///
/// # Errors
/// [`PhoneError`] when the input is not a valid phone number.
pub fn normalize(input: &[u8], region: Region) -> Result<E164, PhoneError> {
    let _ = region;
    let s = input.trim_ascii();
    let digits = s.strip_prefix(b"+").ok_or(PhoneError::NotANumber)?;
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(PhoneError::NotANumber);
    }
    let v = digits.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
    E164::from_u64(v).ok_or(PhoneError::Invalid)
}
