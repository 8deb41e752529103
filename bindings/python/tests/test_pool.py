"""A sender pool and account health through the binding, against the
simulator's new-chat quotas: codes go through the numbers that can still
deliver them, `session_id` names the sender, health shows in the status,
and when no number can deliver the answer is `AccountLimited`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import waotp
from conftest import Simulator, fresh_phone, link, open_gateway, wait_for


def set_quota(sim: Simulator, phone: str, total: int) -> None:
    sim.call("POST", f"/accounts/{phone}/limits", {"new_chat_quota": total, "cycle_secs": 600})


def test_a_pool_routes_around_spent_quotas_and_says_account_limited(
    sim: Simulator, tmp_path: Path
) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        phones = {sid: link(sim, gw, sid) for sid in ("a", "b")}
        for phone in phones.values():
            set_quota(sim, phone, 1)
        # The quota is known once WhatsApp's capping notification arrived.
        wait_for(
            lambda: all(gw.session_status(s).health.quota is not None for s in phones),
            30,
            "the quotas",
        )
        senders = []
        recipients = []
        for _ in range(2):
            to = fresh_phone("62812")
            sim.add_number(to)
            recipients.append(to)
            sent = gw.send_otp_pool(to, company_name="Toko Sehat", sessions=["a", "b"])
            senders.append(sent.session_id)
            code = sim.latest_code(to, 1)
            assert gw.verify_otp(to, code).outcome == "approved"
        assert sorted(senders) == ["a", "b"], senders

        to = fresh_phone("62812")
        sim.add_number(to)
        with pytest.raises(waotp.AccountLimited) as refused:
            gw.send_otp_pool(to, company_name="Toko Sehat")
        assert refused.value.code == "ACCOUNT_LIMITED"
        assert 0 < refused.value.retry_after_ms <= 600_000
        assert sim.inbox(to) == []

        health = gw.session_status("a").health
        assert isinstance(health, waotp.SessionHealth)
        assert (health.state, health.reason) == ("new_chats_limited", "capped")
        assert health.quota is not None and health.quota.remaining == 0
        assert health.until is not None
        assert "new_chats_limited" in repr(health)

        with pytest.raises(waotp.SessionNotFound):
            gw.send_otp_pool(to, company_name="Toko Sehat", sessions=["nope"])
        with pytest.raises(waotp.InvalidArgument):
            gw.send_otp_pool(to, company_name="Toko Sehat", sessions=[])

        # A text: a known contact still gets it from the number that sent
        # their code (a known contact once that code was delivered); a new
        # chat is refused up front.
        wait_for(
            lambda: gw.otp_status(recipients[0]).delivery in ("delivered", "read"),
            30,
            "the first code delivered",
        )
        text = gw.send_text_pool(recipients[0], "Pesanan Anda sudah dikirim")
        assert text.session_id == senders[0]
        assert sim.wait_inbox(recipients[0], 2)[1]["text"] == "Pesanan Anda sudah dikirim"
        with pytest.raises(waotp.AccountLimited):
            gw.send_text_pool(to, "Halo", sessions=["a", "b"])
        assert sim.inbox(to) == []


def test_the_async_pool_sends_name_their_session(sim: Simulator, tmp_path: Path) -> None:
    async def main() -> str:
        async with waotp.AsyncGateway(
            data_dir=tmp_path / "data", endpoint=sim.ws, limits=waotp.Limits.none()
        ) as gw:
            await gw.create_session("only")
            qr = await gw.wait_qr("only", timeout=60)
            sim.scan(qr.raw, fresh_phone("62810"))
            await gw.wait_connected("only", timeout=60)
            to = fresh_phone("62812")
            sim.add_number(to)
            sent = await gw.send_otp_pool(to, company_name="Toko Sehat")
            assert sim.latest_code(to, 1)
            # A new chat is limited by nothing here (no quota): the text goes.
            text = await gw.send_text_pool(to, "Terima kasih")
            assert text.session_id == sent.session_id
            return sent.session_id

    assert asyncio.run(main()) == "only"


def test_a_daily_budget_of_new_chats_raises_account_limited(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data", new_chats_per_day=1) as gw:
        link(sim, gw, "budget")
        first, second = fresh_phone("62812"), fresh_phone("62812")
        sim.add_number(first)
        sim.add_number(second)
        gw.send_otp("budget", first, company_name="Toko Sehat")
        with pytest.raises(waotp.AccountLimited, match="daily_budget") as refused:
            gw.send_otp("budget", second, company_name="Toko Sehat")
        assert 0 < refused.value.retry_after_ms <= 86_400_000
