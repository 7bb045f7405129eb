//! Deciding as of another time than the clock (`--now`): the instants accepted, and when
//! one counts as an override.
//!
//! A `--now` far from the clock changes decisions (a consent that expired since is valid
//! again in the past), so it is for replays and tests: the CLI refuses it to roles that
//! may not replay ([`crate::store::access::Action::Replay`], not `campaign`) and stamps it
//! in the report (`now_overridden`), the summary line and the audit log. An instant before
//! [`EARLIEST`] or after [`LATEST`] is refused outright: no store holds evidence from then.

use crate::standing::Timestamp;
use crate::timefmt;

/// A `--now` more than this many seconds from the clock is an override (an hour: clocks
/// and schedulers drift, a replay is days or years away).
pub const MAX_SKEW_SECONDS: i64 = 3_600;
/// The earliest `--now` accepted: 2000-01-01T00:00:00Z.
pub const EARLIEST: Timestamp = 946_684_800;
/// The latest `--now` accepted: 2100-01-01T00:00:00Z.
pub const LATEST: Timestamp = 4_102_444_800;

/// Parses a `--now` value: RFC 3339, between [`EARLIEST`] and [`LATEST`].
///
/// # Errors
/// A short description for text that is not RFC 3339 or an instant out of range.
///
/// ```
/// use sendfilter::replay::parse_now;
/// assert!(parse_now("2026-06-01T00:00:00Z").is_ok());
/// assert!(parse_now("1970-01-01T00:00:00Z").unwrap_err().contains("2000"));
/// ```
pub fn parse_now(s: &str) -> Result<Timestamp, String> {
    let t = timefmt::parse_rfc3339(s)?;
    if !(EARLIEST..LATEST).contains(&t) {
        return Err(format!(
            "{} is outside the years 2000 to 2099: give the instant to decide at (RFC 3339, \
             e.g. 2026-06-01T12:00:00Z), or leave --now out to use the clock",
            timefmt::format_rfc3339(t)
        ));
    }
    Ok(t)
}

/// True when `now` is more than [`MAX_SKEW_SECONDS`] from `clock`.
///
/// ```
/// assert!(!sendfilter::replay::is_overridden(1_000_000, 1_000_000 + 3_600));
/// assert!(sendfilter::replay::is_overridden(1_000_000, 1_000_000 + 3_601));
/// ```
pub fn is_overridden(now: Timestamp, clock: Timestamp) -> bool {
    now.abs_diff(clock) > MAX_SKEW_SECONDS.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_skew() {
        for bad in ["1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "x"] {
            assert!(parse_now(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_now("2000-01-01T00:00:00Z"), Ok(EARLIEST));
        let now = timefmt::now();
        assert!(!is_overridden(now, now));
        assert!(!is_overridden(now - 3_600, now));
        assert!(is_overridden(now - 3_601, now));
        assert!(is_overridden(now + 3_601, now));
    }
}
