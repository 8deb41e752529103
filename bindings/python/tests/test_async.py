"""AsyncGateway on one event loop: the flow, many calls at once, events
with `async for`, and a loop that keeps running while calls wait."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List

import waotp
from conftest import LINK_S, Simulator, fresh_phone


async def linked_async(sim: Simulator, data_dir: Path) -> waotp.AsyncGateway:
    gw = await waotp.AsyncGateway.open(
        data_dir=data_dir, endpoint=sim.ws, limits=waotp.Limits.none(), manual_clock=True
    )
    await gw.create_session("shop")
    qr = await gw.wait_qr("shop", timeout=LINK_S)
    # The phone scans while the loop keeps serving: the scan is a blocking
    # HTTP call, so it runs in a thread.
    await asyncio.to_thread(sim.scan, qr.raw, fresh_phone())
    status = await gw.wait_connected("shop", timeout=LINK_S)
    assert status.is_connected
    return gw


def test_async_flow(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    async def main() -> None:
        gw = await linked_async(sim, tmp_path / "data")
        try:
            sent = await gw.send_otp("shop", recipient, company_name="PT. Contoh")
            code = await asyncio.to_thread(sim.latest_code, recipient, 1)
            wrong = "000000" if code != "000000" else "111111"
            assert (await gw.verify_otp(recipient, wrong)).attempts_left == 2
            assert (await gw.verify_otp(recipient, code)).outcome == "approved"
            assert (await gw.otp_status(recipient)).verification_id == sent.verification_id
            second = await gw.send_otp("shop", recipient, company_name="PT. Contoh")
            assert (await gw.cancel_otp(recipient)).status == "canceled"
            gw.advance_clock(3600)
            assert (await gw.otp_status(recipient)).verification_id == second.verification_id
            assert [s.session_id for s in await gw.list_sessions()] == ["shop"]
            assert (await gw.stats()).gateway.otp_issued == 2
        finally:
            await gw.close()
        try:
            await gw.verify_otp(recipient, code)
        except waotp.Closed:
            pass
        else:
            raise AssertionError("a closed gateway must refuse calls")

    asyncio.run(main())


def test_many_calls_at_once_on_one_loop(sim: Simulator, tmp_path: Path) -> None:
    recipients = [fresh_phone("62813") for _ in range(5)]
    for r in recipients:
        sim.add_number(r)

    async def main() -> None:
        async with waotp.AsyncGateway(
            data_dir=tmp_path / "data", endpoint=sim.ws, limits=waotp.Limits.none()
        ) as gw:
            await gw.create_session("shop")
            qr = await gw.wait_qr("shop", timeout=LINK_S)
            await asyncio.to_thread(sim.scan, qr.raw, fresh_phone())
            await gw.wait_connected("shop", timeout=LINK_S)

            # While these run, the loop must keep turning: count its ticks.
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            tick_task = asyncio.create_task(ticker())
            sends = await asyncio.gather(
                *(gw.send_otp("shop", r, company_name="Toko") for r in recipients)
            )
            assert len({s.verification_id for s in sends}) == 5
            codes = [await asyncio.to_thread(sim.latest_code, r, 1) for r in recipients]
            # 50 verifications at once: 45 wrong codes spread over the five
            # recipients' unlimited attempts are not allowed (3 each), so ten
            # per recipient: the right code once, then `not_found` for the rest.
            checks = [gw.verify_otp(r, c) for r, c in zip(recipients, codes) for _ in range(10)]
            results = await asyncio.gather(*checks)
            stop.set()
            await tick_task
            outcomes: List[str] = [r.outcome for r in results]
            assert outcomes.count("approved") == 5, outcomes
            assert outcomes.count("not_found") == 45, outcomes
            assert ticks > 0, "the loop ran while the calls waited"

    asyncio.run(main())


def test_events_with_async_for(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    async def main() -> None:
        gw = await linked_async(sim, tmp_path / "data")
        try:
            events = gw.events(timeout=30)
            sent = await gw.send_otp("shop", recipient, company_name="Toko")
            async for event in events:
                if event.type == "otp_sent":
                    assert event.verification_id == sent.verification_id
                    break
            else:
                raise AssertionError("no otp_sent event within 30 s")
        finally:
            await gw.close()

    asyncio.run(main())


def test_cancelling_a_wait_cancels_the_task(sim: Simulator, tmp_path: Path) -> None:
    async def main() -> None:
        async with waotp.AsyncGateway(data_dir=tmp_path / "data", endpoint=sim.ws) as gw:
            await gw.create_session("idle")
            waiting = asyncio.ensure_future(gw.wait_connected("idle", timeout=300))
            await asyncio.sleep(0)
            waiting.cancel()
            try:
                await waiting
            except asyncio.CancelledError:
                pass
            else:
                raise AssertionError("the wait should have been cancelled")
            # The gateway still answers after a cancelled call.
            assert (await gw.session_status("idle")).session_id == "idle"

    asyncio.run(main())
