//! Python arguments as core settings: seconds as `Duration`s, locales, the
//! `Limits` class, and `send_otp`'s keyword arguments as an `OtpRequest`.

use std::time::Duration;

use pyo3::prelude::*;
use waotp::otp::{Limits as CoreLimits, Locale, OtpRequest, Pacing, RateWindow};

use crate::errors::{invalid_argument, to_py_err};

/// Seconds from Python (`float`) as a `Duration`: finite and not negative.
pub(crate) fn seconds(py: Python<'_>, value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        to_py_err(
            py,
            invalid_argument(format!(
                "`{name}` must be a finite, non-negative number of seconds, not {value}"
            )),
        )
    })
}

pub(crate) fn locale(py: Python<'_>, text: &str) -> PyResult<Locale> {
    text.parse::<Locale>().map_err(|e| to_py_err(py, e))
}

/// Send limits, verification limits and pacing.
///
/// `Limits()` are the defaults; every argument replaces one rule, and `None`
/// turns that rule off. `Limits.none()` turns everything off (tests).
#[pyclass(frozen, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct Limits {
    pub(crate) limits: CoreLimits,
}

/// The core's defaults, which the constructor's arguments start from.
static DEFAULT: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(|| Limits {
    limits: CoreLimits::default(),
});

#[pymethods]
impl Limits {
    #[new]
    #[pyo3(signature = (
        *,
        sends_per_recipient=DEFAULT.sends_per_recipient(),
        resend_cooldown=DEFAULT.resend_cooldown(),
        verifies_per_recipient=DEFAULT.verifies_per_recipient(),
        session_pacing=DEFAULT.session_pacing(),
    ))]
    fn new(
        py: Python<'_>,
        sends_per_recipient: Option<(u32, f64)>,
        resend_cooldown: f64,
        verifies_per_recipient: Option<(u32, f64)>,
        session_pacing: Option<(f64, f64, f64)>,
    ) -> PyResult<Self> {
        let window = |w: Option<(u32, f64)>, name: &str| -> PyResult<Option<RateWindow>> {
            w.map(|(max, span)| Ok(RateWindow::new(max, seconds(py, span, name)?)))
                .transpose()
        };
        let pacing = session_pacing
            .map(|(gap, jitter, max_wait)| {
                Ok::<_, PyErr>(Pacing {
                    min_gap: seconds(py, gap, "session_pacing[0]")?,
                    jitter: seconds(py, jitter, "session_pacing[1]")?,
                    max_wait: seconds(py, max_wait, "session_pacing[2]")?,
                })
            })
            .transpose()?;
        Ok(Limits {
            limits: CoreLimits {
                sends_per_recipient: window(sends_per_recipient, "sends_per_recipient")?,
                resend_cooldown: seconds(py, resend_cooldown, "resend_cooldown")?,
                verifies_per_recipient: window(verifies_per_recipient, "verifies_per_recipient")?,
                session_pacing: pacing,
            },
        })
    }

    /// Every limit, cooldown and pacing off.
    #[staticmethod]
    fn none() -> Self {
        Limits {
            limits: CoreLimits::none(),
        }
    }

    /// `(max, window seconds)`, or `None` when off.
    #[getter]
    fn sends_per_recipient(&self) -> Option<(u32, f64)> {
        self.limits
            .sends_per_recipient
            .map(|w| (w.max, w.window.as_secs_f64()))
    }

    /// Seconds between two sends to one recipient.
    #[getter]
    fn resend_cooldown(&self) -> f64 {
        self.limits.resend_cooldown.as_secs_f64()
    }

    /// `(max, window seconds)`, or `None` when off.
    #[getter]
    fn verifies_per_recipient(&self) -> Option<(u32, f64)> {
        self.limits
            .verifies_per_recipient
            .map(|w| (w.max, w.window.as_secs_f64()))
    }

    /// `(min gap, jitter, max wait)` in seconds, or `None` when off.
    #[getter]
    fn session_pacing(&self) -> Option<(f64, f64, f64)> {
        self.limits.session_pacing.map(|p| {
            (
                p.min_gap.as_secs_f64(),
                p.jitter.as_secs_f64(),
                p.max_wait.as_secs_f64(),
            )
        })
    }

    fn __repr__(&self) -> String {
        let opt = |v: Option<(u32, f64)>| match v {
            Some((m, w)) => format!("({m}, {w:?})"),
            None => "None".into(),
        };
        let pacing = match self.session_pacing() {
            Some((g, j, w)) => format!("({g:?}, {j:?}, {w:?})"),
            None => "None".into(),
        };
        format!(
            "Limits(sends_per_recipient={}, resend_cooldown={:?}, verifies_per_recipient={}, session_pacing={pacing})",
            opt(self.sends_per_recipient()),
            self.resend_cooldown(),
            opt(self.verifies_per_recipient()),
        )
    }
}

/// How an OTP send is retried when the failure is transient (not connected
/// yet, reconnecting): exponential backoff under one message id.
///
/// `SendRetry()` are the defaults; `SendRetry.none()` sends once.
#[pyclass(frozen, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct SendRetry {
    pub(crate) retry: waotp::SendRetry,
}

/// The core's defaults, which the constructor's arguments start from.
static DEFAULT_RETRY: std::sync::LazyLock<waotp::SendRetry> =
    std::sync::LazyLock::new(waotp::SendRetry::default);

