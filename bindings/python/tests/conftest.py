"""Fixtures: the waotp-sim binary on loopback, gateways on it, and helpers
that do what a phone would (scan a QR, read an inbox).

Every wait is a deadline on a condition, never a fixed sleep. Deadlines are
generous (a loaded 2-core machine, debug builds); each ends as soon as its
condition holds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import waotp

ROOT = Path(__file__).resolve().parents[3]
SIM_BIN = Path(os.environ.get("WAOTP_SIM", ROOT / "target" / "debug" / "waotp-sim"))

START_S = 60.0  # the simulator prints its URLs
LINK_S = 60.0  # a session shows a QR code; a scanned one connects
INBOX_S = 60.0  # a sent message reaches the recipient's inbox
CODE = re.compile(r"\b(\d{4,10})\b")


class Simulator:
    """The waotp-sim binary; its control API as methods."""

    def __init__(self, log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(SIM_BIN), "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            # Its warnings (a message it refused, one it could not decrypt)
            # explain a failure; they are few.
            env=dict(os.environ, RUST_LOG=os.environ.get("WAOTP_SIM_LOG", "warn")),
        )
        first: List[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_S)
        if not first or not first[0]:
            self.stop()
            raise RuntimeError(f"waotp-sim printed no URLs within {START_S} s; log: {log}")
        urls = json.loads(first[0])
        self.ws: str = urls["ws"]
        self.control: str = urls["control"]

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.control + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            # POST /scan answers once the pairing is over: a generous timeout.
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from e

    def add_number(self, phone: str, registered: bool = True, passkey: bool = False) -> None:
        """Adds account `phone`; `passkey=True` gates its linking behind a passkey."""
        body: Dict[str, Any] = {"phone": phone, "registered": registered}
        if passkey:
            body["passkey"] = True
        self.call("POST", "/numbers", body)

    def passkey_assertion(self, phone: str, **overrides: Any) -> Dict[str, Any]:
        """What the console snippet would print for `phone`'s pending
        challenge, signed by its passkey; `overrides` (`corruptSignature`,
        `rpId`, `challenge`, `origin`, `userVerified`, `options`) make it
        wrong in one chosen way."""
        assertion: Dict[str, Any] = self.call("POST", "/passkey/assert", {"phone": phone, **overrides})
        return assertion

    def passkey(self, phone: str) -> Dict[str, Any]:
        """`phone`'s passkey, its pending options and the phone's code."""
        info: Dict[str, Any] = self.call("GET", f"/passkey/{phone}")
        return info

    def expire_passkey(self, phone: str) -> None:
        """Makes `phone`'s pending challenge stale."""
        self.call("POST", "/passkey/expire", {"phone": phone})

    def scan(self, qr: str, phone: str, name: str = "Test Phone") -> None:
        self.call("POST", "/scan", {"qr": qr, "phone": phone, "name": name})

    def enter_pair_code(self, phone: str, code: str) -> None:
        self.call("POST", "/pair-code", {"phone": phone, "code": code})

    def inbox(self, phone: str) -> List[Dict[str, Any]]:
        messages: List[Dict[str, Any]] = self.call("GET", f"/inbox/{phone}")["messages"]
        return messages

    def wait_inbox(self, phone: str, count: int, timeout: float = INBOX_S) -> List[Dict[str, Any]]:
        """The inbox once it holds at least `count` messages."""

        def enough() -> Optional[List[Dict[str, Any]]]:
            messages = self.inbox(phone)
            return messages if len(messages) >= count else None

        result: List[Dict[str, Any]] = wait_for(enough, timeout, f"{count} message(s) in the inbox of {phone}")
        return result

    def latest_code(self, phone: str, count: int) -> str:
        """The code in the `count`-th message to `phone` (waiting for it)."""
        text = str(self.wait_inbox(phone, count)[count - 1]["text"])
        found = CODE.search(text)
        assert found, f"no code in the message {text!r}"
        return found.group(1)

    def user_sends(self, sender: str, to: str, text: str) -> None:
        """The registered number `sender` writes `text` to the linked account `to`."""
        self.call("POST", "/send", {"from": sender, "to": to, "text": text})

    def fault(self, kind: str, **fields: Any) -> None:
        self.call("POST", "/faults", {"kind": kind, **fields})

    def log_lines(self, *about: str) -> List[str]:
        """The simulator's log lines that mention any of `about`."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if any(a in line for a in about)]

    def devices(self) -> List[Dict[str, Any]]:
        devices: List[Dict[str, Any]] = self.call("GET", "/devices")["devices"]
        return devices

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Polls `check` until it returns something truthy; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)  # a bounded poll, not a fixed wait for something to happen


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    if not SIM_BIN.exists():
        pytest.fail(f"{SIM_BIN} is missing: build it with `cargo build -p waotp-sim`")
    s = Simulator(tmp_path_factory.mktemp("sim") / "sim.log")
    yield s
    s.stop()


_numbers = iter(range(1, 10_000_000))


def fresh_phone(prefix: str = "62811") -> str:
    """A number no other test uses (this process)."""
    return f"{prefix}{os.getpid() % 1000:03d}{next(_numbers):05d}"


@pytest.fixture
def recipient(sim: Simulator) -> str:
    """A registered WhatsApp number to send to."""
    phone = fresh_phone("62812")
    sim.add_number(phone)
    return phone


def open_gateway(sim: Simulator, data_dir: Path, **options: Any) -> waotp.Gateway:
    """A sandbox gateway on the simulator; OTP limits off unless given."""
    options.setdefault("limits", waotp.Limits.none())
    return waotp.Gateway(data_dir=data_dir, endpoint=sim.ws, **options)


def link(sim: Simulator, gw: waotp.Gateway, session_id: str, phone: Optional[str] = None) -> str:
    """Creates `session_id`, has the simulator's phone scan its QR code, and
    waits until it is connected. Returns the linked phone number."""
    phone = phone or fresh_phone("62810")
    gw.create_session(session_id)
    qr = gw.wait_qr(session_id, timeout=LINK_S)
    sim.scan(qr.raw, phone)
    status = gw.wait_connected(session_id, timeout=LINK_S)
    assert status.is_connected, status
    return phone


@pytest.fixture
def linked(sim: Simulator, tmp_path: Path) -> Iterator[waotp.Gateway]:
    """A gateway (manual clock) with session `shop` linked and connected."""
    with open_gateway(sim, tmp_path / "data", manual_clock=True) as gw:
        link(sim, gw, "shop")
        yield gw
