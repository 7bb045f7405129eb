//! The one canonical spelling of a brand name.
//!
//! A brand name enters from many places (`stop`, `consent`, imports, inbound replies, the
//! brand registry, `filter --brand`, `policy`, `expiring`, the library API). Brands are
//! matched exactly, so two spellings of one name that a person cannot tell apart
//! (`" ACME "` and `ACME`; `Café` with a composed `é` and with `e` + a combining accent)
//! must become one before they are stored or looked up: else a STOP acknowledged under
//! one spelling would not block the other. [`canonical`] is that one transformation:
//!
//! * leading and trailing white space is removed;
//! * the name is put in Unicode Normalization Form C (NFC, composed characters), with the
//!   `unicode-normalization` crate;
//! * names that cannot be canonical are refused with a reason: empty (after trimming),
//!   `*` (it means *every brand*, only in a stop: see [`canonical_stop`]), control
//!   characters, more than [`MAX_LEN`] bytes.
//!
//! Case is kept (`ACME` and `acme` stay two names); a stop under another case or another
//! spelling of the same name still applies ([`same_name`]), the safe direction, as do the
//! stops of journals written before names were canonical.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The brand name meaning "every brand" (only in a stop).
pub const EVERY_BRAND: &str = "*";

/// Longest brand name, in bytes (the store's limit on a text field).
pub const MAX_LEN: usize = 1024;

/// Why a brand name cannot be canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrandNameError {
    /// Empty, or only white space.
    #[error("the brand name is empty: name a brand, such as ACME")]
    Empty,
    /// `*`, which means every brand and is only allowed for a stop.
    #[error(
        "`*` is not a brand name: it means every brand and is only allowed for a stop \
         (sendfilter stop without --brand)"
    )]
    Every,
    /// Holds a control character (a tab, a line break, …).
    #[error("the brand name contains a control character (a tab, line break or similar)")]
    ControlChar,
    /// Longer than [`MAX_LEN`] bytes.
    #[error("the brand name is longer than {MAX_LEN} bytes")]
    TooLong,
}

/// The canonical form of `name`: trimmed, NFC. Borrowed when `name` already is canonical
/// (the common case costs a scan, no allocation).
///
/// ```
/// use sendfilter::brand::{canonical, BrandNameError};
/// assert_eq!(canonical(" ACME ").unwrap(), "ACME");
/// assert_eq!(canonical("Cafe\u{301}").unwrap(), "Caf\u{e9}");
/// assert_eq!(canonical("  "), Err(BrandNameError::Empty));
/// assert_eq!(canonical("*"), Err(BrandNameError::Every));
/// ```
///
/// # Errors
/// [`BrandNameError`] for a name that cannot be canonical.
pub fn canonical(name: &str) -> Result<Cow<'_, str>, BrandNameError> {
    let c = normalize(name);
    check(&c)?;
    Ok(c)
}

/// Like [`canonical`], but `*` (every brand) is accepted: the brand of a stop.
///
/// # Errors
/// [`BrandNameError`] other than [`BrandNameError::Every`].
pub fn canonical_stop(name: &str) -> Result<Cow<'_, str>, BrandNameError> {
    match canonical(name) {
        Err(BrandNameError::Every) => Ok(Cow::Borrowed(EVERY_BRAND)),
        other => other,
    }
}

/// True when `name` is already canonical (what the store accepts in an event).
pub fn is_canonical(name: &str) -> bool {
    matches!(canonical(name), Ok(Cow::Borrowed(c)) if c.len() == name.len())
}

/// Trim and NFC without refusals (the transformation alone). A name that [`canonical`]
/// refuses stays refused-looking (empty, `*`, control characters), so looking it up finds
/// no consent: used where an error cannot be returned (see [`crate::Filter::new`]).
pub fn normalize(name: &str) -> Cow<'_, str> {
    let t = name.trim();
    if t.is_ascii() || is_nfc_quick(t.chars()) == IsNormalized::Yes {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(t.nfc().collect())
    }
}

fn check(c: &str) -> Result<(), BrandNameError> {
    if c.is_empty() {
        Err(BrandNameError::Empty)
    } else if c == EVERY_BRAND {
        Err(BrandNameError::Every)
    } else if c.chars().any(char::is_control) {
        Err(BrandNameError::ControlChar)
    } else if c.len() > MAX_LEN {
        Err(BrandNameError::TooLong)
    } else {
        Ok(())
    }
}

