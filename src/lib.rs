//! # sendfilter
//!
//! Decides, for every recipient of an SMS campaign, whether a marketing message may
//! legally be sent under GDPR and Nordic marketing law, and records why.
//!
//! The crate is a library first; the `sendfilter` binary is a thin shell over it.
//!
//! ## Lifecycle
//!
//! ```text
//! number text ──phone::normalize──▶ E164 ──Filter::decide──▶ Verdict { e164, reason }
//!                                              ▲
//! event (stop, consent) ─▶ journal (fsync) ─▶ compaction ─▶ snapshot (mmap, checksummed)
//! ```
//!
//! * [`phone`] turns any written form of a phone number into E.164 or a typed error.
//! * [`pipeline`] runs per-record work on all cores while keeping input order.
//! * [`standing`] is the contract between the store and the filter.
#![deny(missing_docs)]

pub mod decision;
pub mod error;
pub mod filter;
pub mod phone;
pub mod pipeline;
pub mod report;
pub mod sms;
pub mod standing;
pub mod timefmt;

pub use decision::{Class, Reason, Verdict};
pub use error::Error;
pub use filter::{Filter, FilterOptions, Format, RunOptions, Sinks, run_with};
pub use phone::{E164, PhoneError, Region};
pub use report::{Counts, Report};
pub use standing::{ConsentState, MemorySource, Standing, StandingSource, Timestamp};
