"""Threads, signals and fork: the GIL is released while a call waits,
Ctrl-C interrupts a long wait, and a forked child gets a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

import waotp
from conftest import LINK_S, ROOT, Simulator, fresh_phone, open_gateway


def test_a_blocked_call_lets_other_threads_run(sim: Simulator, tmp_path: Path) -> None:
    """A thread waits in `wait_connected` while the main thread, which
    needs the GIL, does the scanning that ends the wait. Were the GIL held
    during the wait, the scan could not happen and the wait would time out."""
    with open_gateway(sim, tmp_path / "data") as gw:
        gw.create_session("shop")
        qr = gw.wait_qr("shop", timeout=LINK_S)
        result: List[object] = []
        waiter = threading.Thread(target=lambda: result.append(gw.wait_connected("shop", timeout=LINK_S)))
        waiter.start()
        sim.scan(qr.raw, fresh_phone())
        waiter.join(LINK_S + 10)
        assert result and isinstance(result[0], waotp.SessionStatus) and result[0].is_connected


def test_eight_threads_wait_side_by_side(sim: Simulator, linked: waotp.Gateway, recipient: str) -> None:
    """Eight threads block in `next()` on their own event streams; the
    main thread then causes the event they wait for. Each must get it:
    one thread holding the GIL while it waits would stall the main thread."""
    gw = linked
    streams = [gw.events() for _ in range(8)]
    got: List[Optional[waotp.Event]] = [None] * 8
    entered = threading.Barrier(9)

    def wait(i: int) -> None:
        entered.wait()
        while True:
            event = streams[i].next(timeout=LINK_S)
            if event is None or event.type == "otp_sent":
                got[i] = event
                return

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    entered.wait()
    sent = gw.send_otp("shop", recipient, company_name="Toko")
    for t in threads:
        t.join(LINK_S + 10)
    assert all(e is not None and e.verification_id == sent.verification_id for e in got), got


def test_eight_threads_send_and_verify(sim: Simulator, linked: waotp.Gateway) -> None:
    gw = linked
    recipients = [fresh_phone("62814") for _ in range(8)]
    for r in recipients:
        sim.add_number(r)
    outcomes: List[str] = []
    lock = threading.Lock()

    def flow(to: str) -> None:
        gw.send_otp("shop", to, company_name="Toko")
        outcome = gw.verify_otp(to, sim.latest_code(to, 1)).outcome
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=flow, args=(r,)) for r in recipients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LINK_S * 2)
    assert outcomes == ["approved"] * 8, outcomes


CHILD = textwrap.dedent(
    """
    import faulthandler, signal, sys, waotp
    # Python leaves SIGINT ignored when it starts with it ignored, as in
    # anything started in the background by a non-interactive shell
    # (`cmd &` in a CI script): install the handler a terminal would give.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1)  # the test's view of a hang
    gw = waotp.Gateway(data_dir=sys.argv[1], endpoint=sys.argv[2], memory_store=True)
    gw.create_session("idle")
    print("waiting", flush=True)
    gw.wait_connected("idle", timeout=120)
    """
)


def test_ctrl_c_interrupts_a_long_wait(sim: Simulator, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "data"), sim.ws],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "waiting"
        interrupted_at = time.monotonic()
        child.send_signal(signal.SIGINT)
        try:
            _, err = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)  # Python's stacks, to stderr
            try:
                child.communicate(timeout=2)  # time to write them
            except subprocess.TimeoutExpired:
                pass
            child.kill()
            _, err = child.communicate()  # all it wrote, since the start
            pytest.fail(f"the child did not exit within 30 s of SIGINT; its stderr:\n{err}")
        took = time.monotonic() - interrupted_at
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "KeyboardInterrupt" in err, err
    assert child.returncode != 0
    assert took < 2.0, f"the process ended {took:.2f} s after SIGINT"


def test_a_forked_child_gets_a_clear_error(linked: waotp.Gateway) -> None:
    gw = linked
    gw.verify_otp("6281234567890", "123456")  # the runtime runs in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what the call raised, then leave at once
        os.close(read)
        try:
            gw.verify_otp("6281234567890", "123456")
            message = "no error"
        except waotp.AfterFork as e:
            message = f"AfterFork {e.code}"
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            message = f"other {type(e).__name__}: {e}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert answer == "AfterFork AFTER_FORK", answer
    assert os.waitstatus_to_exitcode(status) == 0
    assert gw.verify_otp("6281234567890", "123456").outcome == "not_found", "the parent is unaffected"


def test_the_check_runs_from_the_project(tmp_path: Path) -> None:
    """The package under test is this checkout's (not an installed copy)."""
    assert Path(waotp.__file__).resolve().is_relative_to(ROOT)
