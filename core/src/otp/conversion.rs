//! Conversion figures, as Twilio's Verify Insights reports them: of the
//! verifications started over the last hour and the last day, how many
//! codes were delivered and how many verifications were approved, by method
//! (a typed code, or a token the user sent), and the rate.
//!
//! Counts live in 5-minute buckets covering a day (288 of them, about
//! 4.6 KB per session), so the windows move in 5-minute steps: "the last
//! hour" is the current bucket and the 11 before it. Buckets are stamped
//! with their start, so one that is a day old is reset, not added to.

use serde::Serialize;

/// Seconds per bucket.
const BUCKET_SECS: u64 = 300;
/// Buckets in a day.
const BUCKETS: usize = (86_400 / BUCKET_SECS) as usize;
/// Buckets in an hour.
const HOUR_BUCKETS: usize = (3_600 / BUCKET_SECS) as usize;

/// What happened to a verification, for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionEvent {
    /// A code was issued, or an inbound verification started.
    Started,
    /// A code's message reached the phone.
    Delivered,
    /// A typed code was right.
    ApprovedByCode,
    /// The user sent an inbound verification's token.
    ApprovedInbound,
}

/// Counts over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Conversion {
    /// Verifications started (codes issued and inbound verifications).
    pub started: u64,
    /// Codes whose message reached the phone.
    pub delivered: u64,
    /// Verifications approved with a typed code.
    pub approved_by_code: u64,
    /// Verifications approved by the user sending the token.
    pub approved_inbound: u64,
    /// Approved / started (0.0–1.0); `None` when nothing started.
    pub rate: Option<f64>,
}

/// The figures over the last hour and the last day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConversionFigures {
    /// The last hour (in 5-minute steps).
    pub last_hour: Conversion,
    /// The last day (in 5-minute steps).
    pub last_day: Conversion,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Start of the bucket's 5 minutes, Unix seconds (0: never used).
    start: u64,
    started: u32,
    delivered: u32,
    approved_by_code: u32,
    approved_inbound: u32,
}

/// A day of counts in 5-minute buckets.
#[derive(Debug, Clone)]
pub(crate) struct ConversionWindows {
    buckets: Box<[Bucket; BUCKETS]>,
}

impl Default for ConversionWindows {
    fn default() -> Self {
        ConversionWindows {
            buckets: Box::new([Bucket::default(); BUCKETS]),
        }
    }
}

impl ConversionWindows {
    /// Counts `event` at `now_secs` (Unix seconds).
    pub(crate) fn record(&mut self, event: ConversionEvent, now_secs: u64) {
        let start = now_secs - now_secs % BUCKET_SECS;
        let bucket = &mut self.buckets[(start / BUCKET_SECS) as usize % BUCKETS];
        if bucket.start != start {
            *bucket = Bucket {
                start,
                ..Bucket::default()
            };
        }
        let count = match event {
            ConversionEvent::Started => &mut bucket.started,
            ConversionEvent::Delivered => &mut bucket.delivered,
            ConversionEvent::ApprovedByCode => &mut bucket.approved_by_code,
            ConversionEvent::ApprovedInbound => &mut bucket.approved_inbound,
        };
        *count = count.saturating_add(1);
    }

    /// The last hour and day as of `now_secs`.
    pub(crate) fn figures(&self, now_secs: u64) -> ConversionFigures {
        ConversionFigures {
            last_hour: self.sum(now_secs, HOUR_BUCKETS),
            last_day: self.sum(now_secs, BUCKETS),
        }
    }

    /// The sum of the `count` buckets up to and including the current one.
    fn sum(&self, now_secs: u64, count: usize) -> Conversion {
        let current = now_secs - now_secs % BUCKET_SECS;
        let oldest = current.saturating_sub((count as u64 - 1) * BUCKET_SECS);
        let mut c = Conversion::default();
        for b in self.buckets.iter() {
            if b.start != 0 && b.start >= oldest && b.start <= current {
                c.started += u64::from(b.started);
                c.delivered += u64::from(b.delivered);
                c.approved_by_code += u64::from(b.approved_by_code);
                c.approved_inbound += u64::from(b.approved_inbound);
            }
        }
        let approved = c.approved_by_code + c.approved_inbound;
        c.rate = (c.started > 0).then(|| approved as f64 / c.started as f64);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversionEvent::*;

    const T0: u64 = 1_700_000_000 - 1_700_000_000 % BUCKET_SECS;

    #[test]
    fn the_hour_and_the_day_count_what_happened_in_them() {
        let mut w = ConversionWindows::default();
        for event in [
            Started,
            Started,
            Started,
            Delivered,
            Delivered,
            ApprovedByCode,
        ] {
            w.record(event, T0);
        }
        w.record(Started, T0 + 2 * 3_600);
        w.record(ApprovedInbound, T0 + 2 * 3_600 + 10);
        let now = w.figures(T0 + 2 * 3_600 + 20);
        assert_eq!(
            now.last_hour,
            Conversion {
                started: 1,
                delivered: 0,
                approved_by_code: 0,
                approved_inbound: 1,
                rate: Some(1.0),
            }
        );
        assert_eq!(now.last_day.started, 4);
        assert_eq!(now.last_day.delivered, 2);
        assert_eq!(now.last_day.rate, Some(0.5));
    }

    #[test]
    fn a_day_old_bucket_is_reset_not_added_to_and_nothing_started_has_no_rate() {
        let mut w = ConversionWindows::default();
        w.record(Started, T0);
        w.record(Started, T0 + 86_400);
        assert_eq!(w.figures(T0 + 86_400).last_day.started, 1);
        assert_eq!(w.figures(T0 + 3 * 86_400).last_day, Conversion::default());
        assert_eq!(
            ConversionWindows::default().figures(T0).last_hour.rate,
            None
        );
    }

    #[test]
    fn the_hour_moves_in_five_minute_steps() {
        let mut w = ConversionWindows::default();
        w.record(Started, T0);
        assert_eq!(w.figures(T0 + 3_600 - 1).last_hour.started, 1);
        assert_eq!(w.figures(T0 + 3_600).last_hour.started, 0);
    }
}