#[pymethods]
impl SendRetry {
    #[new]
    #[pyo3(signature = (
        *,
        max_attempts=DEFAULT_RETRY.max_attempts,
        initial_backoff=DEFAULT_RETRY.initial_backoff.as_secs_f64(),
        max_backoff=DEFAULT_RETRY.max_backoff.as_secs_f64(),
        max_elapsed=DEFAULT_RETRY.max_elapsed.as_secs_f64(),
    ))]
    fn new(
        py: Python<'_>,
        max_attempts: u32,
        initial_backoff: f64,
        max_backoff: f64,
        max_elapsed: f64,
    ) -> PyResult<Self> {
        if max_attempts == 0 {
            return Err(to_py_err(
                py,
                invalid_argument("`max_attempts` counts the first attempt: at least 1"),
            ));
        }
        let mut retry = waotp::SendRetry::default();
        retry.max_attempts = max_attempts;
        retry.initial_backoff = seconds(py, initial_backoff, "initial_backoff")?;
        retry.max_backoff = seconds(py, max_backoff, "max_backoff")?;
        retry.max_elapsed = seconds(py, max_elapsed, "max_elapsed")?;
        Ok(SendRetry { retry })
    }

    /// One attempt, no retry.
    #[staticmethod]
    fn none() -> Self {
        SendRetry {
            retry: waotp::SendRetry::none(),
        }
    }

    /// Attempts in total, the first included.
    #[getter]
    fn max_attempts(&self) -> u32 {
        self.retry.max_attempts
    }

    /// Seconds before the first retry; doubles each time.
    #[getter]
    fn initial_backoff(&self) -> f64 {
        self.retry.initial_backoff.as_secs_f64()
    }

    /// Longest wait between two attempts, in seconds.
    #[getter]
    fn max_backoff(&self) -> f64 {
        self.retry.max_backoff.as_secs_f64()
    }

    /// Seconds after which no new attempt starts.
    #[getter]
    fn max_elapsed(&self) -> f64 {
        self.retry.max_elapsed.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "SendRetry(max_attempts={}, initial_backoff={:?}, max_backoff={:?}, max_elapsed={:?})",
            self.max_attempts(),
            self.initial_backoff(),
            self.max_backoff(),
            self.max_elapsed()
        )
    }
}

/// How much a gateway keeps in memory, however long it runs.
///
/// `MemoryBounds()` are the defaults; every argument replaces one bound, and
/// a bound of 0 is refused (`InvalidArgument`).
#[pyclass(frozen, module = "waotp._native")]
#[derive(Clone)]
pub(crate) struct MemoryBounds {
    pub(crate) bounds: waotp::MemoryBounds,
}

/// The core's defaults, which the constructor's arguments start from.
static DEFAULT_BOUNDS: std::sync::LazyLock<waotp::MemoryBounds> =
    std::sync::LazyLock::new(waotp::MemoryBounds::default);

#[pymethods]
impl MemoryBounds {
    #[new]
    #[pyo3(signature = (
        *,
        tracked_messages=DEFAULT_BOUNDS.tracked_messages,
        tracked_message_age=DEFAULT_BOUNDS.tracked_message_age.as_secs_f64(),
        on_whatsapp_entries=DEFAULT_BOUNDS.on_whatsapp_entries,
        queued_delivery_reports=DEFAULT_BOUNDS.queued_delivery_reports,
    ))]
    fn new(
        py: Python<'_>,
        tracked_messages: usize,
        tracked_message_age: f64,
        on_whatsapp_entries: usize,
        queued_delivery_reports: usize,
    ) -> PyResult<Self> {
        let bounds = waotp::MemoryBounds {
            tracked_messages,
            tracked_message_age: seconds(py, tracked_message_age, "tracked_message_age")?,
            on_whatsapp_entries,
            queued_delivery_reports,
        };
        bounds.validate().map_err(|e| to_py_err(py, e))?;
        Ok(MemoryBounds { bounds })
    }

    /// Sent messages whose delivery status is tracked in memory.
    #[getter]
    fn tracked_messages(&self) -> usize {
        self.bounds.tracked_messages
    }

    /// Seconds a message's status is tracked in memory.
    #[getter]
    fn tracked_message_age(&self) -> f64 {
        self.bounds.tracked_message_age.as_secs_f64()
    }

    /// Numbers whose is-on-WhatsApp answer is cached.
    #[getter]
    fn on_whatsapp_entries(&self) -> usize {
        self.bounds.on_whatsapp_entries
    }

    /// Acks and receipts that may wait to be applied.
    #[getter]
    fn queued_delivery_reports(&self) -> usize {
        self.bounds.queued_delivery_reports
    }

    fn __repr__(&self) -> String {
        format!(
            "MemoryBounds(tracked_messages={}, tracked_message_age={:?}, on_whatsapp_entries={}, \
             queued_delivery_reports={})",
            self.tracked_messages(),
            self.tracked_message_age(),
            self.on_whatsapp_entries(),
            self.queued_delivery_reports()
        )
    }
}

/// `send_otp`'s keyword arguments as an `OtpRequest`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn otp_request(
    py: Python<'_>,
    company_name: String,
    length: Option<usize>,
    ttl: Option<f64>,
    template: Option<String>,
    locale_name: Option<String>,
    reveal: bool,
    idempotency_key: Option<String>,
) -> PyResult<OtpRequest> {
    let mut r = OtpRequest::new(company_name).reveal_code(reveal);
    if let Some(n) = length {
        r = r.length(n);
    }
    if let Some(t) = ttl {
        r = r.ttl(seconds(py, t, "ttl")?);
    }
    if let Some(t) = template {
        r = r.template(t);
    }
    if let Some(l) = locale_name {
        r = r.locale(locale(py, &l)?);
    }
    if let Some(k) = idempotency_key {
        r = r.idempotency_key(k);
    }
    Ok(r)
}
