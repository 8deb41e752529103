//! The gateway class: every operation of the core, each answering with a
//! Promise (the work runs on napi's tokio runtime, never on the JS thread).

use std::sync::Mutex;

use napi::Env;
use napi::Status;
use napi::ValueType;
use napi::bindgen_prelude::{FromNapiValue, JsValue, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::errors::{invalid_argument, js_error};
use crate::events::{Event, EventStream};
use crate::inbound::{InboundOptions, InboundStatus, InboundVerification};
use crate::options::{GatewayOptions, SendOtpOptions, SendTextOptions, millis};
use crate::promise::{promise, ready};
use crate::types::{
    MessageStatus, OtpStatus, QrCode, SentMessage, SentOtp, SessionStatus, Stats, VerifyResult,
};

/// A listener called with every event. Weak: it never keeps Node running.
type Listener = ThreadsafeFunction<Event, (), Event, Status, false, true>;

/// An open gateway: its sessions, the OTP engine and the events. Made by
/// `Gateway.open`; `close()` stops its sessions (credentials stay).
#[napi]
pub struct Gateway {
    gateway: waotp::Gateway,
    /// The tasks that call `listen` listeners; ended by `close`.
    forwarders: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[napi]
impl Gateway {
    /// Opens a gateway and restores the sessions stored in `dataDir`
    /// (linked ones reconnect without a QR code).
    #[napi(
        ts_args_type = "options?: GatewayOptions | undefined | null",
        ts_return_type = "Promise<Gateway>"
    )]
    pub fn open<'env>(
        env: &'env Env,
        options: Option<Unknown<'env>>,
    ) -> napi::Result<PromiseRaw<'env, Gateway>> {
        // Converted here, not by napi, so that options of the wrong shape
        // reject with INVALID_ARGUMENT like every other bad argument.
        let builder = object_or_default::<GatewayOptions>(env, options, "Gateway.open options")
            .and_then(|o| o.to_builder());
        promise(env, async move { builder?.open().await }, |gateway| {
            Gateway {
                gateway,
                forwarders: Mutex::new(Vec::new()),
            }
        })
    }

    /// Creates a session (a random id when `sessionId` is missing) and starts
    /// linking it: QR codes follow (`waitQr`, or the `qr` event).
    #[napi(ts_return_type = "Promise<SessionStatus>")]
    pub fn create_session<'env>(
        &self,
        env: &'env Env,
        session_id: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, SessionStatus>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { Ok(g.create_session(session_id.as_deref()).await?.status()) },
            SessionStatus::from,
        )
    }

    /// Every session, with its status (those other processes run included).
    #[napi(ts_return_type = "Promise<SessionStatus[]>")]
    pub fn list_sessions<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<SessionStatus>>> {
        let all = self.gateway.list_sessions();
        ready(env, Ok(all.into_iter().map(SessionStatus::from).collect()))
    }

    /// One session's status.
    #[napi(ts_return_type = "Promise<SessionStatus>")]
    pub fn session_status<'env>(
        &self,
        env: &'env Env,
        session_id: String,
    ) -> napi::Result<PromiseRaw<'env, SessionStatus>> {
        let status = self.gateway.session(&session_id).map(|s| s.status());
        ready(env, status.map(SessionStatus::from))
    }

    /// The session's current QR code (`QR_NOT_AVAILABLE` when there is none).
    #[napi(ts_return_type = "Promise<QrCode>")]
    pub fn qr<'env>(
        &self,
        env: &'env Env,
        session_id: String,
    ) -> napi::Result<PromiseRaw<'env, QrCode>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.session(&session_id)?.qr().await },
            QrCode::from,
        )
    }

    /// The QR code, waiting up to `timeoutMs` for one.
    #[napi(ts_return_type = "Promise<QrCode>")]
    pub fn wait_qr<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        timeout_ms: f64,
    ) -> napi::Result<PromiseRaw<'env, QrCode>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move {
                let timeout = millis(timeout_ms, "timeoutMs")?;
                g.session(&session_id)?.wait_qr(timeout).await
            },
            QrCode::from,
        )
    }

    /// Links by pairing code instead of QR: the code to type on `phone`
    /// (WhatsApp → Linked devices → Link with phone number).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn pair_code<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        phone: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.session(&session_id)?.pair_code(&phone).await },
            |code| code,
        )
    }

    /// Hands in the passkey assertion WhatsApp asked for (state
    /// `passkey_required`, the `passkey-required` event): the JSON that the
    /// challenge's `snippet` printed in a `https://web.whatsapp.com` tab.
    /// Resolves once WhatsApp accepted it; the link then completes by itself
    /// (`waitConnected`). Rejects with `INVALID_ARGUMENT` (malformed JSON, or
    /// the session is not waiting for a passkey), `PASSKEY_REJECTED` or
    /// `PASSKEY_EXPIRED`; after those two the session starts linking again.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn submit_passkey_assertion<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        assertion_json: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move {
                g.session(&session_id)?
                    .submit_passkey_assertion(&assertion_json)
                    .await
            },
            |()| (),
        )
    }

    /// Waits up to `timeoutMs` for the session to be connected.
    #[napi(ts_return_type = "Promise<SessionStatus>")]
    pub fn wait_connected<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        timeout_ms: f64,
    ) -> napi::Result<PromiseRaw<'env, SessionStatus>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move {
                let timeout = millis(timeout_ms, "timeoutMs")?;
                g.session(&session_id)?.wait_connected(timeout).await
            },
            SessionStatus::from,
        )
    }

    /// Reconnects the session.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn restart<'env>(
        &self,
        env: &'env Env,
        session_id: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.session(&session_id)?.restart().await },
            |()| (),
        )
    }

    /// Unlinks the device; the session stays and can be linked again.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn logout<'env>(
        &self,
        env: &'env Env,
        session_id: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.session(&session_id)?.logout().await },
            |()| (),
        )
    }

    /// Removes the session and its credentials.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_session<'env>(
        &self,
        env: &'env Env,
        session_id: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.delete_session(&session_id).await },
            |()| (),
        )
    }

    /// Sends a text message through the session.
    #[napi(ts_return_type = "Promise<SentMessage>")]
    pub fn send_text<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        to: String,
        text: String,
        options: Option<SendTextOptions>,
    ) -> napi::Result<PromiseRaw<'env, SentMessage>> {
        let g = self.gateway.clone();
        let key = options.and_then(|o| o.idempotency_key);
        promise(
            env,
            async move {
                let s = g.session(&session_id)?;
                s.send_text(&to, &text, key.as_deref()).await
            },
            SentMessage::from,
        )
    }

    /// Whether `phone` has a WhatsApp account (asked through the session).
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn is_on_whatsapp<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        phone: String,
    ) -> napi::Result<PromiseRaw<'env, bool>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.session(&session_id)?.is_on_whatsapp(&phone).await },
            |yes| yes,
        )
    }

    /// Where a sent message is (sent, delivered, read, failed).
    #[napi(ts_return_type = "Promise<MessageStatus>")]
    pub fn message_status<'env>(
        &self,
        env: &'env Env,
        message_id: String,
    ) -> napi::Result<PromiseRaw<'env, MessageStatus>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.message_status(&message_id).await },
            MessageStatus::from,
        )
    }

    /// A fresh random code of `length` digits (default: `otpLength`); not
    /// stored, not sent.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn generate_otp<'env>(
        &self,
        env: &'env Env,
        length: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let length = length.map_or(self.gateway.otp_engine().config().length, |n| n as usize);
        let code = self.gateway.generate_otp(length);
        ready(env, code.map(|c| c.expose().to_owned()))
    }

    /// Issues a code for `to` and sends it through the session. The code is
    /// answered only with `revealCode: true`.
    #[napi(ts_return_type = "Promise<SentOtp>")]
    pub fn send_otp<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        to: String,
        options: SendOtpOptions,
    ) -> napi::Result<PromiseRaw<'env, SentOtp>> {
        let g = self.gateway.clone();
        let request = options.to_request();
        promise(
            env,
            async move { g.send_otp(&session_id, &to, &request?).await },
            SentOtp::from,
        )
    }

    /// Issues a code for `to` and sends it through the best session of a
    /// sender pool (`sessions`, or every session): the recipient's previous
    /// number first, then the healthy one with the most new-chat quota
    /// left; a refused send fails over to the next number with the same
    /// code. `SentOtp.sessionId` names the number that sent it; when none
    /// can deliver it rejects with `ACCOUNT_LIMITED` (`retryAfterMs` when a
    /// limit's end is known).
    #[napi(ts_return_type = "Promise<SentOtp>")]
    pub fn send_otp_pool<'env>(
        &self,
        env: &'env Env,
        to: String,
        options: SendOtpOptions,
        sessions: Option<Vec<String>>,
    ) -> napi::Result<PromiseRaw<'env, SentOtp>> {
        let g = self.gateway.clone();
        let request = options.to_request();
        let pool = waotp::SenderPool::from(sessions);
        promise(
            env,
            async move { g.send_otp_pool(&pool, &to, &request?).await },
            SentOtp::from,
        )
    }

    /// Sends `text` to `to` through the best session of a sender pool
    /// (`sessions`, or every session; the order of `sendOtpPool`), failing
    /// over to the next number on a refusal. `SentMessage.sessionId` names
    /// the number that sent it; when none can deliver it rejects with
    /// `ACCOUNT_LIMITED`.
    #[napi(ts_return_type = "Promise<SentMessage>")]
    pub fn send_text_pool<'env>(
        &self,
        env: &'env Env,
        to: String,
        text: String,
        sessions: Option<Vec<String>>,
    ) -> napi::Result<PromiseRaw<'env, SentMessage>> {
        let g = self.gateway.clone();
        let pool = waotp::SenderPool::from(sessions);
        promise(
            env,
            async move { g.send_text_pool(&pool, &to, &text).await },
            SentMessage::from,
        )
    }

    /// Starts an inbound verification: the user sends the code. Show them
    /// `link` (a button on a phone) or `qrCode` (scanned with the phone on
    /// a desktop); WhatsApp opens with `text` written out, they tap send,
    /// and the linked number receives it. No new chat is opened on the
    /// number's side, so WhatsApp's limits do not apply, and the user is a
    /// known contact afterwards. The number is one of `sessions` (every
    /// session without the list): the one `expectedPhone` already has a
    /// chat with, else the one used least recently. An approval is an
    /// `otp-verified` event with `method: 'inbound'`.
    #[napi(ts_return_type = "Promise<InboundVerification>")]
    pub fn start_inbound_verification<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "InboundOptions | undefined | null")] options: Option<Unknown<'env>>,
        sessions: Option<Vec<String>>,
    ) -> napi::Result<PromiseRaw<'env, InboundVerification>> {
        let g = self.gateway.clone();
        let request = object_or_default::<InboundOptions>(env, options, "inbound options")
            .and_then(|o| o.to_request());
        let pool = waotp::SenderPool::from(sessions);
        promise(
            env,
            async move {
                InboundVerification::from_core(
                    g.start_inbound_verification(&pool, &request?).await?,
                )
            },
            |v| v,
        )
    }

    /// Where an inbound verification stands: `status` and, once approved,
    /// `sender` (the number that sent the code).
    #[napi(ts_return_type = "Promise<InboundStatus>")]
    pub fn inbound_verification_status<'env>(
        &self,
        env: &'env Env,
        verification_id: String,
    ) -> napi::Result<PromiseRaw<'env, InboundStatus>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.inbound_verification_status(&verification_id).await },
            InboundStatus::from,
        )
    }

    /// Cancels a pending inbound verification.
    #[napi(ts_return_type = "Promise<InboundStatus>")]
    pub fn cancel_inbound_verification<'env>(
        &self,
        env: &'env Env,
        verification_id: String,
    ) -> napi::Result<PromiseRaw<'env, InboundStatus>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.cancel_inbound_verification(&verification_id).await },
            InboundStatus::from,
        )
    }

    /// Checks a code. A wrong code resolves `{outcome: 'invalid', attemptsLeft}`;
    /// it is not a rejection.
    #[napi(ts_return_type = "Promise<VerifyResult>")]
    pub fn verify_otp<'env>(
        &self,
        env: &'env Env,
        to: String,
        code: String,
    ) -> napi::Result<PromiseRaw<'env, VerifyResult>> {
        let g = self.gateway.clone();
        promise(
            env,
            async move { g.verify_otp(&to, &code).await },
            VerifyResult::from,
        )
    }

    /// Cancels the recipient's pending code.
    #[napi(ts_return_type = "Promise<OtpStatus>")]
    pub fn cancel_otp<'env>(
        &self,
        env: &'env Env,
        to: String,
    ) -> napi::Result<PromiseRaw<'env, OtpStatus>> {
        let g = self.gateway.clone();
        promise(env, async move { g.cancel_otp(&to).await }, OtpStatus::from)
    }

    /// The state of the recipient's latest code.
    #[napi(ts_return_type = "Promise<OtpStatus>")]
    pub fn otp_status<'env>(
        &self,
        env: &'env Env,
        to: String,
    ) -> napi::Result<PromiseRaw<'env, OtpStatus>> {
        let g = self.gateway.clone();
        promise(env, async move { g.otp_status(&to).await }, OtpStatus::from)
    }

    /// Send and verification figures, in total and per session.
    #[napi(ts_return_type = "Promise<Stats>")]
    pub fn stats<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Stats>> {
        ready(env, Ok(Stats::from(self.gateway.stats())))
    }

    /// The same figures in Prometheus text format, for a `/metrics` route.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn stats_prometheus<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, String>> {
        ready(env, Ok(self.gateway.stats_prometheus()))
    }

    /// A subscription to every event from now on.
    #[napi]
    pub fn events(&self) -> EventStream {
        EventStream::new(self.gateway.events())
    }

    /// Calls `listener` with every event from now on; what `gateway.on` is
    /// built on. It never keeps Node running by itself.
    #[napi]
    pub fn listen(&self, listener: ThreadsafeFunction<Event, (), Event, Status, false, true>) {
        let listener: Listener = listener;
        let mut stream = self.gateway.events();
        let task = napi::bindgen_prelude::spawn(async move {
            while let Some(e) = stream.next().await {
                listener.call(Event::from(e), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        lock(&self.forwarders).push(task);
    }

    /// `phone` as E.164 digits, as the gateway reads it (`INVALID_PHONE` otherwise).
    #[napi]
    pub fn normalize_phone(&self, env: &Env, phone: String) -> napi::Result<String> {
        self.gateway
            .normalize_phone(&phone)
            .map_err(|e| js_error(env, &e))
    }

    /// Moves the manual clock on by `ms` milliseconds (sandbox builds opened
    /// with `manualClock: true`).
    #[napi]
    pub fn advance_clock(&self, env: &Env, ms: f64) -> napi::Result<()> {
        millis(ms, "ms")
            .and_then(|by| self.gateway.advance_clock(by))
            .map_err(|e| js_error(env, &e))
    }

    /// Stops every session (credentials stay for the next open) and ends the
    /// event streams and listeners. Closing twice is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let g = self.gateway.clone();
        let forwarders = std::mem::take(&mut *lock(&self.forwarders));
        promise(
            env,
            async move {
                g.close().await;
                // The streams have ended with the close; the tasks finish
                // delivering what came before it.
                for task in forwarders {
                    let _ = task.await;
                }
                Ok(())
            },
            |()| (),
        )
    }
}

/// An options object (`T`'s defaults for undefined or null); anything but
/// an object is an `INVALID_ARGUMENT`, not silently the defaults.
fn object_or_default<T: FromNapiValue + Default>(
    env: &Env,
    value: Option<Unknown<'_>>,
    what: &str,
) -> waotp::Result<T> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    match value.get_type() {
        Ok(ValueType::Null | ValueType::Undefined) => return Ok(T::default()),
        Ok(ValueType::Object) => {}
        _ => return Err(invalid_argument(format!("{what} must be an object"))),
    }
    // SAFETY: a value of this call, on the JS thread, with this call's env.
    unsafe { T::from_napi_value(env.raw(), value.raw()) }
        .map_err(|e| invalid_argument(format!("{what}: {}", e.reason)))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
