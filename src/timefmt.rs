//! RFC 3339 timestamps at the edges; the library works in [`Timestamp`] seconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::standing::Timestamp;

/// Parses an RFC 3339 timestamp (`2026-11-23T10:00:00Z`, offsets allowed) to Unix seconds.
///
/// # Errors
/// Returns a short description when the text is not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    if let Some(t) = parse_utc_seconds(s.as_bytes()) {
        return Ok(t);
    }
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

/// The common form `YYYY-MM-DDTHH:MM:SSZ` (what exports and our own output write), read
/// without the general parser: bulk imports hold millions. `None` for anything else (other
/// offsets, fractions, a leap second, lower case, an impossible date), which the general
/// parser then reads or refuses.
fn parse_utc_seconds(b: &[u8]) -> Option<Timestamp> {
    let b: &[u8; 20] = b.try_into().ok()?;
    if [b[4], b[7], b[10], b[13], b[16], b[19]] != *b"--T::Z" {
        return None;
    }
    let digit = |i: usize| {
        let d = b[i].wrapping_sub(b'0');
        (d < 10).then_some(i64::from(d))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
    // days_from_civil), years from March so that February's leap day comes last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
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

    /// The general parser alone.
    fn general(s: &str) -> Option<Timestamp> {
        OffsetDateTime::parse(s.trim(), &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
    }

    #[test]
    fn the_common_form_reads_as_the_general_parser_reads_it() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-02-29T12:00:00Z",
            "2099-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_utc_seconds(s.as_bytes()), general(s), "{s}");
            assert!(parse_utc_seconds(s.as_bytes()).is_some(), "{s}");
        }
        for s in [
            "1900-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-06-30T23:59:60Z",
            "2026-01-01t00:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01T00:00:00+00:00",
            "2026-1-01T00:00:00Z",
            " 2026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc_seconds(s.as_bytes()), None, "{s}");
            assert_eq!(parse_rfc3339(s).ok(), general(s), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_and_general_agree(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61,
            s in 0u32..61, sep in proptest::sample::select(vec!['T', 't', ' ']),
            z in proptest::sample::select(vec!["Z", "z", "+00:00", "+01:30", ".5Z"]),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{z}");
            let fast = parse_utc_seconds(text.as_bytes());
            if fast.is_some() {
                proptest::prop_assert_eq!(fast, general(&text), "{}", text);
            }
            proptest::prop_assert_eq!(parse_rfc3339(&text).ok(), general(&text), "{}", text);
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "2026-11-23", "yesterday", "2026-13-01T00:00:00Z"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
