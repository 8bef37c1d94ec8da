//! Timestamps as the contract writes them: UTC, RFC 3339, microseconds.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde::Serializer;

/// The current time at the precision the database keeps (`DATETIME(6)`), so a
/// value answered before a write equals the one read back after it.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// Whole seconds until `until`, rounded up so a client told to retry after
/// them never retries early; at least 1.
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let micros = (until - now).num_microseconds().unwrap_or(0).max(0);
    u64::try_from(micros)
        .unwrap_or(0)
        .div_ceil(1_000_000)
        .max(1)
}

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(serialize_with = "shared::time::serialize")]`
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

/// `#[serde(serialize_with = "shared::time::serialize_option")]`: a time or null.
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&format(at)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        let now = now();
        assert_eq!(seconds_until(now + TimeDelta::milliseconds(1500), now), 2);
        assert_eq!(seconds_until(now + TimeDelta::seconds(900), now), 900);
        assert_eq!(seconds_until(now - TimeDelta::seconds(1), now), 1);
    }
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_microseconds_and_a_z() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 21, 33, 20).unwrap()
            + TimeDelta::microseconds(280_565);
        assert_eq!(format(&at), "2026-11-23T21:33:20.280565Z");
    }

    #[test]
    fn now_has_no_sub_microsecond_part() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
