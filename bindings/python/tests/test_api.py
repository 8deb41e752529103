"""The package's surface: every option is accepted, every public item is
documented, the option classes show their values."""

from __future__ import annotations

import inspect
from pathlib import Path

import waotp
from conftest import Simulator, open_gateway


def test_every_option_is_accepted(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(
        sim,
        tmp_path / "data",
        default_country_code=60,
        otp_length=8,
        otp_ttl=120,
        otp_max_attempts=5,
        otp_locale="en",
        limits=waotp.Limits(sends_per_recipient=(3, 60), resend_cooldown=5, session_pacing=None),
        memory_store=True,
        check_on_whatsapp=False,
        on_whatsapp_cache_ttl=600,
        manual_clock=True,
        whatsapp_version=(2, 3000, 1),
        otp_secret=b"0123456789abcdef0123456789abcdef",
        send_retry=waotp.SendRetry(max_attempts=2, max_elapsed=10),
        memory_bounds=waotp.MemoryBounds(tracked_messages=1000, tracked_message_age=600),
        otp_secret_in_redis=False,
        session_store_key=bytes(range(32)),  # the test build has SQLCipher
    ) as gw:
        assert gw.normalize_phone("012-345 6789") == "60123456789", "default country 60"
        assert len(gw.generate_otp()) == 8


def test_option_classes_show_their_values() -> None:
    assert waotp.Limits.none().session_pacing is None
    limits = waotp.Limits(sends_per_recipient=(3, 60), verifies_per_recipient=None)
    assert limits.sends_per_recipient == (3, 60.0) and limits.verifies_per_recipient is None
    assert limits.resend_cooldown == waotp.Limits().resend_cooldown, "unnamed rules keep the defaults"
    assert "sends_per_recipient=(3, 60.0)" in repr(limits)
    retry = waotp.SendRetry(max_attempts=2)
    assert retry.max_attempts == 2 and retry.max_elapsed == waotp.SendRetry().max_elapsed
    assert waotp.SendRetry.none().max_attempts == 1
    assert repr(retry).startswith("SendRetry(max_attempts=2,")
    bounds = waotp.MemoryBounds(on_whatsapp_entries=10)
    assert bounds.on_whatsapp_entries == 10
    assert bounds.tracked_messages == waotp.MemoryBounds().tracked_messages, "unnamed bounds keep the defaults"
    assert repr(bounds).startswith("MemoryBounds(tracked_messages=")


def test_every_public_item_is_documented() -> None:
    missing = []
    for name in waotp.__all__:
        item = getattr(waotp, name)
        if name.startswith("__") or isinstance(item, str):
            continue
        if not inspect.getdoc(item):
            missing.append(name)
        if inspect.isclass(item):
            for member, value in vars(item).items():
                if member.startswith("_"):
                    continue  # the class's docstring documents its constructor
                if callable(value) or isinstance(value, property) or type(value).__name__ == "getset_descriptor":
                    if not getattr(value, "__doc__", None):
                        missing.append(f"{name}.{member}")
    assert not missing, f"undocumented: {missing}"
