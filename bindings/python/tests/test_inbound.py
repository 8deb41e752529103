"""Inbound verification through the binding: the user sends the code from
WhatsApp (the simulator's user writes to the linked number), a stranger
with the token is refused, the expected number approves it, and the event
says `method="inbound"`; the async API does the same without an expected
number and reports the sender."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import waotp
from conftest import LINK_S, Simulator, fresh_phone, link, open_gateway, wait_for


def test_the_user_sends_the_code_and_a_stranger_is_refused(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        number = link(sim, gw, "shop")
        user, stranger = fresh_phone("62812"), fresh_phone("62812")
        sim.add_number(user)
        sim.add_number(stranger)
        events = gw.events(timeout=LINK_S)
        started = gw.start_inbound_verification(expected_phone=user, reply="Berhasil masuk")
        assert isinstance(started, waotp.InboundVerification)
        assert started.session_id == "shop"
        assert started.number == number
        assert started.link.startswith(f"https://wa.me/{number}?text=Kode%20masuk%3A%20")
        assert started.qr.png().startswith(b"\x89PNG")
        assert started.text not in repr(started), "the token stays out of repr"

        sim.user_sends(stranger, number, started.text)
        wait_for(
            lambda: gw.inbound_verification_status(started.verification_id).attempts == 1,
            LINK_S,
            "the stranger's message counted",
        )
        sim.user_sends(user, number, started.text)
        approval = next(
            e for e in events if e.type == "otp_verified" and e.method == "inbound"
        )
        assert (approval.to, approval.verification_id) == (user, started.verification_id)
        status = gw.inbound_verification_status(started.verification_id)
        assert (status.status, status.sender, status.attempts) == ("approved", user, 1)
        assert sim.wait_inbox(user, 1)[0]["text"] == "Berhasil masuk"
        hour = gw.stats().sessions["shop"].conversion.last_hour
        assert isinstance(hour, waotp.Conversion)
        assert (hour.started, hour.approved_inbound, hour.rate) == (1, 1, 1.0)

        with pytest.raises(waotp.OtpNotFound):
            gw.inbound_verification_status("nope")
        with pytest.raises(waotp.InvalidArgument):
            gw.start_inbound_verification(template="no token")
        other = gw.start_inbound_verification(sessions=["shop"])
        assert gw.cancel_inbound_verification(other.verification_id).status == "canceled"


def test_async_login_with_whatsapp_reports_the_sender(sim: Simulator, tmp_path: Path) -> None:
    async def main() -> str:
        async with waotp.AsyncGateway(
            data_dir=tmp_path / "data", endpoint=sim.ws, limits=waotp.Limits.none()
        ) as gw:
            await gw.create_session("only")
            qr = await gw.wait_qr("only", timeout=LINK_S)
            number = fresh_phone("62810")
            sim.scan(qr.raw, number)
            await gw.wait_connected("only", timeout=LINK_S)
            user = fresh_phone("62812")
            sim.add_number(user)
            started = await gw.start_inbound_verification(ttl=120)
            sim.user_sends(user, number, started.text)
            for _ in range(int(LINK_S / 0.02)):
                status = await gw.inbound_verification_status(started.verification_id)
                if status.status == "approved":
                    assert status.sender is not None
                    return status.sender
                await asyncio.sleep(0.02)
            raise AssertionError(f"not approved within {LINK_S} s")

    user = asyncio.run(main())
    assert user.startswith("62812")