/// True when `a` and `b` are different spellings of one brand name: equal after trimming,
/// NFC and ignoring case (`acme`, `" ACME "`, `ACME`). A stop recorded under one applies
/// to the other (fail safe); consents do not.
pub fn same_name(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let (ta, tb) = (a.trim(), b.trim());
    if ta.is_ascii() && tb.is_ascii() {
        return ta.eq_ignore_ascii_case(tb);
    }
    fold(ta) == fold(tb)
}

/// The key under which [`same_name`] spellings meet: `same_name(a, b)` exactly when
/// `a != b` and `fold_key(a) == fold_key(b)` (trimmed, NFC, lower case).
pub fn fold_key(s: &str) -> String {
    fold(s.trim())
}

/// The form [`same_name`] compares: NFC, then lower case.
fn fold(s: &str) -> String {
    normalize(s).chars().flat_map(char::to_lowercase).collect()
}

/// A cheap test that `candidate` may be a [`same_name`] spelling of `brand`, run before
/// [`same_name`] over many strings (a snapshot's every text): for an ASCII brand, an ASCII
/// candidate has the same trimmed length, and any candidate at most 4 bytes per character
/// of the brand (a character that NFC or lower case turns into ASCII, such as the Kelvin
/// sign, takes at most that many).
#[inline]
pub fn may_be_same_name(candidate: &str, brand: &str) -> bool {
    let (c, b) = (candidate.trim(), brand.trim());
    if !b.is_ascii() {
        return true;
    }
    if c.is_ascii() { c.len() == b.len() } else { c.len() >= b.len() && c.len() <= 4 * b.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_trims_and_composes() {
        assert!(matches!(canonical("ACME"), Ok(Cow::Borrowed("ACME"))));
        assert_eq!(canonical("\u{a0}ACME\t ").unwrap(), "ACME");
        assert_eq!(canonical("Cafe\u{301}").unwrap(), "Caf\u{e9}");
        assert_eq!(canonical("Caf\u{e9}").unwrap(), "Caf\u{e9}");
        assert_eq!(canonical("Ac me").unwrap(), "Ac me", "inner spaces are kept");
        assert_eq!(canonical("acme").unwrap(), "acme", "case is kept");
    }

    #[test]
    fn names_that_cannot_be_canonical_are_refused() {
        assert_eq!(canonical(""), Err(BrandNameError::Empty));
        assert_eq!(canonical(" \t\n"), Err(BrandNameError::Empty));
        assert_eq!(canonical(" * "), Err(BrandNameError::Every));
        assert_eq!(canonical("AC\u{7}ME"), Err(BrandNameError::ControlChar));
        assert_eq!(canonical("AC\nME"), Err(BrandNameError::ControlChar));
        assert_eq!(canonical(&"A".repeat(MAX_LEN + 1)), Err(BrandNameError::TooLong));
        assert!(BrandNameError::Every.to_string().contains("every brand"));
    }

    #[test]
    fn a_stop_may_name_every_brand() {
        assert_eq!(canonical_stop("*").unwrap(), "*");
        assert_eq!(canonical_stop(" * ").unwrap(), "*");
        assert_eq!(canonical_stop(" ACME").unwrap(), "ACME");
        assert_eq!(canonical_stop(""), Err(BrandNameError::Empty));
    }

    #[test]
    fn canonical_check() {
        assert!(is_canonical("ACME") && is_canonical("Caf\u{e9}"));
        assert!(!is_canonical(" ACME") && !is_canonical("Cafe\u{301}") && !is_canonical(""));
        assert!(!is_canonical("*"));
    }

    #[test]
    fn spellings_of_one_name() {
        assert!(same_name(" ACME ", "ACME"));
        assert!(same_name("acme", "ACME"));
        assert!(same_name("cafe\u{301}", "Caf\u{e9}"));
        assert!(!same_name("ACME", "ACME"), "the same spelling is not another one");
        assert!(!same_name("ACMEX", "ACME"));
        assert!(may_be_same_name(" ACME ", "ACME") && !may_be_same_name("ACMEX", "ACME"));
        assert!(may_be_same_name("Cafe\u{301}", "Caf\u{e9}"));
        // The Kelvin sign is K under NFC: a non-ASCII spelling of an ASCII name.
        assert!(same_name("\u{212a}EA", "KEA") && may_be_same_name("\u{212a}EA", "KEA"));
        assert!(!may_be_same_name("web form, Troms\u{f8} kundesenter", "ACME"));
    }
}
