"""Passkey-gated linking: the simulator's gated accounts ask for a WebAuthn
assertion after the scan; the simulator's phone also plays the owner's
browser (`POST /passkey/assert`) and prints what the console snippet would.

Through the blocking Gateway and AsyncGateway a gated account links and
sends; malformed JSON, a submit to a session that does not wait, a corrupt
signature and a stale challenge are each refused with their own class, and
after a refusal the session links again.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import waotp
from conftest import LINK_S, Simulator, fresh_phone, open_gateway, wait_for

CONFIRMATION = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")


def gated_phone(sim: Simulator) -> str:
    """A fresh account whose linking needs a passkey."""
    phone = fresh_phone("62816")
    sim.add_number(phone, passkey=True)
    return phone


def wait_event(events: waotp.Events, kind: str, session_id: str, timeout: float) -> waotp.Event:
    """The next `kind` event of `session_id`, skipping others; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    seen: List[str] = []
    while True:
        left = deadline - time.monotonic()
        event = events.next(max(left, 0)) if left > 0 else None
        if event is None:
            raise AssertionError(f"no {kind} event of {session_id} within {timeout} s; saw {seen}")
        seen.append(event.type)
        if event.type == kind and event.session_id == session_id:
            return event


def scan_to_passkey(
    sim: Simulator, gw: waotp.Gateway, session_id: str, phone: str
) -> Tuple[waotp.Events, waotp.Event, waotp.QrCode]:
    """Creates `session_id`, has `phone` scan its QR code and waits for the
    `passkey_required` event. Returns the event stream (subscribed before
    the scan), that event and the QR code scanned."""
    events = gw.events()
    gw.create_session(session_id)
    qr = gw.wait_qr(session_id, timeout=LINK_S)
    sim.scan(qr.raw, phone)
    event = wait_event(events, "passkey_required", session_id, LINK_S)
    return events, event, qr


def assert_challenge(status: waotp.SessionStatus, event: waotp.Event) -> waotp.PasskeyChallenge:
    """The status waits for a passkey, with what the event announced."""
    assert status.state == "passkey_required", status
    assert not status.is_connected
    challenge = status.passkey
    assert challenge is not None, status
    assert challenge.options_json == event.options_json
    assert challenge.snippet == event.snippet
    assert challenge.expires_at == event.expires_at
    assert challenge.expires_at.tzinfo is not None and challenge.expires_at > datetime.now(timezone.utc)
    options: Dict[str, Any] = json.loads(challenge.options_json)
    assert options.get("challenge"), options
    assert "navigator.credentials.get" in challenge.snippet
    assert repr(challenge).startswith("PasskeyChallenge(")
    return challenge


