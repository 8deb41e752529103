//! How a send is retried when the failure is transient.

use std::time::Duration;

/// Retries of an OTP send: exponential backoff under the same message id,
/// within a bound. Only transient failures are retried (not connected yet,
/// reconnecting, a WhatsApp error); permanent ones (not on WhatsApp, logged
/// out, invalid input) fail at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendRetry {
    /// Attempts in total, the first included (1 = no retry). Default 4.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time. Default 250 ms.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts. Default 4 s.
    pub max_backoff: Duration,
    /// Time after which no new attempt starts, waits for a reconnect
    /// included. Default 30 s.
    pub max_elapsed: Duration,
}

impl Default for SendRetry {
    fn default() -> Self {
        SendRetry {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl SendRetry {
    /// No retries at all.
    pub fn none() -> Self {
        SendRetry {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1-based).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = SendRetry::default();
        assert_eq!(r.backoff(1), Duration::from_millis(250));
        assert_eq!(r.backoff(2), Duration::from_millis(500));
        assert_eq!(r.backoff(3), Duration::from_secs(1));
        assert_eq!(r.backoff(10), Duration::from_secs(4));
        assert_eq!(r.backoff(100), Duration::from_secs(4));
    }
}
