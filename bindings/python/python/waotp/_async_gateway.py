"""The asyncio gateway: every operation is a coroutine. The work runs on
waotp's own threads and completes an asyncio future, so the event loop is
never blocked, and cancelling the awaiting task cancels the work."""

from __future__ import annotations

import os
from types import TracebackType
from typing import AsyncIterator, List, Optional, Tuple, Type, Union

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
from .errors import AfterFork, Closed


class AsyncEvents:
    """Events from the moment :meth:`AsyncGateway.events` was called, for
    ``async for``. Iteration ends when none comes for ``timeout`` seconds
    (never with ``timeout=None``) or the gateway closes."""

    def __init__(self, stream: _native.EventStream, timeout: Optional[Seconds]) -> None:
        self._stream = stream
        self._timeout = optional_seconds(timeout)

    async def next(self, timeout: Optional[Seconds] = None) -> Optional[Event]:
        """The next event within ``timeout`` seconds (``None``: no limit), or ``None``."""
        return await self._stream.next(optional_seconds(timeout), True)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self.next(self._timeout)
        if event is None:
            raise StopAsyncIteration
        return event


class AsyncGateway:
    """The asyncio twin of :class:`waotp.Gateway`; same arguments, same
    operations, each a coroutine.

    Use it as ``async with AsyncGateway(...) as gw:`` (opened on entry,
    closed on exit), or ``gw = await AsyncGateway.open(...)`` and
    ``await gw.close()``.
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
        self._options = gateway_options(
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
        self._opened: Optional[_native.Gateway] = None

    @classmethod
    async def open(cls, **options: object) -> "AsyncGateway":
        """Makes and opens a gateway: ``await AsyncGateway.open(data_dir=...)``."""
        gateway = cls(**options)  # type: ignore[arg-type]
        await gateway._open()
        return gateway

    async def _open(self) -> None:
        if self._opened is None:
            self._opened = await _native.Gateway.open(**self._options, awaitable=True)

    @property
    def _native(self) -> _native.Gateway:
        if self._opened is None:
            raise Closed("the gateway is not open: use `async with` or `await AsyncGateway.open(...)`")
        return self._opened

    async def __aenter__(self) -> "AsyncGateway":
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stops every session; credentials stay for the next open. In a
        child process forked after the gateway opened, does nothing (see
        :meth:`waotp.Gateway.close`)."""
        if self._opened is not None:
            try:
                await self._opened.close(True)
            except AfterFork:
                pass

    # --- sessions -----------------------------------------------------------

    async def create_session(self, session_id: Optional[str] = None) -> SessionStatus:
        """Creates a session and starts linking it (see :meth:`Gateway.create_session`)."""
        return await self._native.create_session(session_id, True)

    async def list_sessions(self) -> List[SessionStatus]:
        """Every session, with its status."""
        return self._native.list_sessions()

    async def session_status(self, session_id: str) -> SessionStatus:
        """One session's status."""
        return self._native.session_status(session_id)

    async def qr(self, session_id: str) -> QrCode:
        """The current QR code."""
        return await self._native.qr(session_id, True)

    async def wait_qr(self, session_id: str, timeout: Seconds = 30) -> QrCode:
        """The QR code, waiting up to ``timeout`` for one."""
        return await self._native.wait_qr(session_id, seconds(timeout), True)

    async def pair_code(self, session_id: str, phone: str) -> str:
        """The pairing code to type on ``phone``."""
        return await self._native.pair_code(session_id, phone, True)

    async def submit_passkey_assertion(self, session_id: str, assertion_json: str) -> None:
        """Hands in the passkey assertion WhatsApp asked for (state
        ``passkey_required``): the JSON the challenge's snippet printed (see
        :meth:`Gateway.submit_passkey_assertion`). Raises
        :class:`~waotp.errors.InvalidArgument`,
        :class:`~waotp.errors.PasskeyRejected` or
        :class:`~waotp.errors.PasskeyExpired`."""
        await self._native.submit_passkey_assertion(session_id, assertion_json, True)

    async def wait_connected(self, session_id: str, timeout: Seconds = 120) -> SessionStatus:
        """Waits up to ``timeout`` for the session to be connected."""
        return await self._native.wait_connected(session_id, seconds(timeout), True)

    async def restart(self, session_id: str) -> None:
        """Reconnects the session."""
        await self._native.restart(session_id, True)

    async def logout(self, session_id: str) -> None:
        """Unlinks the device; the session stays."""
        await self._native.logout(session_id, True)

    async def delete_session(self, session_id: str) -> None:
        """Removes the session and its credentials."""
        await self._native.delete_session(session_id, True)

    # --- messages -----------------------------------------------------------

    async def send_text(
        self, session_id: str, to: str, text: str, *, idempotency_key: Optional[str] = None
    ) -> SentMessage:
        """Sends a text message."""
        return await self._native.send_text(session_id, to, text, idempotency_key, True)

    async def is_on_whatsapp(self, session_id: str, phone: str) -> bool:
        """Whether ``phone`` has a WhatsApp account."""
        return await self._native.is_on_whatsapp(session_id, phone, True)

    async def message_status(self, message_id: str) -> MessageStatus:
        """Where a sent message is."""
        return await self._native.message_status(message_id, True)

    # --- OTP ------------------------------------------------------------------

    async def generate_otp(self, length: Optional[int] = None) -> str:
        """A random code (not stored, not sent)."""
        return self._native.generate_otp(length)

    async def send_otp(
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
        """Issues a code for ``to`` and sends it (see :meth:`Gateway.send_otp`)."""
        return await self._native.send_otp(
            session_id,
            to,
            company_name=company_name,
            length=length,
            ttl=optional_seconds(ttl),
            template=template,
            locale=locale,
            reveal=reveal,
            idempotency_key=idempotency_key,
            awaitable=True,
        )

    async def send_otp_pool(
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
        """Issues a code and sends it through a sender pool (see
        :meth:`Gateway.send_otp_pool`)."""
        return await self._native.send_otp_pool(
            to,
            company_name,
            sessions,
            length,
            optional_seconds(ttl),
            template,
            locale,
            reveal,
            idempotency_key,
            awaitable=True,
        )

    async def send_text_pool(
        self, to: str, text: str, *, sessions: Optional[List[str]] = None
    ) -> SentMessage:
        """Sends a text through a sender pool (see
        :meth:`Gateway.send_text_pool`)."""
        return await self._native.send_text_pool(to, text, sessions, awaitable=True)

    async def start_inbound_verification(
        self,
        *,
        sessions: Optional[List[str]] = None,
        expected_phone: Optional[str] = None,
        template: Optional[str] = None,
        ttl: Optional[Seconds] = None,
        reply: Optional[str] = None,
    ) -> InboundVerification:
        """Starts an inbound verification (see
        :meth:`Gateway.start_inbound_verification`)."""
        return await self._native.start_inbound_verification(
            sessions, expected_phone, template, optional_seconds(ttl), reply, awaitable=True
        )

    async def inbound_verification_status(self, verification_id: str) -> InboundStatus:
        """Where an inbound verification stands."""
        return await self._native.inbound_verification_status(verification_id, True)

    async def cancel_inbound_verification(self, verification_id: str) -> InboundStatus:
        """Cancels a pending inbound verification."""
        return await self._native.cancel_inbound_verification(verification_id, True)

    async def verify_otp(self, to: str, code: str) -> VerifyResult:
        """Checks a code; the answer is an outcome, not an exception."""
        return await self._native.verify_otp(to, code, True)

    async def cancel_otp(self, to: str) -> OtpStatus:
        """Cancels the recipient's pending code."""
        return await self._native.cancel_otp(to, True)

    async def otp_status(self, to: str) -> OtpStatus:
        """The state of the recipient's latest code."""
        return await self._native.otp_status(to, True)

    # --- observing ----------------------------------------------------------

    async def stats(self) -> Stats:
        """Send and verification figures."""
        return self._native.stats()

    async def stats_prometheus(self) -> str:
        """The same figures in Prometheus text format."""
        return self._native.stats_prometheus()

    def events(self, timeout: Optional[Seconds] = None) -> AsyncEvents:
        """Events from now on, for ``async for``."""
        return AsyncEvents(self._native.events(), timeout)

    async def normalize_phone(self, phone: str) -> str:
        """``phone`` as E.164 digits."""
        return self._native.normalize_phone(phone)

    def advance_clock(self, by: Seconds) -> None:
        """Sandbox builds opened with ``manual_clock=True``: moves the clock on."""
        self._native.advance_clock(seconds(by))
