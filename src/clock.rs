//! Time as the core needs it: Unix seconds from the edge (the Worker's `Date.now()`), written as
//! RFC 3339 for the database. No time zone database: everything is UTC.
//!
//! [`Clock`] is the runtime's clock and timer, handed to the core by the edge (the Worker's
//! `Date.now()` and `setTimeout`) or by host tests (tokio), so the core never names either.

use futures::future::LocalBoxFuture;
use std::time::Duration;

pub trait Clock {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> f64;
    /// Resolves after `duration`. Used for deadlines, never to wait for Meta inside a pass.
    fn sleep(&self, duration: Duration) -> LocalBoxFuture<'static, ()>;
}

/// `2026-12-03T10:00:00Z` for a count of seconds since 1970-01-01T00:00:00Z.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3_600,
        seconds_of_day % 3_600 / 60,
        seconds_of_day % 60
    )
}

/// `2026-12-03T10:00:00.250Z` for milliseconds since 1970 (negative values count as 0).
pub fn rfc3339_millis(unix_ms: f64) -> String {
    let ms = if unix_ms.is_finite() && unix_ms > 0.0 { unix_ms as u64 } else { 0 };
    let seconds = rfc3339(ms / 1000);
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_288_625), "2026-12-03T09:03:45Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339_millis(1_796_288_625_042.9), "2026-12-03T09:03:45.042Z");
        assert_eq!(rfc3339_millis(-5.0), "1970-01-01T00:00:00.000Z");
    }
}
