"""waotp: send and verify one-time passwords over WhatsApp from a linked
WhatsApp account (WhatsApp Web multi-device), on a Rust core.

>>> import waotp
>>> with waotp.Gateway(data_dir="waotp-data") as gw:       # doctest: +SKIP
...     gw.create_session("shop")
...     print(gw.wait_qr("shop").terminal())
...     gw.wait_connected("shop", timeout=120)
...     sent = gw.send_otp("shop", "0812 3456 7890", company_name="PT. Contoh")
...     gw.verify_otp(sent.to, "123456").outcome

:class:`Gateway` blocks (threads welcome: the GIL is released while it
waits); :class:`AsyncGateway` is the asyncio twin. Errors are
:class:`waotp.errors.WaotpError` subclasses with a stable ``code``.
"""

from __future__ import annotations

from . import errors
from ._async_gateway import AsyncEvents, AsyncGateway
from ._gateway import Events, Gateway
from ._native import (
    BuildInfo,
    Conversion,
    ConversionFigures,
    Event,
    InboundStatus,
    InboundVerification,
    LinkedUser,
    Limits,
    MemoryBounds,
    MessageStatus,
    OtpStatus,
    PasskeyChallenge,
    SessionHealth,
    NewChatQuota,
    QrCode,
    SendRetry,
    SendStats,
    SentMessage,
    SentOtp,
    SessionStatus,
    Stats,
    VerifyCounts,
    VerifyResult,
    build_info,
)
from .errors import (
    AfterFork,
    AlreadyConnected,
    Closed,
    EndpointNotAllowed,
    InvalidArgument,
    InvalidPhone,
    InvalidSessionId,
    IoError,
    LoggedOut,
    MessageNotFound,
    NotConnected,
    NotOnWhatsApp,
    OtpExpired,
    OtpInvalid,
    OtpMaxAttempts,
    OtpNotFound,
    PasskeyExpired,
    AccountLimited,
    PasskeyRejected,
    QrNotAvailable,
    RateLimited,
    RuntimeFailure,
    SandboxOnly,
    SendFailed,
    SessionNotFound,
    StoreError,
    Timeout,
    WaotpError,
    WhatsAppError,
)

__version__: str = build_info().version

__all__ = [
    "AsyncEvents",
    "AsyncGateway",
    "BuildInfo",
    "Event",
    "Events",
    "Gateway",
    "LinkedUser",
    "Limits",
    "MemoryBounds",
    "MessageStatus",
    "OtpStatus",
    "Conversion",
    "ConversionFigures",
    "InboundStatus",
    "InboundVerification",
    "PasskeyChallenge",
    "SessionHealth",
    "NewChatQuota",
    "QrCode",
    "SendRetry",
    "SendStats",
    "SentMessage",
    "SentOtp",
    "SessionStatus",
    "Stats",
    "VerifyCounts",
    "VerifyResult",
    "build_info",
    "errors",
    "__version__",
    "AfterFork",
    "AlreadyConnected",
    "Closed",
    "EndpointNotAllowed",
    "InvalidArgument",
    "InvalidPhone",
    "InvalidSessionId",
    "IoError",
    "LoggedOut",
    "MessageNotFound",
    "NotConnected",
    "NotOnWhatsApp",
    "OtpExpired",
    "OtpInvalid",
    "OtpMaxAttempts",
    "OtpNotFound",
    "PasskeyExpired",
    "AccountLimited",
    "PasskeyRejected",
    "QrNotAvailable",
    "RateLimited",
    "RuntimeFailure",
    "SandboxOnly",
    "SendFailed",
    "SessionNotFound",
    "StoreError",
    "Timeout",
    "WaotpError",
    "WhatsAppError",
]
