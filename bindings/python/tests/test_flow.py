"""The whole flow through the blocking Gateway: link by QR, send a code,
read it on the recipient's phone, verify it; and every OTP outcome."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import waotp
from conftest import Simulator, fresh_phone, link, open_gateway, wait_for


def test_link_send_and_verify(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        created = gw.create_session("shop")
        assert created.session_id == "shop" and not created.is_connected

        qr = gw.wait_qr("shop", timeout=60)
        assert qr.raw.count(",") >= 3, "ref,noise,identity,adv[,type]"
        assert qr.expires_at.tzinfo is not None and qr.expires_at > datetime.now(timezone.utc)
        assert qr.png().startswith(b"\x89PNG\r\n\x1a\n")
        assert qr.data_url().startswith("data:image/png;base64,")
        assert "<svg" in qr.svg()
        assert "\u2588" in qr.terminal() or "\u2580" in qr.terminal()
        assert qr.raw not in repr(qr), "the payload holds keys: never printed whole"

        phone = fresh_phone()
        sim.scan(qr.raw, phone, "Toko")
        status = gw.wait_connected("shop", timeout=60)
        assert status.is_connected and status.state == "connected"
        assert status.user is not None and status.user.phone == phone
        assert [s.session_id for s in gw.list_sessions()] == ["shop"]

        sent = gw.send_otp("shop", recipient, company_name="PT. Contoh")
        assert sent.code is None, "the code is not revealed by default"
        assert sent.to == recipient and sent.message_id and not sent.replayed
        code = sim.latest_code(recipient, 1)
        assert "PT. Contoh" in sim.inbox(recipient)[0]["text"]

        result = gw.verify_otp(recipient, code)
        assert result.outcome == "approved" and result.approved and bool(result)
        again = gw.verify_otp(recipient, code)
        assert again.outcome == "not_found" and not again, "a code works once"
        assert gw.otp_status(recipient).status == "approved"


def test_wrong_code_then_too_many_attempts(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    gw.send_otp("shop", recipient, company_name="Toko", length=8)
    code = sim.latest_code(recipient, 1)
    assert len(code) == 8
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    first = gw.verify_otp(recipient, wrong)
    assert (first.outcome, first.attempts_left) == ("invalid", 2)
    assert gw.verify_otp(recipient, wrong).attempts_left == 1
    assert gw.verify_otp(recipient, wrong).attempts_left == 0
    locked = gw.verify_otp(recipient, code)
    assert locked.outcome == "max_attempts", "even the right code, once locked"
    status = gw.otp_status(recipient)
    assert (status.status, status.attempts, status.attempts_left) == ("max_attempts_reached", 3, 0)


def test_expiry_on_the_manual_clock(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    sent = gw.send_otp("shop", recipient, company_name="Toko", ttl=60)
    code = sim.latest_code(recipient, 1)
    assert (sent.expires_at - datetime.now(timezone.utc)).total_seconds() <= 61
    gw.advance_clock(61)
    assert gw.verify_otp(recipient, code).outcome == "expired"
    assert gw.otp_status(recipient).status == "expired"


def test_cancel_status_and_reveal(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    sent = gw.send_otp("shop", recipient, company_name="Toko", reveal=True, locale="en")
    assert sent.code is not None and sent.code == sim.latest_code(recipient, 1)
    assert "Toko" in sim.inbox(recipient)[0]["text"]
    pending = gw.otp_status(recipient)
    assert pending.status == "pending" and pending.verification_id == sent.verification_id
    assert pending.session_id == "shop" and pending.max_attempts == 3
    canceled = gw.cancel_otp(recipient)
    assert canceled.status == "canceled"
    assert gw.verify_otp(recipient, sent.code).outcome == "not_found"


def test_idempotency_key_and_template(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    first = gw.send_otp(
        "shop", recipient, company_name="Toko", template="Kode {OTP} untuk {COMPANY}", idempotency_key="req-1"
    )
    again = gw.send_otp("shop", recipient, company_name="Toko", idempotency_key="req-1")
    assert again.replayed and again.verification_id == first.verification_id
    messages = sim.wait_inbox(recipient, 1)
    assert messages[0]["text"].startswith("Kode ") and messages[0]["text"].endswith("untuk Toko")
    assert len(sim.inbox(recipient)) == 1, "a replayed request sends nothing"


def test_text_message_status_and_stats(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    assert gw.is_on_whatsapp("shop", recipient)
    sent = gw.send_text("shop", recipient, "Halo", idempotency_key="t-1")
    assert sent.newly_sent and sent.to == recipient
    assert not gw.send_text("shop", recipient, "Halo", idempotency_key="t-1").newly_sent
    assert sim.wait_inbox(recipient, 1)[0]["text"] == "Halo"

    def delivered() -> bool:
        return gw.message_status(sent.message_id).status in ("delivered", "read")

    wait_for(delivered, 60, "the delivery receipt")
    record = gw.message_status(sent.message_id)
    assert record.session_id == "shop" and record.updated_at.tzinfo is not None

    gw.send_otp("shop", recipient, company_name="Toko")
    gw.verify_otp(recipient, "000000")
    stats = gw.stats()
    assert stats.gateway.otp_issued == 1 and stats.sessions["shop"].otp_issued == 1
    assert stats.gateway.verify.invalid + stats.gateway.verify.approved == 1
    assert "waotp_" in gw.stats_prometheus()
    assert gw.generate_otp().isdigit() and len(gw.generate_otp(8)) == 8
    assert gw.normalize_phone("0812-3456-7890") == "6281234567890"


def test_events_iterator(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    gw = linked
    events = gw.events(timeout=30)
    assert events.next(timeout=0) is None, "nothing yet"
    sent = gw.send_otp("shop", recipient, company_name="Toko")
    seen = []
    for event in events:
        seen.append(event.type)
        if event.type == "otp_sent":
            assert event.verification_id == sent.verification_id and event.to == recipient
            assert event.session_id == "shop"
            break
    assert "otp_sent" in seen, seen


def test_restart_logout_delete(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        link(sim, gw, "a")
        gw.restart("a")
        assert gw.wait_connected("a", timeout=60).is_connected
        gw.logout("a")
        assert gw.session_status("a").state in ("logged_out", "awaiting_scan", "starting")
        gw.delete_session("a")
        with pytest.raises(waotp.SessionNotFound):
            gw.session_status("a")


def test_reopen_restores_the_linked_session(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        link(sim, gw, "shop")
    with open_gateway(sim, tmp_path / "data") as gw:
        assert gw.wait_connected("shop", timeout=60).is_connected, "no QR code the second time"


def test_link_by_pairing_code(sim: Simulator, tmp_path: Path) -> None:
    with open_gateway(sim, tmp_path / "data") as gw:
        gw.create_session("paired")
        gw.wait_qr("paired", timeout=60)  # the client is up and pairing
        phone = fresh_phone()
        code = gw.pair_code("paired", phone)
        assert len(code) == 8 and code.isalnum(), code
        sim.enter_pair_code(phone, code)
        status = gw.wait_connected("paired", timeout=60)
        assert status.user is not None and status.user.phone == phone
