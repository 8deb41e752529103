"""The exceptions of waotp: one class per stable error code.

Every exception is a :class:`WaotpError` whose ``code`` is the core's code
string (the same in C, PHP, Node and the REST server), so callers can branch
on the class or on ``code``. Argument errors are also ``ValueError``; a wait
that ran out is also ``TimeoutError``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "WaotpError",
    "SessionNotFound",
    "InvalidSessionId",
    "NotConnected",
    "NotOnWhatsApp",
    "InvalidPhone",
    "QrNotAvailable",
    "AlreadyConnected",
    "LoggedOut",
    "Timeout",
    "InvalidArgument",
    "RateLimited",
    "MessageNotFound",
    "OtpNotFound",
    "OtpExpired",
    "OtpMaxAttempts",
    "OtpInvalid",
    "EndpointNotAllowed",
    "SendFailed",
    "WhatsAppError",
    "StoreError",
    "IoError",
    "Closed",
    "SandboxOnly",
    "PasskeyRejected",
    "PasskeyExpired",
    "AccountLimited",
    "AfterFork",
    "RuntimeFailure",
]


class WaotpError(Exception):
    """Base of every waotp error.

    Attributes:
        code: the stable code string, e.g. ``"NOT_CONNECTED"``.
        message: what went wrong, in English. Never contains an OTP code.
    """

    code: str = "UNKNOWN_ERROR"

    def __init__(self, message: str, *, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class SessionNotFound(WaotpError):
    """No session with this id exists."""

    code = "SESSION_NOT_FOUND"


class InvalidSessionId(WaotpError, ValueError):
    """A session id that is not 1–64 of ``A-Z a-z 0-9 _ -``."""

    code = "INVALID_SESSION_ID"


class NotConnected(WaotpError):
    """The operation needs a connected session."""

    code = "NOT_CONNECTED"


class NotOnWhatsApp(WaotpError):
    """The recipient has no WhatsApp account."""

    code = "NOT_ON_WHATSAPP"


class InvalidPhone(WaotpError, ValueError):
    """The phone number could not be read."""

    code = "INVALID_PHONE"


class QrNotAvailable(WaotpError):
    """No QR code to show yet (the session is starting or connecting)."""

    code = "QR_NOT_AVAILABLE"


class AlreadyConnected(WaotpError):
    """The session is linked and connected; there is no QR code."""

    code = "ALREADY_CONNECTED"


class LoggedOut(WaotpError):
    """The linked device was logged out; link the session again."""

    code = "LOGGED_OUT"


class Timeout(WaotpError, TimeoutError):
    """A wait ran out of time."""

    code = "TIMEOUT"


class InvalidArgument(WaotpError, ValueError):
    """An argument is out of range or malformed."""

    code = "INVALID_ARGUMENT"


class RateLimited(WaotpError):
    """A limit was hit.

    Attributes:
        retry_after_ms: milliseconds until the same request can succeed (the
            core's wait; Node's ``retryAfterMs``, C's
            ``waotp_last_error_retry_after_ms()`` and the REST server's
            ``retryAfterMs`` carry the same number).
    """

    code = "RATE_LIMITED"
    retry_after_ms: int = 0

    @property
    def retry_after(self) -> float:
        """The same wait in seconds, derived from ``retry_after_ms`` (kept
        for callers written before it)."""
        return self.retry_after_ms / 1000.0


class MessageNotFound(WaotpError):
    """No message with this id is known."""

    code = "MESSAGE_NOT_FOUND"


class OtpNotFound(WaotpError):
    """No OTP for this recipient."""

    code = "OTP_NOT_FOUND"


class OtpExpired(WaotpError):
    """The OTP has expired."""

    code = "OTP_EXPIRED"


class OtpMaxAttempts(WaotpError):
    """Too many wrong codes were entered."""

    code = "OTP_MAX_ATTEMPTS"


class OtpInvalid(WaotpError):
    """The code does not match.

    Attributes:
        attempts_left: checks left before the OTP locks.
    """

    code = "OTP_INVALID"
    attempts_left: int = 0


class EndpointNotAllowed(WaotpError):
    """The endpoint is not allowed in this build (only sandbox builds take
    one, and only a loopback ``ws://`` URL)."""

    code = "ENDPOINT_NOT_ALLOWED"


class SendFailed(WaotpError):
    """WhatsApp refused or failed to send a message."""

    code = "SEND_FAILED"


class WhatsAppError(WaotpError):
    """The WhatsApp client reported an error."""

    code = "WHATSAPP_ERROR"


class StoreError(WaotpError):
    """The persistent store (SQLite or Redis) failed."""

    code = "STORE_ERROR"


class IoError(WaotpError):
    """A file system operation failed."""

    code = "IO_ERROR"


class Closed(WaotpError):
    """The gateway is closed."""

    code = "CLOSED"


class SandboxOnly(WaotpError):
    """The feature exists only in sandbox builds (``manual_clock``,
    ``advance_clock``)."""

    code = "SANDBOX_ONLY"


class PasskeyRejected(WaotpError):
    """WhatsApp refused the passkey assertion (a wrong signature, another
    site's or another challenge's assertion, user verification missing).
    The session starts linking again: a fresh QR code follows."""

    code = "PASSKEY_REJECTED"


class PasskeyExpired(WaotpError):
    """The passkey challenge ran out before an accepted assertion arrived.
    The session starts linking again: a fresh QR code follows."""

    code = "PASSKEY_EXPIRED"


class AccountLimited(WaotpError):
    """WhatsApp limits the session's number on new chats (a reachout
    timelock, a spent new-chat quota): a code to a recipient without a chat
    with the number was refused before it was sent. Recipients it has a
    chat with still get codes.

    Attributes:
        retry_after_ms: milliseconds until the limit ends, when WhatsApp
            said (0 when unknown).
    """

    code = "ACCOUNT_LIMITED"
    retry_after_ms: int = 0


class AfterFork(WaotpError):
    """waotp was used before ``fork()``; its threads do not exist in the child.

    Open gateways in each worker after it forks (gunicorn, multiprocessing).
    """

    code = "AFTER_FORK"


class RuntimeFailure(WaotpError):
    """waotp's runtime could not start (the OS refused threads)."""

    code = "RUNTIME_ERROR"


_BY_CODE: Dict[str, Type[WaotpError]] = {
    cls.code: cls
    for cls in (
        SessionNotFound,
        InvalidSessionId,
        NotConnected,
        NotOnWhatsApp,
        InvalidPhone,
        QrNotAvailable,
        AlreadyConnected,
        LoggedOut,
        Timeout,
        InvalidArgument,
        RateLimited,
        MessageNotFound,
        OtpNotFound,
        OtpExpired,
        OtpMaxAttempts,
        OtpInvalid,
        EndpointNotAllowed,
        SendFailed,
        WhatsAppError,
        StoreError,
        IoError,
        Closed,
        SandboxOnly,
        PasskeyRejected,
        PasskeyExpired,
        AccountLimited,
        AfterFork,
        RuntimeFailure,
    )
}


def error_class(code: str) -> Type[WaotpError]:
    """The exception class for a code (``WaotpError`` for one it does not know)."""
    return _BY_CODE.get(code, WaotpError)


def _from_native(
    code: str,
    message: str,
    retry_after_ms: Optional[int],
    attempts_left: Optional[int],
) -> WaotpError:
    """Called by ``waotp._native`` to make the exception it raises."""
    error = error_class(code)(message, code=code)
    if retry_after_ms is not None:
        setattr(error, "retry_after_ms", retry_after_ms)
    if attempts_left is not None:
        setattr(error, "attempts_left", attempts_left)
    return error
