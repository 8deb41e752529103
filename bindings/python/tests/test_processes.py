"""Several processes on one data dir, as gunicorn or multiprocessing
workers would be: one WhatsApp connection for the session, every worker
sends through it, and every code verifies."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from conftest import Simulator, fresh_phone, link, open_gateway
from workers import send_and_verify


def test_three_worker_processes_share_one_connection(sim: Simulator, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with open_gateway(sim, data_dir) as gw:
        phone = link(sim, gw, "shop")
    recipients = [[fresh_phone("62815") for _ in range(4)] for _ in range(3)]
    for group in recipients:
        for r in group:
            sim.add_number(r)

    # `spawn`: fresh interpreters, like gunicorn's workers after a fork
    # that happened before waotp was used.
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        try:
            results = pool.starmap(
                send_and_verify,
                [(str(data_dir), sim.ws, sim.control, group) for group in recipients],
            )
        except Exception as e:
            # What the simulator saw of the linked device explains most failures.
            linked = [d for d in sim.devices() if d["phone"] == phone]
            about = [r for group in recipients for r in group]
            raise AssertionError(
                f"a worker failed: {e!r}; the device: {linked}; "
                f"the simulator's log about it: {sim.log_lines(phone, *about)}"
            ) from e

    assert results == [["approved"] * 4] * 3
    for group in recipients:
        for r in group:
            assert len(sim.inbox(r)) == 1, "each code was sent once"
    device = next(d for d in sim.devices() if d["phone"] == phone)
    assert device["max_live_connections"] == 1, f"one connection at a time: {device}"
    assert device["duplicate_messages"] == 0, device
