//! One duration syntax for every option that takes a period: a whole number and a unit,
//! `45s`, `90min`, `24h`, `30d`, `2w`, `12mo`, `1y`.
//!
//! A bare `m` is refused: it was minutes in one command and months in others, and `12m`
//! then silently meant something else than meant. The error suggests `mo` or `min`.
//!
//! ```
//! use sendfilter::duration::{Duration, Unit};
//! assert_eq!("12mo".parse::<Duration>().unwrap(), Duration { count: 12, unit: Unit::Months });
//! assert_eq!("90min".parse::<Duration>().unwrap().seconds(), 5_400);
//! assert!("12m".parse::<Duration>().unwrap_err().to_string().contains("12mo"));
//! ```

use std::fmt;
use std::str::FromStr;

/// Seconds in an average Gregorian month (365.2425 / 12 days), for periods given in months
/// where a span in seconds is needed.
pub const MONTH_SECONDS: i64 = 2_629_746;
/// Seconds in an average Gregorian year.
pub const YEAR_SECONDS: i64 = 31_556_952;
/// The longest duration accepted: 200 years.
pub const MAX_SECONDS: i64 = 200 * YEAR_SECONDS;

/// The unit of a [`Duration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `s`
    Seconds,
    /// `min`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
    /// `mo` (calendar months)
    Months,
    /// `y` (calendar years)
    Years,
}

impl Unit {
    /// The unit's suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Minutes => "min",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
            Unit::Months => "mo",
            Unit::Years => "y",
        }
    }

    /// Seconds in one unit (months and years: the Gregorian average).
    pub fn seconds(self) -> i64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3_600,
            Unit::Days => 86_400,
            Unit::Weeks => 7 * 86_400,
            Unit::Months => MONTH_SECONDS,
            Unit::Years => YEAR_SECONDS,
        }
    }
}

/// A positive whole number of one [`Unit`], at most [`MAX_SECONDS`] long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration {
    /// How many units (at least 1).
    pub count: u32,
    /// The unit.
    pub unit: Unit,
}

impl Duration {
    /// The length in seconds (months and years as Gregorian averages).
    pub fn seconds(self) -> i64 {
        i64::from(self.count) * self.unit.seconds()
    }

    /// The length in whole calendar months, for `mo` and `y`; `None` for shorter units
    /// (a number of days is not a number of months).
    pub fn months(self) -> Option<u32> {
        match self.unit {
            Unit::Months => Some(self.count),
            Unit::Years => self.count.checked_mul(12),
            _ => None,
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// `m` alone: minutes or months?
    #[error("{0:?}: `m` is ambiguous: write {1}mo for months or {1}min for minutes")]
    AmbiguousM(String, String),
    /// A number without a unit.
    #[error("{0:?} has no unit: write e.g. {0}d, {0}mo or {0}y (units: s, min, h, d, w, mo, y)")]
    NoUnit(String),
    /// Zero.
    #[error("{0:?} is zero: a duration must be at least 1 unit")]
    Zero(String),
    /// More than [`MAX_SECONDS`].
    #[error("{0:?} is longer than 200 years")]
    TooLong(String),
    /// Anything else.
    #[error(
        "{0:?} is not a duration: use a whole number and a unit s, min, h, d, w, mo or y \
         (30d, 12mo, 1y, 90min, 24h, 2w)"
    )]
    Bad(String),
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = t.split_at(digits);
        if num.is_empty() {
            return Err(DurationError::Bad(s.to_string()));
        }
        let unit = match unit.trim_start() {
            "s" => Unit::Seconds,
            "min" => Unit::Minutes,
            "h" => Unit::Hours,
            "d" => Unit::Days,
            "w" => Unit::Weeks,
            "mo" => Unit::Months,
            "y" => Unit::Years,
            "m" | "M" => return Err(DurationError::AmbiguousM(s.to_string(), num.to_string())),
            "" => return Err(DurationError::NoUnit(num.to_string())),
            _ => return Err(DurationError::Bad(s.to_string())),
        };
        let Ok(count) = num.parse::<u32>() else {
            return Err(DurationError::TooLong(s.to_string()));
        };
        if count == 0 {
            return Err(DurationError::Zero(s.to_string()));
        }
        let d = Duration { count, unit };
        if d.seconds() > MAX_SECONDS {
            return Err(DurationError::TooLong(s.to_string()));
        }
        Ok(d)
    }
}

/// A clap value parser: [`Duration::from_str`] with the error as text.
///
/// # Errors
/// The [`DurationError`] as a message.
pub fn parse(s: &str) -> Result<Duration, String> {
    s.parse().map_err(|e: DurationError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(count: u32, unit: Unit) -> Duration {
        Duration { count, unit }
    }

    #[test]
    fn every_unit() {
        assert_eq!("45s".parse(), Ok(d(45, Unit::Seconds)));
        assert_eq!("90min".parse(), Ok(d(90, Unit::Minutes)));
        assert_eq!("24h".parse(), Ok(d(24, Unit::Hours)));
        assert_eq!("30d".parse(), Ok(d(30, Unit::Days)));
        assert_eq!("2w".parse(), Ok(d(2, Unit::Weeks)));
        assert_eq!("12mo".parse(), Ok(d(12, Unit::Months)));
        assert_eq!(" 1y ".parse(), Ok(d(1, Unit::Years)));
        assert_eq!(d(90, Unit::Minutes).seconds(), 5_400);
        assert_eq!(d(2, Unit::Weeks).seconds(), 14 * 86_400);
        assert_eq!(d(24, Unit::Months).seconds(), 24 * 2_629_746);
        assert_eq!(d(1, Unit::Years).seconds(), 31_556_952);
        assert_eq!(d(2, Unit::Years).months(), Some(24));
        assert_eq!(d(18, Unit::Months).months(), Some(18));
        assert_eq!(d(30, Unit::Days).months(), None);
        assert_eq!(d(12, Unit::Months).to_string(), "12mo");
    }

    #[test]
    fn bare_m_is_refused_with_both_readings() {
        for s in ["12m", "12M", "1 m"] {
            let e = s.parse::<Duration>().unwrap_err();
            assert!(matches!(e, DurationError::AmbiguousM(..)), "{s}: {e}");
        }
        let msg = "12m".parse::<Duration>().unwrap_err().to_string();
        assert!(msg.contains("12mo") && msg.contains("12min"), "{msg}");
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(matches!("24".parse::<Duration>(), Err(DurationError::NoUnit(_))));
        assert!(matches!("0d".parse::<Duration>(), Err(DurationError::Zero(_))));
        assert!(matches!("201y".parse::<Duration>(), Err(DurationError::TooLong(_))));
        assert!(matches!(
            "99999999999999999999d".parse::<Duration>(),
            Err(DurationError::TooLong(_))
        ));
        for bad in [
            "", " ", "d", "mo", "-1d", "+1d", "1.5d", "30x", "30dd", "1 year", "30days", "½d", "٣d",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} accepted");
        }
        assert!(parse("12m").unwrap_err().contains("mo"));
    }
}
