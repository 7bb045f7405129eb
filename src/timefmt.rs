//! RFC 3339 timestamps at the edges; the library works in [`Timestamp`] seconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::standing::Timestamp;

/// Parses an RFC 3339 timestamp (`2026-11-23T10:00:00Z`, offsets allowed) to Unix seconds.
///
/// # Errors
/// Returns a short description when the text is not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

/// Formats Unix seconds as RFC 3339 in UTC, e.g. `2026-11-23T10:00:00Z`.
pub fn format_rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{t}"))
}

/// The current time in Unix seconds.
pub fn now() -> Timestamp {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-23T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-23T11:00:00+01:00").unwrap(), t);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "2026-11-23", "yesterday", "2026-13-01T00:00:00Z"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
