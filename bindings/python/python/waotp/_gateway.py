"""The blocking gateway: every call waits for its answer, with the GIL
released, so threads run side by side and Ctrl-C still interrupts a wait."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Iterator, List, Optional, Tuple, Type, Union

from . import _native
from ._native import (
    Event,
    InboundStatus,
    InboundVerification,
    Limits,
    MemoryBounds,
    MessageStatus,
    OtpStatus,
    QrCode,
    SendRetry,
    SentMessage,
    SentOtp,
    SessionStatus,
    Stats,
    VerifyResult,
)
from ._options import Seconds, gateway_options, optional_seconds, seconds
from .errors import AfterFork


class Events:
    """Events from the moment :meth:`Gateway.events` was called.

    Iterating yields events until none comes for ``timeout`` seconds (or
    forever with ``timeout=None``) or the gateway closes.
    """

    def __init__(self, stream: _native.EventStream, timeout: Optional[Seconds]) -> None:
        self._stream = stream
        self._timeout = optional_seconds(timeout)

    def next(self, timeout: Optional[Seconds] = None) -> Optional[Event]:
        """The next event within ``timeout`` seconds (``None``: no limit;
        ``0``: only one already waiting), or ``None``."""
        return self._stream.next(optional_seconds(timeout))

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.next(self._timeout)
        if event is None:
            raise StopIteration
        return event


class Gateway:
    """A WhatsApp OTP gateway: linked sessions, the OTP engine, events.

    Open it once per process (after any fork) and share it between threads.
    State lives in ``data_dir``; several processes on one ``data_dir`` (or
    hosts on one ``redis_url``) share one WhatsApp connection per session.

    Args:
        data_dir: session credentials, the OTP store and its secret
            (default ``./waotp-data``).
        endpoint: sandbox builds only: the simulator's loopback ``ws://`` URL.
        default_country_code: country of numbers written as ``08…`` (default 62).
        otp_length: digits per code, 4–10 (default 6).
        otp_ttl: validity of a code, seconds or ``timedelta`` (default 300 s).
        otp_max_attempts: checks per code, 1–100 (default 3).
        otp_locale: language of the default message, ``"id"`` or ``"en"``.
        limits: send and verification limits (default :class:`Limits` ()).
        memory_store: keep OTP codes and inbound verifications in memory
            instead of ``data_dir/otp.db`` and ``inbound.db`` (one process).
        check_on_whatsapp: check a number is on WhatsApp before sending it a code.
        on_whatsapp_cache_ttl: how long that answer is remembered.
        redis_url: Redis shared by every host (``redis://host:port/db``).
        redis_key_prefix: prefix of every Redis key (default ``"waotp:"``).
        redis_lease_ttl: how long a host's claim on a session lasts unrenewed.
        manual_clock: sandbox builds only: OTP expiry and limits read a clock
            that moves only by :meth:`advance_clock`.
        whatsapp_version: the WhatsApp Web version to announce, instead of
            looking the current one up at connect time.
        otp_secret: the HMAC secret of stored codes (16+ bytes), instead of
            ``data_dir/otp.secret``; required with ``redis_url``.
        send_retry: how a send is retried when the failure is transient
            (default :class:`SendRetry` ()).
        memory_bounds: how much the gateway keeps in memory, however long
            it runs (default :class:`MemoryBounds` ()).
        otp_secret_in_redis: development only: with ``redis_url`` and no
            ``otp_secret``, generate the secret into Redis instead of
            refusing to open (whoever reads that Redis can read every code).
        session_store_key: 32 random bytes that encrypt the session stores
            at rest (needs a module built with the ``sqlcipher`` feature).
        new_chats_per_day: a budget of new chats per session per UTC day,
            across processes and hosts (default: none); past it a code to a
            recipient the number has no chat with raises
            :class:`~waotp.errors.AccountLimited`.
    """

    def __init__(
        self,
        *,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        endpoint: Optional[str] = None,
        default_country_code: Optional[int] = None,
        otp_length: Optional[int] = None,
        otp_ttl: Optional[Seconds] = None,
        otp_max_attempts: Optional[int] = None,
        otp_locale: Optional[str] = None,
        limits: Optional[Limits] = None,
        memory_store: bool = False,
        check_on_whatsapp: bool = True,
        on_whatsapp_cache_ttl: Optional[Seconds] = None,
        redis_url: Optional[str] = None,
        redis_key_prefix: Optional[str] = None,
        redis_lease_ttl: Optional[Seconds] = None,
        manual_clock: bool = False,
        whatsapp_version: Optional[Tuple[int, int, int]] = None,
        otp_secret: Optional[bytes] = None,
        send_retry: Optional[SendRetry] = None,
        memory_bounds: Optional[MemoryBounds] = None,
        otp_secret_in_redis: bool = False,
        session_store_key: Optional[bytes] = None,
        new_chats_per_day: Optional[int] = None,
    ) -> None:
        options = gateway_options(
            data_dir=data_dir,
            endpoint=endpoint,
            default_country_code=default_country_code,
            otp_length=otp_length,
            otp_ttl=otp_ttl,
            otp_max_attempts=otp_max_attempts,
            otp_locale=otp_locale,
            limits=limits,
            memory_store=memory_store,
            check_on_whatsapp=check_on_whatsapp,
            on_whatsapp_cache_ttl=on_whatsapp_cache_ttl,
            redis_url=redis_url,
            redis_key_prefix=redis_key_prefix,
            redis_lease_ttl=redis_lease_ttl,
            manual_clock=manual_clock,
            whatsapp_version=whatsapp_version,
            otp_secret=otp_secret,
            send_retry=send_retry,
            memory_bounds=memory_bounds,
            otp_secret_in_redis=otp_secret_in_redis,
            session_store_key=session_store_key,
            new_chats_per_day=new_chats_per_day,
        )
        self._native: _native.Gateway = _native.Gateway.open(**options)

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops every session; credentials stay for the next open. Calls
        after this raise :class:`~waotp.errors.Closed`.

        In a child process forked after the gateway opened, closing does
        nothing: the gateway, its sessions and its threads are the parent's.
        So a ``with`` block that a child leaves (``sys.exit`` in the child)
        ends cleanly."""
        try:
            self._native.close()
        except AfterFork:
            pass

    # --- sessions -----------------------------------------------------------

    def create_session(self, session_id: Optional[str] = None) -> SessionStatus:
        """Creates a session (a random id when none is given) and starts
        linking it; QR codes follow (:meth:`wait_qr`)."""
        return self._native.create_session(session_id)

    def list_sessions(self) -> List[SessionStatus]:
        """Every session, with its status."""
        return self._native.list_sessions()

    def session_status(self, session_id: str) -> SessionStatus:
        """One session's status."""
        return self._native.session_status(session_id)

    def qr(self, session_id: str) -> QrCode:
        """The current QR code (:class:`~waotp.errors.QrNotAvailable` when there is none yet)."""
        return self._native.qr(session_id)

    def wait_qr(self, session_id: str, timeout: Seconds = 30) -> QrCode:
        """The QR code, waiting up to ``timeout`` for one."""
        return self._native.wait_qr(session_id, seconds(timeout))

    def pair_code(self, session_id: str, phone: str) -> str:
        """Links by pairing code instead of QR: the 8 characters to type on ``phone``."""
        return self._native.pair_code(session_id, phone)

    def submit_passkey_assertion(self, session_id: str, assertion_json: str) -> None:
        """Hands in the passkey assertion WhatsApp asked for.

        Some accounts need a passkey (WebAuthn) check before a link completes:
        after the scan or the typed pairing code the session goes to state
        ``passkey_required`` and :attr:`SessionStatus.passkey` (also the
        ``passkey_required`` event) carries a ``snippet``. Run it in the
        console of a ``https://web.whatsapp.com`` tab and pass what it prints
        here. Returns once WhatsApp accepted it; the link then completes by
        itself (:meth:`wait_connected`).

        Raises:
            InvalidArgument: the JSON is malformed, or the session is not
                waiting for a passkey.
            PasskeyRejected: WhatsApp refused the assertion.
            PasskeyExpired: the challenge ran out.

        After a refusal or expiry the session starts linking again (fresh QR
        codes). Works from any process sharing the ``data_dir``.
        """
        self._native.submit_passkey_assertion(session_id, assertion_json)

    def wait_connected(self, session_id: str, timeout: Seconds = 120) -> SessionStatus:
        """Waits up to ``timeout`` for the session to be connected."""
        return self._native.wait_connected(session_id, seconds(timeout))

    def restart(self, session_id: str) -> None:
        """Reconnects the session."""
        self._native.restart(session_id)

    def logout(self, session_id: str) -> None:
        """Unlinks the device; the session stays and can be linked again."""
        self._native.logout(session_id)

    def delete_session(self, session_id: str) -> None:
        """Removes the session and its credentials."""
        self._native.delete_session(session_id)

    # --- messages -----------------------------------------------------------

    def send_text(
        self, session_id: str, to: str, text: str, *, idempotency_key: Optional[str] = None
    ) -> SentMessage:
        """Sends a text message. A repeated ``idempotency_key`` sends nothing new."""
        return self._native.send_text(session_id, to, text, idempotency_key)

    def is_on_whatsapp(self, session_id: str, phone: str) -> bool:
        """Whether ``phone`` has a WhatsApp account."""
        return self._native.is_on_whatsapp(session_id, phone)

    def message_status(self, message_id: str) -> MessageStatus:
        """Where a sent message is (pending, sent, delivered, read, failed)."""
        return self._native.message_status(message_id)

    # --- OTP ------------------------------------------------------------------

    def generate_otp(self, length: Optional[int] = None) -> str:
        """A random code (not stored, not sent)."""
        return self._native.generate_otp(length)

    def send_otp(
        self,
        session_id: str,
        to: str,
        *,
        company_name: str,
        length: Optional[int] = None,
        ttl: Optional[Seconds] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
    ) -> SentOtp:
        """Issues a code for ``to`` and sends it through the session.

        The code is not returned unless ``reveal=True``: the recipient reads
        it on WhatsApp and your app passes it to :meth:`verify_otp`.
        ``template`` must contain ``{OTP}``; it may use ``{COMPANY}`` and
        ``{MINUTES}``.
        """
        return self._native.send_otp(
            session_id,
            to,
            company_name=company_name,
            length=length,
            ttl=optional_seconds(ttl),
            template=template,
            locale=locale,
            reveal=reveal,
            idempotency_key=idempotency_key,
        )

    def send_otp_pool(
        self,
        to: str,
        *,
        company_name: str,
        sessions: Optional[List[str]] = None,
        length: Optional[int] = None,
        ttl: Optional[Seconds] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
    ) -> SentOtp:
        """Issues a code for ``to`` and sends it through the best session of
        a sender pool: ``sessions``, or every session of the gateway.

        The recipient's previous number goes first (sticky), then healthy
        numbers with the most new-chat quota left, least recently used;
        numbers that are not connected or that WhatsApp limits on new chats
        are skipped, and a refused send fails over to the next number with
        the same code. ``SentOtp.session_id`` names the number that sent it.
        When no number can deliver: :class:`~waotp.errors.AccountLimited`
        (``retry_after_ms`` when a limit's end is known).
        """
        return self._native.send_otp_pool(
            to,
            company_name,
            sessions,
            length,
            optional_seconds(ttl),
            template,
            locale,
            reveal,
            idempotency_key,
        )

    def send_text_pool(
        self, to: str, text: str, *, sessions: Optional[List[str]] = None
    ) -> SentMessage:
        """Sends ``text`` to ``to`` through the best session of a sender pool
        (``sessions``, or every session; the order of :meth:`send_otp_pool`),
        failing over to the next number on a refusal.
        ``SentMessage.session_id`` names the number that sent it. No
        idempotency key: the same text through another number would be
        another message. When no number can deliver:
        :class:`~waotp.errors.AccountLimited`.
        """
        return self._native.send_text_pool(to, text, sessions)

    def verify_otp(self, to: str, code: str) -> VerifyResult:
        """Checks a code. The answer is an outcome (``approved``,
        ``invalid`` with ``attempts_left``, ``expired``,
        ``max_attempts``, ``not_found``), not an exception."""
        return self._native.verify_otp(to, code)

    def cancel_otp(self, to: str) -> OtpStatus:
        """Cancels the recipient's pending code."""
        return self._native.cancel_otp(to)

    def otp_status(self, to: str) -> OtpStatus:
        """The state of the recipient's latest code."""
        return self._native.otp_status(to)

    # --- the user sends the code -------------------------------------------

    def start_inbound_verification(
        self,
        *,
        sessions: Optional[List[str]] = None,
        expected_phone: Optional[str] = None,
        template: Optional[str] = None,
        ttl: Optional[Seconds] = None,
        reply: Optional[str] = None,
    ) -> InboundVerification:
        """Starts an inbound verification: show the user ``link`` (a button
        on a phone) or ``qr`` (scanned with the phone on a desktop);
        WhatsApp opens with ``text`` written out, they tap send, and the
        linked number receives it. It opens no new chat on the number's
        side (no limit applies) and makes the user a known contact.

        The number is one of ``sessions`` (every session without it): the
        one ``expected_phone`` already has a chat with, else the one used
        least recently. With ``expected_phone`` only that number approves
        it; without, any sender does and
        :meth:`inbound_verification_status` names them (login with
        WhatsApp). ``template`` must contain ``{TOKEN}``; ``reply`` is sent
        to the user once approved.
        """
        return self._native.start_inbound_verification(
            sessions, expected_phone, template, optional_seconds(ttl), reply
        )

    def inbound_verification_status(self, verification_id: str) -> InboundStatus:
        """Where an inbound verification stands: ``status`` (``pending``,
        ``approved``, ``canceled``, ``expired``, ``max_attempts_reached``)
        and, once approved, ``sender``."""
        return self._native.inbound_verification_status(verification_id)

    def cancel_inbound_verification(self, verification_id: str) -> InboundStatus:
        """Cancels a pending inbound verification."""
        return self._native.cancel_inbound_verification(verification_id)

    # --- observing ----------------------------------------------------------

    def stats(self) -> Stats:
        """Send and verification figures, in total and per session."""
        return self._native.stats()

    def stats_prometheus(self) -> str:
        """The same figures in Prometheus text format."""
        return self._native.stats_prometheus()

    def events(self, timeout: Optional[Seconds] = None) -> Events:
        """Events from now on; iterating stops after ``timeout`` without one."""
        return Events(self._native.events(), timeout)

    def normalize_phone(self, phone: str) -> str:
        """``phone`` as E.164 digits, as the gateway reads it."""
        return self._native.normalize_phone(phone)

    def advance_clock(self, by: Seconds) -> None:
        """Sandbox builds opened with ``manual_clock=True``: moves the clock on."""
        self._native.advance_clock(seconds(by))
