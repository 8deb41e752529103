//! Times as the guide's server wrote them: ISO-8601 in UTC with
//! milliseconds (`2025-01-31T08:00:00.000Z`, JavaScript's `toISOString`).

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time as [`iso`] writes it.
pub fn now() -> String {
    iso(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn writes_javascript_iso_strings() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(iso(t), "2023-11-14T22:13:20.123Z");
    }
}
