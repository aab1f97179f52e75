//! Unix seconds to a UTC calendar date and time of day, for the `fdfs` tool's reports and the
//! edge's access log.
//!
//! Hand-written rather than a crate: `httpdate` (already a dependency of the edge) only prints
//! RFC 7231 dates, refuses times before 1970 and panics from year 9999 on, while file ids and
//! storage replies carry any 64-bit timestamp; `chrono` is not a dependency of this crate (nor of
//! the nginx module that builds it) and cannot represent such years either. The conversion is a
//! dozen lines of integer arithmetic.

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Proleptic Gregorian year (may be before 1970 or after 9999).
    pub year: i64,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl UtcTime {
    /// The date and time `secs` seconds after 1970-01-01 00:00:00 UTC (negative: before it).
    pub fn from_unix(secs: i64) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // rem < 86400, so each part fits a u8.
        let part = |v: i64| u8::try_from(v).unwrap_or(u8::MAX);
        UtcTime {
            year,
            month,
            day,
            hour: part(rem / 3600),
            minute: part(rem % 3600 / 60),
            second: part(rem % 60),
        }
    }
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    let small = |v: i64| u8::try_from(v).unwrap_or(u8::MAX);
    (year, small(month), small(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(year: i64, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> UtcTime {
        UtcTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    #[test]
    fn dates_around_the_epoch_leap_days_and_far_years() {
        assert_eq!(UtcTime::from_unix(0), t(1970, 1, 1, 0, 0, 0));
        assert_eq!(UtcTime::from_unix(-1), t(1969, 12, 31, 23, 59, 59));
        assert_eq!(UtcTime::from_unix(951_782_400), t(2000, 2, 29, 0, 0, 0));
        assert_eq!(
            UtcTime::from_unix(1_796_303_770),
            t(2026, 12, 3, 13, 16, 10)
        );
        // 10000-01-01, past what httpdate accepts.
        assert_eq!(UtcTime::from_unix(253_402_300_800), t(10000, 1, 1, 0, 0, 0));
        // The largest timestamp still gives a date rather than overflowing.
        assert_eq!(UtcTime::from_unix(i64::MAX).second, 7);
    }
}