def test_a_gated_account_links_through_the_gateway(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    phone = gated_phone(sim)
    with open_gateway(sim, tmp_path / "data") as gw:
        events, event, _ = scan_to_passkey(sim, gw, "gated", phone)
        assert event.options_json and event.snippet and event.expires_at is not None
        assert_challenge(gw.session_status("gated"), event)
        assert [s.state for s in gw.list_sessions()] == ["passkey_required"]

        assertion = sim.passkey_assertion(phone)
        assert set(assertion) >= {"id", "rawId", "type", "response"}, assertion
        gw.submit_passkey_assertion("gated", json.dumps(assertion))

        status = gw.wait_connected("gated", timeout=LINK_S)
        assert status.user is not None and status.user.phone == phone, status
        assert status.passkey is None, "no challenge once connected"

        confirmation = wait_event(events, "passkey_confirmation", "gated", LINK_S)
        assert confirmation.code is not None and CONFIRMATION.match(confirmation.code), confirmation.code
        assert confirmation.code == sim.passkey(phone)["code"], "the phone shows the same code"

        sent = gw.send_text("gated", recipient, "Halo lewat passkey")
        assert sent.newly_sent
        assert sim.wait_inbox(recipient, 1)[0]["text"] == "Halo lewat passkey"


def test_a_gated_account_links_through_the_async_gateway(
    sim: Simulator, tmp_path: Path, recipient: str
) -> None:
    phone = gated_phone(sim)

    async def passkey_status(gw: waotp.AsyncGateway) -> waotp.SessionStatus:
        # Waits on the status this time (the sync test waits on the event).
        deadline = time.monotonic() + LINK_S
        while True:
            status = await gw.session_status("gated")
            if status.state == "passkey_required":
                return status
            if time.monotonic() >= deadline:
                raise AssertionError(f"waited {LINK_S} s for passkey_required; last {status}")
            await asyncio.sleep(0.02)  # a bounded poll

    async def main() -> None:
        async with waotp.AsyncGateway(
            data_dir=tmp_path / "data", endpoint=sim.ws, limits=waotp.Limits.none()
        ) as gw:
            await gw.create_session("gated")
            qr = await gw.wait_qr("gated", timeout=LINK_S)
            await asyncio.to_thread(sim.scan, qr.raw, phone)
            status = await passkey_status(gw)
            assert status.passkey is not None and json.loads(status.passkey.options_json)["challenge"]

            assertion = await asyncio.to_thread(sim.passkey_assertion, phone)
            await gw.submit_passkey_assertion("gated", json.dumps(assertion))
            status = await gw.wait_connected("gated", timeout=LINK_S)
            assert status.user is not None and status.user.phone == phone, status

            await gw.send_text("gated", recipient, "Halo async")
            inbox = await asyncio.to_thread(sim.wait_inbox, recipient, 1)
            assert inbox[0]["text"] == "Halo async"

    asyncio.run(main())


def test_malformed_json_and_a_session_not_waiting_are_invalid_arguments(
    sim: Simulator, tmp_path: Path
) -> None:
    phone = gated_phone(sim)
    with open_gateway(sim, tmp_path / "data") as gw:
        _, event, _ = scan_to_passkey(sim, gw, "gated", phone)
        good = json.dumps(sim.passkey_assertion(phone))

        for bad in ["", "not json", "{", "[]", "null", '{"id": 1}', "{}"]:
            with pytest.raises(waotp.InvalidArgument) as info:
                gw.submit_passkey_assertion("gated", bad)
            assert info.value.code == "INVALID_ARGUMENT" and isinstance(info.value, ValueError)
        gw.create_session("idle")
        with pytest.raises(waotp.InvalidArgument, match="not waiting for a passkey"):
            gw.submit_passkey_assertion("idle", good)
        with pytest.raises(waotp.SessionNotFound):
            gw.submit_passkey_assertion("ghost", good)

        # None of that spent the challenge: the good assertion still links.
        assert_challenge(gw.session_status("gated"), event)
        gw.submit_passkey_assertion("gated", good)
        assert gw.wait_connected("gated", timeout=LINK_S).is_connected


def test_a_corrupt_signature_is_rejected_and_linking_starts_again(sim: Simulator, tmp_path: Path) -> None:
    phone = gated_phone(sim)
    with open_gateway(sim, tmp_path / "data") as gw:
        events, _, first_qr = scan_to_passkey(sim, gw, "gated", phone)
        corrupt = sim.passkey_assertion(phone, corruptSignature=True)
        with pytest.raises(waotp.PasskeyRejected) as info:
            gw.submit_passkey_assertion("gated", json.dumps(corrupt))
        assert info.value.code == "PASSKEY_REJECTED" and info.value.message

        failed = wait_event(events, "passkey_failed", "gated", LINK_S)
        assert failed.code == "PASSKEY_REJECTED" and failed.reason, failed

        # A fresh QR code follows; scanning it and answering rightly links.
        def fresh_qr() -> Optional[waotp.QrCode]:
            qr = gw.wait_qr("gated", timeout=LINK_S)
            return qr if qr.raw != first_qr.raw else None

        qr: waotp.QrCode = wait_for(fresh_qr, LINK_S, "a fresh QR code after the refusal")
        assert gw.session_status("gated").passkey is None
        sim.scan(qr.raw, phone)
        wait_event(events, "passkey_required", "gated", LINK_S)
        gw.submit_passkey_assertion("gated", json.dumps(sim.passkey_assertion(phone)))
        assert gw.wait_connected("gated", timeout=LINK_S).is_connected


def test_a_stale_challenge_is_expired(sim: Simulator, tmp_path: Path) -> None:
    phone = gated_phone(sim)
    with open_gateway(sim, tmp_path / "data") as gw:
        events, _, _ = scan_to_passkey(sim, gw, "gated", phone)
        assertion = sim.passkey_assertion(phone)
        sim.expire_passkey(phone)
        with pytest.raises(waotp.PasskeyExpired) as info:
            gw.submit_passkey_assertion("gated", json.dumps(assertion))
        assert info.value.code == "PASSKEY_EXPIRED"
        failed = wait_event(events, "passkey_failed", "gated", LINK_S)
        assert failed.code == "PASSKEY_EXPIRED", failed
