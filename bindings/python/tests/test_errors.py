"""Every error reaches Python as its own class with the core's code; bad
input raises and never takes the interpreter down."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

import waotp
import waotp._native as native
from waotp import errors
from conftest import Simulator, fresh_phone, link, open_gateway


def raises(cls: type, call: Callable[[], Any]) -> waotp.WaotpError:
    with pytest.raises(cls) as info:
        call()
    error = info.value
    assert isinstance(error, waotp.WaotpError)
    assert error.code == error_code_of(cls), (error.code, cls)
    assert error.message and str(error) == error.message
    return error


def error_code_of(cls: type) -> str:
    code: str = getattr(cls, "code")
    return code


def test_every_code_has_its_own_class() -> None:
    codes = native.error_codes()
    classes = {errors.error_class(c) for c in codes}
    assert len(classes) == len(codes), "one class per code"
    for code in codes:
        cls = errors.error_class(code)
        assert cls is not waotp.WaotpError and cls.code == code
        assert cls.__name__ in waotp.__all__, f"{cls.__name__} is exported"
    assert errors.error_class("SOMETHING_NEW") is waotp.WaotpError
    assert issubclass(waotp.InvalidArgument, ValueError)
    assert issubclass(waotp.InvalidPhone, ValueError)
    assert issubclass(waotp.Timeout, TimeoutError)


def test_errors_of_sessions(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        raises(waotp.SessionNotFound, lambda: gw.session_status("nope"))
        e = raises(waotp.InvalidSessionId, lambda: gw.create_session("../x"))
        assert isinstance(e, ValueError)
        gw.create_session("idle")
        raises(waotp.NotConnected, lambda: gw.send_text("idle", "6281234567890", "hi"))
        t = raises(waotp.Timeout, lambda: gw.wait_connected("idle", timeout=0.2))
        assert isinstance(t, TimeoutError)
        raises(waotp.MessageNotFound, lambda: gw.message_status("3EB0000000"))
        raises(waotp.InvalidArgument, lambda: gw.wait_qr("idle", timeout=-1))
        link(sim, gw, "shop")
        raises(waotp.AlreadyConnected, lambda: gw.qr("shop"))
    raises(waotp.Closed, lambda: gw.verify_otp("6281234567890", "123456"))
    raises(waotp.EndpointNotAllowed, lambda: waotp.Gateway(data_dir=tmp_path / "x", endpoint="ws://10.1.2.3/ws"))


def test_errors_of_otp(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    # Default limits: a resend within the cooldown is refused.
    with open_gateway(sim, tmp_path / "data", limits=waotp.Limits()) as gw:
        link(sim, gw, "shop")
        e = raises(waotp.InvalidPhone, lambda: gw.send_otp("shop", "not a phone", company_name="Toko"))
        assert isinstance(e, ValueError)
        raises(waotp.InvalidArgument, lambda: gw.send_otp("shop", recipient, company_name="Toko", length=99))
        raises(waotp.InvalidArgument, lambda: gw.send_otp("shop", recipient, company_name="Toko", template="no code"))
        raises(waotp.InvalidArgument, lambda: gw.send_otp("shop", recipient, company_name="Toko", locale="xx"))
        raises(waotp.InvalidArgument, lambda: gw.generate_otp(99))
        stranger = fresh_phone("62819")
        sim.add_number(stranger, registered=False)
        raises(waotp.NotOnWhatsApp, lambda: gw.send_otp("shop", stranger, company_name="Toko"))
        gw.send_otp("shop", recipient, company_name="Toko")
        limited = raises(waotp.RateLimited, lambda: gw.send_otp("shop", recipient, company_name="Toko"))
        assert isinstance(limited, waotp.RateLimited) and 0 < limited.retry_after_ms <= 10_000
        assert isinstance(limited.retry_after_ms, int)
        assert limited.retry_after == limited.retry_after_ms / 1000
        raises(waotp.OtpNotFound, lambda: gw.otp_status(fresh_phone("62818")))
        raises(waotp.SessionNotFound, lambda: gw.send_otp("ghost", recipient, company_name="Toko"))


def test_bad_options_raise_before_anything_opens(sim: Simulator, tmp_path: Path) -> None:
    bad: List[Dict[str, Any]] = [
        {"otp_length": 99},
        {"otp_ttl": -5},
        {"otp_ttl": float("nan")},
        {"otp_max_attempts": 0},
        {"otp_locale": "klingon"},
        {"redis_url": "http://not-redis"},
        {"otp_secret": b"short"},
    ]
    for options in bad:
        with pytest.raises(waotp.InvalidArgument):
            open_gateway(sim, tmp_path / "data", **options)
    with pytest.raises(waotp.InvalidArgument):
        open_gateway(sim, tmp_path / "data", limits=waotp.Limits(resend_cooldown=-1))
    with pytest.raises(waotp.InvalidArgument):
        waotp.SendRetry(max_attempts=0)
    with pytest.raises(waotp.InvalidArgument, match="queued_delivery_reports"):
        waotp.MemoryBounds(queued_delivery_reports=0)
    with pytest.raises(waotp.InvalidArgument, match="32 random bytes"):
        open_gateway(sim, tmp_path / "data", session_store_key=b"short")
    with pytest.raises(waotp.InvalidArgument, match="otp_secret"):
        open_gateway(sim, tmp_path / "data", redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(TypeError):
        open_gateway(sim, tmp_path / "data", otp_secret="not bytes")


def test_wrong_types_raise_type_errors(sim: Simulator, linked: waotp.Gateway) -> None:
    gw = linked
    wrong: List[Callable[[], object]] = [
        lambda: gw.verify_otp(6281234567890, "123456"),  # type: ignore[arg-type]
        lambda: gw.verify_otp("6281234567890", None),  # type: ignore[arg-type]
        lambda: gw.send_otp("shop", b"628", company_name="Toko"),  # type: ignore[arg-type]
        lambda: gw.session_status(["shop"]),  # type: ignore[arg-type]
        lambda: gw.wait_connected("shop", timeout="soon"),  # type: ignore[arg-type]
        lambda: gw.send_otp("shop", "628", company_name="Toko", length="6"),  # type: ignore[arg-type]
    ]
    for call in wrong:
        with pytest.raises(TypeError):
            call()
    # Still alive and well.
    assert gw.session_status("shop").is_connected


def test_hostile_strings_are_refused_cleanly(linked: waotp.Gateway) -> None:
    gw = linked
    for text in ["", " ", "\x00", "6281\x00234", "😀" * 100, "9" * 10_000, "\ud800"[:0] + "\u202e628"]:
        with pytest.raises((waotp.InvalidPhone, waotp.InvalidArgument)):
            gw.send_otp("shop", text, company_name="Toko")
        assert gw.verify_otp("6281234567890", text).outcome in ("not_found", "invalid")
    for sid in ["", "a" * 65, "../../etc/passwd", "shop\x00", "é"]:
        with pytest.raises((waotp.InvalidSessionId, waotp.SessionNotFound)):
            gw.session_status(sid)
    assert gw.session_status("shop").is_connected
