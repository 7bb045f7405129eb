//! The library's error type.

use crate::phone::PhoneError;

/// Every error the sendfilter library returns.
///
/// `Display` stays short; wrapped causes are reachable through `source()`, so
/// `{:#}` (anyhow) prints the chain once without repeats.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// A phone number could not be normalised.
    #[error("invalid phone number: {0}")]
    Phone(#[from] PhoneError),
    /// A region code given by the user is not known.
    #[error(transparent)]
    UnknownRegion(#[from] crate::phone::UnknownRegion),
    /// The consent store failed (corruption, I/O, invalid input).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The CSV input cannot be used at all (no header, a missing column).
    #[error("CSV line {line}: {detail}")]
    Csv {
        /// 1-based input line.
        line: u64,
        /// What is wrong and what to do.
        detail: String,
    },
    /// A record longer than [`crate::bounded::MAX_RECORD`] (input without line ends, or
    /// a CSV quote never closed): the run stopped there, after handling every record
    /// before it.
    #[error(transparent)]
    RecordTooLong(#[from] crate::bounded::RecordTooLong),
    /// The brand registry cannot be read.
    #[error(transparent)]
    Brands(#[from] crate::store::brands::BrandError),
    /// A brand name that cannot be canonical (see [`crate::brand::canonical`]).
    #[error("{0}")]
    Brand(crate::brand::BrandNameError),
    /// Options that contradict each other.
    #[error("{0}")]
    Options(String),
    /// The opt-out footer is missing or its template is wrong.
    #[error(transparent)]
    Footer(#[from] crate::sms::FooterError),
}
