"""WhatsAppOTP: the reference guide's PHP class, in Python, on waotp.

The same methods and answers as ``examples/php/WhatsAppOTP.php``: every
method returns ``{'success': ..., 'message': ..., 'data': {...}}`` and never
raises for a WhatsApp or OTP problem; a failure is
``{'success': False, 'message': ..., 'error': CODE}`` with waotp's stable
code (``SESSION_NOT_FOUND``, ``NOT_CONNECTED``, ``RATE_LIMITED``, ...).

    wa = WhatsAppOTP(session_id="my-session")
    wa.check_session_status()                     # {'success': True, 'data': {'isConnected': True, ...}}
    r = wa.send_otp("08123456789", company_name="PT. Contoh")
    v = wa.verify_otp("08123456789", typed_code)  # {'success': True, 'data': {'status': 'approved', ...}}

Every gunicorn or multiprocessing worker may make its own object on the same
``data_dir``: one runs the WhatsApp connection, the others send through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, Optional, TypeVar

import waotp

Answer = Dict[str, Any]
T = TypeVar("T")

MESSAGES = {
    "approved": "OTP verified successfully",
    "invalid": "Invalid OTP",
    "expired": "OTP has expired",
    "max_attempts": "Too many attempts",
    "not_found": "OTP not found",
}


def unix_ms(t: Optional[datetime]) -> Optional[int]:
    return None if t is None else int(t.timestamp() * 1000)


class WhatsAppOTP:
    """One linked WhatsApp session, with the guide's methods."""

    def __init__(self, session_id: str = "default", **gateway_options: Any) -> None:
        """``gateway_options`` are :class:`waotp.Gateway`'s (``data_dir``,
        ``endpoint``, ``redis_url``, ...)."""
        self.session_id = session_id
        self.gateway = waotp.Gateway(**gateway_options)

    def close(self) -> None:
        self.gateway.close()

    def create_session(self) -> Answer:
        return self._call("Session created", lambda: self.gateway.create_session(self.session_id), self._status)

    def check_session_status(self) -> Answer:
        return self._call("Session status", lambda: self.gateway.session_status(self.session_id), self._status)

    def get_qr(self, fmt: str = "dataUrl", wait: float = 30) -> Answer:
        """``data`` = ``{'qr': ...}`` as ``raw``, ``dataUrl``, ``svg`` or ``terminal``."""
        render: Dict[str, Callable[[waotp.QrCode], str]] = {
            "raw": lambda q: q.raw,
            "dataUrl": lambda q: q.data_url(),
            "svg": lambda q: q.svg(),
            "terminal": lambda q: q.terminal(),
        }
        if fmt not in render:
            return {"success": False, "message": f"unknown QR format {fmt}", "error": "INVALID_ARGUMENT"}
        return self._call(
            "QR code",
            lambda: self.gateway.wait_qr(self.session_id, timeout=wait),
            lambda q: {"qr": render[fmt](q), "expiresAt": unix_ms(q.expires_at)},
        )

    def wait_connected(self, timeout: float = 120) -> Answer:
        return self._call(
            "Session connected", lambda: self.gateway.wait_connected(self.session_id, timeout), self._status
        )

    def send_otp(self, phone_number: str, company_name: str = "PT. Contoh") -> Answer:
        """Sends a code. As in the guide, ``data['otp']`` carries the code
        back to the server-side caller; never pass it on to a browser."""
        return self._call(
            "OTP sent successfully",
            lambda: self.gateway.send_otp(self.session_id, phone_number, company_name=company_name, reveal=True),
            lambda s: {
                "otp": s.code,
                "phoneNumber": s.to,
                "verificationId": s.verification_id,
                "messageId": s.message_id,
                "expiresAt": unix_ms(s.expires_at),
                "companyName": company_name,
            },
        )

    def verify_otp(self, phone_number: str, otp: str) -> Answer:
        """``success`` is True only when approved; ``data`` = ``{'status', 'attemptsLeft'}``."""
        try:
            result = self.gateway.verify_otp(phone_number, str(otp))
        except waotp.WaotpError as e:
            return self._failure(e)
        return {
            "success": result.approved,
            "message": MESSAGES.get(result.outcome, result.outcome),
            "data": {"status": result.outcome, "attemptsLeft": result.attempts_left or 0},
        }

    def send_text(self, phone_number: str, text: str, idempotency_key: Optional[str] = None) -> Answer:
        return self._call(
            "Message sent",
            lambda: self.gateway.send_text(self.session_id, phone_number, text, idempotency_key=idempotency_key),
            lambda m: {"messageId": m.message_id},
        )

    def get_stats(self) -> Answer:
        return self._call(
            "Stats",
            self.gateway.stats,
            lambda s: {
                "totalRequests": s.gateway.sends_total,
                "successfulRequests": s.gateway.sends_successful,
                "failedRequests": s.gateway.sends_failed,
                "averageResponseTimeMs": s.gateway.mean_latency_ms,
            },
        )

    @staticmethod
    def _status(s: waotp.SessionStatus) -> Dict[str, Any]:
        return {
            "sessionId": s.session_id,
            "state": s.state,
            "isConnected": s.is_connected,
            "user": None if s.user is None else {"jid": s.user.jid, "phone": s.user.phone, "name": s.user.name},
            "since": unix_ms(s.since),
            "lastSeen": unix_ms(s.last_seen),
        }

    def _call(self, message: str, fn: Callable[[], T], convert: Callable[[T], Dict[str, Any]]) -> Answer:
        try:
            return {"success": True, "message": message, "data": convert(fn())}
        except waotp.WaotpError as e:
            return self._failure(e)

    @staticmethod
    def _failure(e: waotp.WaotpError) -> Answer:
        return {"success": False, "message": e.message, "error": e.code}
