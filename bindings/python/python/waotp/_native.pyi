"""Type stub of ``waotp._native``, the Rust extension module.

Kept in step with ``bindings/python/src`` by ``tests/test_stub.py``. Every
method that waits takes ``awaitable``: ``False`` blocks, ``True`` returns an
awaitable of the same value. Use the typed ``waotp.Gateway`` and
``waotp.AsyncGateway`` rather than this module.
"""

from datetime import datetime
from typing import Awaitable, Dict, List, Literal, Optional, Tuple, overload

class LinkedUser:
    """The WhatsApp account a session is linked to."""

    @property
    def jid(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def name(self) -> Optional[str]: ...

class PasskeyChallenge:
    """The passkey (WebAuthn) check WhatsApp asks for before it completes a
    link: run ``snippet`` in the console of a ``https://web.whatsapp.com``
    tab and hand what it prints to ``submit_passkey_assertion``."""

    @property
    def options_json(self) -> str:
        """The server's ``PublicKeyCredentialRequestOptions``, verbatim JSON."""
    @property
    def expires_at(self) -> datetime:
        """When WhatsApp stops accepting an answer."""
    @property
    def snippet(self) -> str:
        """JavaScript that calls ``navigator.credentials.get`` with the
        options and prints the assertion JSON."""
    @property
    def confirmation_code(self) -> Optional[str]:
        """The code WhatsApp derived for this link (``XXXX-XXXX``), once it
        has one; the phone shows the same code."""

class SessionStatus:
    """A snapshot of a session."""

    @property
    def session_id(self) -> str: ...
    @property
    def state(self) -> str:
        """``starting``, ``awaiting_scan``, ``passkey_required``,
        ``connecting``, ``connected``, ``reconnecting``, ``logged_out``,
        ``qr_expired`` or ``stopped``."""
    @property
    def is_connected(self) -> bool: ...
    @property
    def user(self) -> Optional[LinkedUser]: ...
    @property
    def since(self) -> datetime: ...
    @property
    def last_seen(self) -> Optional[datetime]: ...
    @property
    def qr_refresh_count(self) -> int: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def passkey(self) -> Optional[PasskeyChallenge]:
        """In state ``passkey_required``: what WhatsApp asks for; else ``None``."""
    @property
    def health(self) -> SessionHealth:
        """What WhatsApp lets the linked number do now."""

class NewChatQuota:
    """The account's quota of new chats in the current cycle."""

    @property
    def used(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def cycle_ends(self) -> Optional[datetime]: ...

class SessionHealth:
    """What WhatsApp lets a session's linked number do."""

    @property
    def state(self) -> str:
        """``ok``, ``new_chats_limited``, ``banned`` or ``logged_out``."""
    @property
    def until(self) -> Optional[datetime]: ...
    @property
    def reason(self) -> Optional[str]:
        """With ``new_chats_limited``: ``timelock`` or ``capped``."""
    @property
    def quota(self) -> Optional[NewChatQuota]: ...
    @property
    def nacks_last_hour(self) -> Dict[str, int]: ...

class QrCode:
    """A pairing QR code and its renderings."""

    @property
    def raw(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    def png(self) -> bytes: ...
    def data_url(self) -> str: ...
    def svg(self) -> str: ...
    def terminal(self) -> str: ...

class SentMessage:
    """A message handed to WhatsApp by ``send_text``."""

    @property
    def message_id(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def newly_sent(self) -> bool: ...
    @property
    def session_id(self) -> str: ...

class InboundVerification:
    """A started inbound verification: show the user ``link`` or ``qr``."""

    @property
    def verification_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def link(self) -> str: ...
    @property
    def qr(self) -> QrCode: ...
    @property
    def expires_at(self) -> datetime: ...

class InboundStatus:
    """Where an inbound verification stands."""

    @property
    def verification_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def expected_phone(self) -> Optional[str]: ...
    @property
    def sender(self) -> Optional[str]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def approved_at(self) -> Optional[datetime]: ...

class MessageStatus:
    """Where a sent message is."""

    @property
    def message_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def updated_at(self) -> datetime: ...

class SentOtp:
    """An OTP that was sent (or found already sent under its idempotency key)."""

    @property
    def verification_id(self) -> str: ...
    @property
    def message_id(self) -> Optional[str]: ...
    @property
    def session_id(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def code(self) -> Optional[str]: ...
    @property
    def replayed(self) -> bool: ...

class VerifyResult:
    """The answer to a code."""

    @property
    def outcome(self) -> str: ...
    @property
    def attempts_left(self) -> Optional[int]: ...
    @property
    def approved(self) -> bool: ...
    def __bool__(self) -> bool: ...

class OtpStatus:
    """The state of a recipient's latest OTP."""

    @property
    def verification_id(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def delivery(self) -> Optional[str]: ...
    @property
    def message_id(self) -> Optional[str]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def attempts(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def attempts_left(self) -> int: ...

class VerifyCounts:
    """Verification outcomes counted."""

    @property
    def approved(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def expired(self) -> int: ...
    @property
    def max_attempts_reached(self) -> int: ...
    @property
    def not_found(self) -> int: ...

class Conversion:
    """Verifications over one window: started, delivered, approved by method."""

    @property
    def started(self) -> int: ...
    @property
    def delivered(self) -> int: ...
    @property
    def approved_by_code(self) -> int: ...
    @property
    def approved_inbound(self) -> int: ...
    @property
    def rate(self) -> Optional[float]: ...

class ConversionFigures:
    """The conversion figures over the last hour and day (5-minute steps)."""

    @property
    def last_hour(self) -> Conversion: ...
    @property
    def last_day(self) -> Conversion: ...

class SendStats:
    """Send and verification figures of the gateway or one session."""

    @property
    def sends_total(self) -> int: ...
    @property
    def sends_successful(self) -> int: ...
    @property
    def sends_failed(self) -> int: ...
    @property
    def success_rate(self) -> Optional[float]: ...
    @property
    def mean_latency_ms(self) -> Optional[float]: ...
    @property
    def p50_latency_ms(self) -> Optional[float]: ...
    @property
    def p99_latency_ms(self) -> Optional[float]: ...
    @property
    def max_latency_ms(self) -> Optional[float]: ...
    @property
    def otp_issued(self) -> int: ...
    @property
    def rate_limited(self) -> int: ...
    @property
    def verify(self) -> VerifyCounts: ...
    @property
    def conversion(self) -> ConversionFigures: ...

class Stats:
    """The gateway's figures, in total and per session."""

    @property
    def gateway(self) -> SendStats: ...
    @property
    def sessions(self) -> Dict[str, SendStats]: ...

class BuildInfo:
    """What this build of waotp is."""

    @property
    def version(self) -> str: ...
    @property
    def whatsapp_rust_version(self) -> str: ...
    @property
    def sandbox(self) -> bool: ...

class Limits:
    """Send limits, verification limits and pacing (``None`` turns a rule off)."""

    def __new__(
        cls,
        *,
        sends_per_recipient: Optional[Tuple[int, float]] = ...,
        resend_cooldown: float = ...,
        verifies_per_recipient: Optional[Tuple[int, float]] = ...,
        session_pacing: Optional[Tuple[float, float, float]] = ...,
    ) -> "Limits": ...
    @staticmethod
    def none() -> "Limits": ...
    @property
    def sends_per_recipient(self) -> Optional[Tuple[int, float]]: ...
    @property
    def resend_cooldown(self) -> float: ...
    @property
    def verifies_per_recipient(self) -> Optional[Tuple[int, float]]: ...
    @property
    def session_pacing(self) -> Optional[Tuple[float, float, float]]: ...

class SendRetry:
    """How an OTP send is retried when the failure is transient."""

    def __new__(
        cls,
        *,
        max_attempts: int = ...,
        initial_backoff: float = ...,
        max_backoff: float = ...,
        max_elapsed: float = ...,
    ) -> "SendRetry": ...
    @staticmethod
    def none() -> "SendRetry": ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def initial_backoff(self) -> float: ...
    @property
    def max_backoff(self) -> float: ...
    @property
    def max_elapsed(self) -> float: ...

class MemoryBounds:
    """How much a gateway keeps in memory, however long it runs."""

    def __new__(
        cls,
        *,
        tracked_messages: int = ...,
        tracked_message_age: float = ...,
        on_whatsapp_entries: int = ...,
        queued_delivery_reports: int = ...,
    ) -> "MemoryBounds": ...
    @property
    def tracked_messages(self) -> int: ...
    @property
    def tracked_message_age(self) -> float: ...
    @property
    def on_whatsapp_entries(self) -> int: ...
    @property
    def queued_delivery_reports(self) -> int: ...

class Event:
    """Something that happened; attributes the kind has not are ``None``."""

    @property
    def type(self) -> str:
        """``qr_updated``, ``pairing_code``, ``qr_expired``,
        ``passkey_required``, ``passkey_confirmation``, ``passkey_failed``,
        ``connected``, ``disconnected``, ``logged_out``, ``stopped``,
        ``session_deleted``, ``message_status``, ``otp_sent``,
        ``otp_delivery``, ``otp_failed``, ``otp_verified`` or ``lagged``."""
    @property
    def session_id(self) -> Optional[str]: ...
    @property
    def qr(self) -> Optional[str]: ...
    @property
    def expires_at(self) -> Optional[datetime]:
        """``qr_updated``, ``passkey_required``: when that code or challenge expires."""
    @property
    def options_json(self) -> Optional[str]:
        """``passkey_required``: WhatsApp's WebAuthn request options, JSON."""
    @property
    def snippet(self) -> Optional[str]:
        """``passkey_required``: the console snippet that answers them."""
    @property
    def refresh_count(self) -> Optional[int]: ...
    @property
    def code(self) -> Optional[str]:
        """``pairing_code``: the code to type on the phone;
        ``passkey_confirmation``: the code the phone shows; ``otp_failed``,
        ``passkey_failed``: the error code."""
    @property
    def user(self) -> Optional[LinkedUser]: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def message_id(self) -> Optional[str]: ...
    @property
    def to(self) -> Optional[str]: ...
    @property
    def status(self) -> Optional[str]: ...
    @property
    def verification_id(self) -> Optional[str]: ...
    @property
    def outcome(self) -> Optional[str]: ...
    @property
    def attempts_left(self) -> Optional[int]: ...
    @property
    def method(self) -> Optional[str]: ...
    @property
    def missed(self) -> Optional[int]: ...
    @property
    def health(self) -> Optional[SessionHealth]: ...

class EventStream:
    """A subscription to the gateway's events."""

    @overload
    def next(self, timeout: Optional[float] = None, awaitable: Literal[False] = False) -> Optional[Event]: ...
    @overload
    def next(self, timeout: Optional[float], awaitable: Literal[True]) -> Awaitable[Optional[Event]]: ...

class Gateway:
    """The native gateway."""

    @overload
    @staticmethod
    def open(
        *,
        data_dir: Optional[str] = None,
        endpoint: Optional[str] = None,
        default_country_code: Optional[int] = None,
        otp_length: Optional[int] = None,
        otp_ttl: Optional[float] = None,
        otp_max_attempts: Optional[int] = None,
        otp_locale: Optional[str] = None,
        limits: Optional[Limits] = None,
        memory_store: bool = False,
        check_on_whatsapp: bool = True,
        on_whatsapp_cache_ttl: Optional[float] = None,
        redis_url: Optional[str] = None,
        redis_key_prefix: Optional[str] = None,
        redis_lease_ttl: Optional[float] = None,
        manual_clock: bool = False,
        whatsapp_version: Optional[Tuple[int, int, int]] = None,
        otp_secret: Optional[bytes] = None,
        send_retry: Optional[SendRetry] = None,
        memory_bounds: Optional[MemoryBounds] = None,
        otp_secret_in_redis: bool = False,
        session_store_key: Optional[bytes] = None,
        new_chats_per_day: Optional[int] = None,
        awaitable: Literal[False] = False,
    ) -> "Gateway": ...
    @overload
    @staticmethod
    def open(
        *,
        data_dir: Optional[str] = None,
        endpoint: Optional[str] = None,
        default_country_code: Optional[int] = None,
        otp_length: Optional[int] = None,
        otp_ttl: Optional[float] = None,
        otp_max_attempts: Optional[int] = None,
        otp_locale: Optional[str] = None,
        limits: Optional[Limits] = None,
        memory_store: bool = False,
        check_on_whatsapp: bool = True,
        on_whatsapp_cache_ttl: Optional[float] = None,
        redis_url: Optional[str] = None,
        redis_key_prefix: Optional[str] = None,
        redis_lease_ttl: Optional[float] = None,
        manual_clock: bool = False,
        whatsapp_version: Optional[Tuple[int, int, int]] = None,
        otp_secret: Optional[bytes] = None,
        send_retry: Optional[SendRetry] = None,
        memory_bounds: Optional[MemoryBounds] = None,
        otp_secret_in_redis: bool = False,
        session_store_key: Optional[bytes] = None,
        new_chats_per_day: Optional[int] = None,
        awaitable: Literal[True],
    ) -> Awaitable["Gateway"]: ...
    @overload
    def create_session(self, session_id: Optional[str] = None, awaitable: Literal[False] = False) -> SessionStatus: ...
    @overload
    def create_session(self, session_id: Optional[str], awaitable: Literal[True]) -> Awaitable[SessionStatus]: ...
    def list_sessions(self) -> List[SessionStatus]: ...
    def session_status(self, session_id: str) -> SessionStatus: ...
    @overload
    def qr(self, session_id: str, awaitable: Literal[False] = False) -> QrCode: ...
    @overload
    def qr(self, session_id: str, awaitable: Literal[True]) -> Awaitable[QrCode]: ...
    @overload
    def wait_qr(self, session_id: str, timeout: float, awaitable: Literal[False] = False) -> QrCode: ...
    @overload
    def wait_qr(self, session_id: str, timeout: float, awaitable: Literal[True]) -> Awaitable[QrCode]: ...
    @overload
    def pair_code(self, session_id: str, phone: str, awaitable: Literal[False] = False) -> str: ...
    @overload
    def pair_code(self, session_id: str, phone: str, awaitable: Literal[True]) -> Awaitable[str]: ...
    @overload
    def submit_passkey_assertion(
        self, session_id: str, assertion_json: str, awaitable: Literal[False] = False
    ) -> None: ...
    @overload
    def submit_passkey_assertion(
        self, session_id: str, assertion_json: str, awaitable: Literal[True]
    ) -> Awaitable[None]: ...
    @overload
    def wait_connected(self, session_id: str, timeout: float, awaitable: Literal[False] = False) -> SessionStatus: ...
    @overload
    def wait_connected(self, session_id: str, timeout: float, awaitable: Literal[True]) -> Awaitable[SessionStatus]: ...
    @overload
    def restart(self, session_id: str, awaitable: Literal[False] = False) -> None: ...
    @overload
    def restart(self, session_id: str, awaitable: Literal[True]) -> Awaitable[None]: ...
    @overload
    def logout(self, session_id: str, awaitable: Literal[False] = False) -> None: ...
    @overload
    def logout(self, session_id: str, awaitable: Literal[True]) -> Awaitable[None]: ...
    @overload
    def delete_session(self, session_id: str, awaitable: Literal[False] = False) -> None: ...
    @overload
    def delete_session(self, session_id: str, awaitable: Literal[True]) -> Awaitable[None]: ...
    @overload
    def send_text(
        self,
        session_id: str,
        to: str,
        text: str,
        idempotency_key: Optional[str] = None,
        awaitable: Literal[False] = False,
    ) -> SentMessage: ...
    @overload
    def send_text(
        self,
        session_id: str,
        to: str,
        text: str,
        idempotency_key: Optional[str],
        awaitable: Literal[True],
    ) -> Awaitable[SentMessage]: ...
    @overload
    def is_on_whatsapp(self, session_id: str, phone: str, awaitable: Literal[False] = False) -> bool: ...
    @overload
    def is_on_whatsapp(self, session_id: str, phone: str, awaitable: Literal[True]) -> Awaitable[bool]: ...
    @overload
    def message_status(self, message_id: str, awaitable: Literal[False] = False) -> MessageStatus: ...
    @overload
    def message_status(self, message_id: str, awaitable: Literal[True]) -> Awaitable[MessageStatus]: ...
    def generate_otp(self, length: Optional[int] = None) -> str: ...
    @overload
    def send_otp(
        self,
        session_id: str,
        to: str,
        *,
        company_name: str,
        length: Optional[int] = None,
        ttl: Optional[float] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
        awaitable: Literal[False] = False,
    ) -> SentOtp: ...
    @overload
    def send_otp(
        self,
        session_id: str,
        to: str,
        *,
        company_name: str,
        length: Optional[int] = None,
        ttl: Optional[float] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
        awaitable: Literal[True],
    ) -> Awaitable[SentOtp]: ...
    @overload
    def send_otp_pool(
        self,
        to: str,
        company_name: str,
        sessions: Optional[List[str]] = None,
        length: Optional[int] = None,
        ttl: Optional[float] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
        awaitable: Literal[False] = False,
    ) -> SentOtp: ...
    @overload
    def send_otp_pool(
        self,
        to: str,
        company_name: str,
        sessions: Optional[List[str]] = None,
        length: Optional[int] = None,
        ttl: Optional[float] = None,
        template: Optional[str] = None,
        locale: Optional[str] = None,
        reveal: bool = False,
        idempotency_key: Optional[str] = None,
        *,
        awaitable: Literal[True],
    ) -> Awaitable[SentOtp]: ...
    @overload
    def send_text_pool(
        self,
        to: str,
        text: str,
        sessions: Optional[List[str]] = None,
        awaitable: Literal[False] = False,
    ) -> SentMessage: ...
    @overload
    def send_text_pool(
        self,
        to: str,
        text: str,
        sessions: Optional[List[str]] = None,
        *,
        awaitable: Literal[True],
    ) -> Awaitable[SentMessage]: ...
    @overload
    def start_inbound_verification(
        self,
        sessions: Optional[List[str]] = None,
        expected_phone: Optional[str] = None,
        template: Optional[str] = None,
        ttl: Optional[float] = None,
        reply: Optional[str] = None,
        awaitable: Literal[False] = False,
    ) -> InboundVerification: ...
    @overload
    def start_inbound_verification(
        self,
        sessions: Optional[List[str]] = None,
        expected_phone: Optional[str] = None,
        template: Optional[str] = None,
        ttl: Optional[float] = None,
        reply: Optional[str] = None,
        *,
        awaitable: Literal[True],
    ) -> Awaitable[InboundVerification]: ...
    @overload
    def inbound_verification_status(
        self, verification_id: str, awaitable: Literal[False] = False
    ) -> InboundStatus: ...
    @overload
    def inbound_verification_status(
        self, verification_id: str, awaitable: Literal[True]
    ) -> Awaitable[InboundStatus]: ...
    @overload
    def cancel_inbound_verification(
        self, verification_id: str, awaitable: Literal[False] = False
    ) -> InboundStatus: ...
    @overload
    def cancel_inbound_verification(
        self, verification_id: str, awaitable: Literal[True]
    ) -> Awaitable[InboundStatus]: ...
    @overload
    def verify_otp(self, to: str, code: str, awaitable: Literal[False] = False) -> VerifyResult: ...
    @overload
    def verify_otp(self, to: str, code: str, awaitable: Literal[True]) -> Awaitable[VerifyResult]: ...
    @overload
    def cancel_otp(self, to: str, awaitable: Literal[False] = False) -> OtpStatus: ...
    @overload
    def cancel_otp(self, to: str, awaitable: Literal[True]) -> Awaitable[OtpStatus]: ...
    @overload
    def otp_status(self, to: str, awaitable: Literal[False] = False) -> OtpStatus: ...
    @overload
    def otp_status(self, to: str, awaitable: Literal[True]) -> Awaitable[OtpStatus]: ...
    def stats(self) -> Stats: ...
    def stats_prometheus(self) -> str: ...
    def events(self) -> EventStream: ...
    def normalize_phone(self, phone: str) -> str: ...
    def advance_clock(self, by: float) -> None: ...
    @overload
    def close(self, awaitable: Literal[False] = False) -> None: ...
    @overload
    def close(self, awaitable: Literal[True]) -> Awaitable[None]: ...

def build_info() -> BuildInfo:
    """The build of the loaded module."""

def error_codes() -> List[str]:
    """Every error code the module can raise."""
