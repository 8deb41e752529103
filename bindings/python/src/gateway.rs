//! The native gateway. Every operation that waits takes `awaitable`: false
//! blocks (GIL released, Ctrl-C honoured), true returns an asyncio future.
//! `waotp.Gateway` and `waotp.AsyncGateway` are the typed faces of this class.

use std::path::PathBuf;

use pyo3::prelude::*;
use waotp::otp::OtpConfig;

use crate::call::call;
use crate::errors::to_py_err;
use crate::events::EventStream;
use crate::inbound::{InboundStatus, InboundVerification};
use crate::options::{Limits, MemoryBounds, SendRetry, locale, otp_request, seconds};
use crate::types::{
    MessageStatus, OtpStatus, QrCode, SentMessage, SentOtp, SessionStatus, Stats, VerifyResult,
};

/// An open gateway: its sessions, the OTP engine and the events.
#[pyclass(frozen, module = "waotp._native")]
pub(crate) struct Gateway {
    gateway: waotp::Gateway,
}

impl Gateway {
    fn session(&self, py: Python<'_>, id: &str) -> PyResult<waotp::Session> {
        self.gateway.session(id).map_err(|e| to_py_err(py, e))
    }
}

#[pymethods]
impl Gateway {
    /// Opens a gateway and restores the sessions stored in `data_dir`.
    #[staticmethod]
    #[pyo3(signature = (
        *,
        data_dir=None,
        endpoint=None,
        default_country_code=None,
        otp_length=None,
        otp_ttl=None,
        otp_max_attempts=None,
        otp_locale=None,
        limits=None,
        memory_store=false,
        check_on_whatsapp=true,
        on_whatsapp_cache_ttl=None,
        redis_url=None,
        redis_key_prefix=None,
        redis_lease_ttl=None,
        manual_clock=false,
        whatsapp_version=None,
        otp_secret=None,
        send_retry=None,
        memory_bounds=None,
        otp_secret_in_redis=false,
        session_store_key=None,
        new_chats_per_day=None,
        awaitable=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn open<'py>(
        py: Python<'py>,
        data_dir: Option<PathBuf>,
        endpoint: Option<String>,
        default_country_code: Option<u16>,
        otp_length: Option<usize>,
        otp_ttl: Option<f64>,
        otp_max_attempts: Option<u32>,
        otp_locale: Option<String>,
        limits: Option<Bound<'py, Limits>>,
        memory_store: bool,
        check_on_whatsapp: bool,
        on_whatsapp_cache_ttl: Option<f64>,
        redis_url: Option<String>,
        redis_key_prefix: Option<String>,
        redis_lease_ttl: Option<f64>,
        manual_clock: bool,
        whatsapp_version: Option<(u32, u32, u32)>,
        otp_secret: Option<Vec<u8>>,
        send_retry: Option<Bound<'py, SendRetry>>,
        memory_bounds: Option<Bound<'py, MemoryBounds>>,
        otp_secret_in_redis: bool,
        session_store_key: Option<Vec<u8>>,
        new_chats_per_day: Option<u32>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut b = waotp::Gateway::builder();
        if let Some(per_day) = new_chats_per_day {
            b = b.new_chats_per_day(per_day);
        }
        if let Some(v) = whatsapp_version {
            b = b.whatsapp_version(v);
        }
        if let Some(bytes) = otp_secret {
            let secret = waotp::otp::OtpSecret::from_bytes(&bytes).map_err(|e| to_py_err(py, e))?;
            b = b.otp_secret(secret);
        }
        if let Some(r) = send_retry {
            b = b.send_retry(r.get().retry);
        }
        if let Some(m) = memory_bounds {
            b = b.memory_bounds(m.get().bounds);
        }
        b = b.otp_secret_in_redis(otp_secret_in_redis);
        if let Some(bytes) = session_store_key {
            let key = waotp::StoreKey::from_bytes(&bytes).map_err(|e| to_py_err(py, e))?;
            b = b.session_store_key(key);
        }
        if let Some(dir) = data_dir {
            b = b.data_dir(dir);
        }
        if let Some(url) = endpoint {
            b = b.endpoint(url);
        }
        if let Some(cc) = default_country_code {
            b = b.default_country_code(cc);
        }
        let mut config = OtpConfig::default();
        if let Some(n) = otp_length {
            config.length = n;
        }
        if let Some(t) = otp_ttl {
            config.ttl = seconds(py, t, "otp_ttl")?;
        }
        if let Some(n) = otp_max_attempts {
            config.max_attempts = n;
        }
        if let Some(l) = otp_locale {
            config.locale = locale(py, &l)?;
        }
        if let Some(l) = limits {
            config.limits = l.get().limits.clone();
        }
        b = b.otp_config(config);
        b = b.memory_stores(memory_store);
        b = b.check_on_whatsapp(check_on_whatsapp);
        if let Some(t) = on_whatsapp_cache_ttl {
            b = b.on_whatsapp_cache_ttl(seconds(py, t, "on_whatsapp_cache_ttl")?);
        }
        if let Some(url) = redis_url {
            b = b.redis_url(url);
        }
        if let Some(prefix) = redis_key_prefix {
            b = b.redis_key_prefix(prefix);
        }
        if let Some(t) = redis_lease_ttl {
            b = b.redis_lease_ttl(seconds(py, t, "redis_lease_ttl")?);
        }
        if manual_clock {
            b = b.manual_clock();
        }
        call(py, awaitable, async move {
            let gateway = b.open().await?;
            Ok(Gateway { gateway })
        })
    }

    /// Creates a session (a random id when `session_id` is None) and starts
    /// linking it: QR codes follow.
    #[pyo3(signature = (session_id=None, awaitable=false))]
    fn create_session<'py>(
        &self,
        py: Python<'py>,
        session_id: Option<String>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            let s = g.create_session(session_id.as_deref()).await?;
            Ok(SessionStatus::from(s.status()))
        })
    }

    /// Every session, with its status.
    fn list_sessions(&self) -> Vec<SessionStatus> {
        self.gateway
            .list_sessions()
            .into_iter()
            .map(SessionStatus::from)
            .collect()
    }

    /// One session's status.
    fn session_status(&self, py: Python<'_>, session_id: &str) -> PyResult<SessionStatus> {
        Ok(SessionStatus::from(self.session(py, session_id)?.status()))
    }

    /// The current QR code.
    #[pyo3(signature = (session_id, awaitable=false))]
    fn qr<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(
            py,
            awaitable,
            async move { Ok(QrCode::from(s.qr().await?)) },
        )
    }

    /// The QR code, waiting up to `timeout` seconds for one.
    #[pyo3(signature = (session_id, timeout, awaitable=false))]
    fn wait_qr<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        timeout: f64,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        let timeout = seconds(py, timeout, "timeout")?;
        call(py, awaitable, async move {
            Ok(QrCode::from(s.wait_qr(timeout).await?))
        })
    }

    /// Links by pairing code instead of QR: the code to type on `phone`.
    #[pyo3(signature = (session_id, phone, awaitable=false))]
    fn pair_code<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        phone: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move { s.pair_code(&phone).await })
    }

    /// Hands in the passkey assertion WhatsApp asked for (state
    /// `passkey_required`): the JSON the challenge's snippet printed.
    #[pyo3(signature = (session_id, assertion_json, awaitable=false))]
    fn submit_passkey_assertion<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        assertion_json: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move {
            s.submit_passkey_assertion(&assertion_json).await
        })
    }

    /// Waits up to `timeout` seconds for the session to be connected.
    #[pyo3(signature = (session_id, timeout, awaitable=false))]
    fn wait_connected<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        timeout: f64,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        let timeout = seconds(py, timeout, "timeout")?;
        call(py, awaitable, async move {
            Ok(SessionStatus::from(s.wait_connected(timeout).await?))
        })
    }

    /// Reconnects the session.
    #[pyo3(signature = (session_id, awaitable=false))]
    fn restart<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move { s.restart().await })
    }

    /// Unlinks the device; the session stays and can be linked again.
    #[pyo3(signature = (session_id, awaitable=false))]
    fn logout<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move { s.logout().await })
    }

    /// Removes the session and its credentials.
    #[pyo3(signature = (session_id, awaitable=false))]
    fn delete_session<'py>(
        &self,
        py: Python<'py>,
        session_id: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(
            py,
            awaitable,
            async move { g.delete_session(&session_id).await },
        )
    }

    /// Sends a text message.
    #[pyo3(signature = (session_id, to, text, idempotency_key=None, awaitable=false))]
    fn send_text<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        to: String,
        text: String,
        idempotency_key: Option<String>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move {
            let sent = s.send_text(&to, &text, idempotency_key.as_deref()).await?;
            Ok(SentMessage::from(sent))
        })
    }

    /// Whether `phone` has a WhatsApp account.
    #[pyo3(signature = (session_id, phone, awaitable=false))]
    fn is_on_whatsapp<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        phone: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.session(py, session_id)?;
        call(py, awaitable, async move { s.is_on_whatsapp(&phone).await })
    }

    /// Where a sent message is.
    #[pyo3(signature = (message_id, awaitable=false))]
    fn message_status<'py>(
        &self,
        py: Python<'py>,
        message_id: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(MessageStatus::from(g.message_status(&message_id).await?))
        })
    }

    /// A fresh random code (not stored, not sent).
    #[pyo3(signature = (length=None))]
    fn generate_otp(&self, py: Python<'_>, length: Option<usize>) -> PyResult<String> {
        let length = length.unwrap_or(self.gateway.otp_engine().config().length);
        let code = self
            .gateway
            .generate_otp(length)
            .map_err(|e| to_py_err(py, e))?;
        Ok(code.expose().to_owned())
    }

    /// Issues a code for `to` and sends it through the session.
    #[pyo3(signature = (
        session_id,
        to,
        *,
        company_name,
        length=None,
        ttl=None,
        template=None,
        locale=None,
        reveal=false,
        idempotency_key=None,
        awaitable=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn send_otp<'py>(
        &self,
        py: Python<'py>,
        session_id: String,
        to: String,
        company_name: String,
        length: Option<usize>,
        ttl: Option<f64>,
        template: Option<String>,
        locale: Option<String>,
        reveal: bool,
        idempotency_key: Option<String>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = otp_request(
            py,
            company_name,
            length,
            ttl,
            template,
            locale,
            reveal,
            idempotency_key,
        )?;
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(SentOtp::from(g.send_otp(&session_id, &to, &request).await?))
        })
    }

    /// Issues a code and sends it through the best session of a sender
    /// pool (`sessions`, or every session), failing over to the next when
    /// one cannot deliver; `SentOtp.session_id` names the one that did.
    #[pyo3(signature = (
        to,
        company_name,
        sessions=None,
        length=None,
        ttl=None,
        template=None,
        locale=None,
        reveal=false,
        idempotency_key=None,
        awaitable=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn send_otp_pool<'py>(
        &self,
        py: Python<'py>,
        to: String,
        company_name: String,
        sessions: Option<Vec<String>>,
        length: Option<usize>,
        ttl: Option<f64>,
        template: Option<String>,
        locale: Option<String>,
        reveal: bool,
        idempotency_key: Option<String>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = otp_request(
            py,
            company_name,
            length,
            ttl,
            template,
            locale,
            reveal,
            idempotency_key,
        )?;
        let pool = waotp::SenderPool::from(sessions);
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(SentOtp::from(g.send_otp_pool(&pool, &to, &request).await?))
        })
    }

    /// Sends a text through the best session of a sender pool (`sessions`,
    /// or every session), failing over to the next on a refusal.
    #[pyo3(signature = (to, text, sessions=None, awaitable=false))]
    fn send_text_pool<'py>(
        &self,
        py: Python<'py>,
        to: String,
        text: String,
        sessions: Option<Vec<String>>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pool = waotp::SenderPool::from(sessions);
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(SentMessage::from(
                g.send_text_pool(&pool, &to, &text).await?,
            ))
        })
    }

    /// Checks a code; the answer is an outcome, not an exception.
    #[pyo3(signature = (to, code, awaitable=false))]
    fn verify_otp<'py>(
        &self,
        py: Python<'py>,
        to: String,
        code: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(VerifyResult::from(g.verify_otp(&to, &code).await?))
        })
    }

    /// Cancels the recipient's pending code.
    #[pyo3(signature = (to, awaitable=false))]
    fn cancel_otp<'py>(
        &self,
        py: Python<'py>,
        to: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(OtpStatus::from(g.cancel_otp(&to).await?))
        })
    }

    /// The state of the recipient's latest code.
    #[pyo3(signature = (to, awaitable=false))]
    fn otp_status<'py>(
        &self,
        py: Python<'py>,
        to: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(OtpStatus::from(g.otp_status(&to).await?))
        })
    }

    /// Starts an inbound verification on a pool (`sessions`, or every
    /// session): the user sends the token from WhatsApp.
    #[pyo3(signature = (sessions=None, expected_phone=None, template=None, ttl=None, reply=None, awaitable=false))]
    #[allow(clippy::too_many_arguments)]
    fn start_inbound_verification<'py>(
        &self,
        py: Python<'py>,
        sessions: Option<Vec<String>>,
        expected_phone: Option<String>,
        template: Option<String>,
        ttl: Option<f64>,
        reply: Option<String>,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut request = waotp::InboundRequest::new();
        if let Some(phone) = expected_phone {
            request = request.expected_phone(phone);
        }
        if let Some(template) = template {
            request = request.template(template);
        }
        if let Some(ttl) = ttl {
            request = request.ttl(seconds(py, ttl, "ttl")?);
        }
        if let Some(reply) = reply {
            request = request.reply(reply);
        }
        let pool = waotp::SenderPool::from(sessions);
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(InboundVerification::from(
                g.start_inbound_verification(&pool, &request).await?,
            ))
        })
    }

    /// Where an inbound verification stands.
    #[pyo3(signature = (verification_id, awaitable=false))]
    fn inbound_verification_status<'py>(
        &self,
        py: Python<'py>,
        verification_id: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(InboundStatus::from(
                g.inbound_verification_status(&verification_id).await?,
            ))
        })
    }

    /// Cancels a pending inbound verification.
    #[pyo3(signature = (verification_id, awaitable=false))]
    fn cancel_inbound_verification<'py>(
        &self,
        py: Python<'py>,
        verification_id: String,
        awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            Ok(InboundStatus::from(
                g.cancel_inbound_verification(&verification_id).await?,
            ))
        })
    }

    /// Send and verification figures.
    fn stats(&self) -> Stats {
        Stats::from(self.gateway.stats())
    }

    /// The same figures in Prometheus text format.
    fn stats_prometheus(&self) -> String {
        self.gateway.stats_prometheus()
    }

    /// A subscription to every event from now on.
    fn events(&self) -> EventStream {
        EventStream::new(self.gateway.events())
    }

    /// `phone` as E.164 digits, as the gateway reads it.
    fn normalize_phone(&self, py: Python<'_>, phone: &str) -> PyResult<String> {
        self.gateway
            .normalize_phone(phone)
            .map_err(|e| to_py_err(py, e))
    }

    /// Moves the manual clock on by `by` seconds (sandbox builds opened with `manual_clock=True`).
    fn advance_clock(&self, py: Python<'_>, by: f64) -> PyResult<()> {
        let by = seconds(py, by, "by")?;
        self.gateway.advance_clock(by).map_err(|e| to_py_err(py, e))
    }

    /// Stops every session; their credentials stay for the next open.
    #[pyo3(signature = (awaitable=false))]
    fn close<'py>(&self, py: Python<'py>, awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let g = self.gateway.clone();
        call(py, awaitable, async move {
            g.close().await;
            Ok(())
        })
    }
}
