"""The three examples in examples/python, driven as a user would: the
quickstart in a terminal, the guide's class from code, the FastAPI app
over real HTTP on a loopback port."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

import pytest

import waotp
from conftest import LINK_S, ROOT, Simulator, fresh_phone, wait_for

EXAMPLES = ROOT / "examples" / "python"


class Lines:
    """A child's output, line by line, with a deadline on each wait."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float = LINK_S) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line starting {prefix!r} within {timeout} s; got {self.seen}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended before {prefix!r}; got {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def child_env(sim: Simulator, data_dir: Path, **extra: str) -> Dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(sys.path),
        WAOTP_DATA_DIR=str(data_dir),
        WAOTP_ENDPOINT=sim.ws,
        PYTHONUNBUFFERED="1",
        **extra,
    )


def test_quickstart(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "quickstart.py"), recipient, "Toko Kita"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(sim, tmp_path / "data"),
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        out = Lines(proc.stdout)
        qr = out.wait_for("QR ")[3:]
        sim.scan(qr, fresh_phone())
        out.wait_for("Connected as ")
        out.wait_for("Code sent to ")
        code = sim.latest_code(recipient, 1)
        assert "Toko Kita" in sim.inbox(recipient)[0]["text"]
        wrong = "000000" if code != "000000" else "111111"
        proc.stdin.write(f"{wrong}\n{code}\n")
        proc.stdin.flush()
        out.wait_for("Code from WhatsApp: Wrong code; 2 attempt(s) left.")
        out.wait_for("Code from WhatsApp: Verified.")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_whatsapp_otp_class(sim: Simulator, tmp_path: Path, recipient: str) -> None:
    example = load_example("whatsapp_otp")
    wa = example.WhatsAppOTP(
        session_id="my-session", data_dir=tmp_path / "data", endpoint=sim.ws, limits=waotp.Limits.none()
    )
    try:
        missing = wa.check_session_status()
        assert missing == {"success": False, "message": missing["message"], "error": "SESSION_NOT_FOUND"}
        assert wa.create_session()["data"]["isConnected"] is False
        qr = wa.get_qr("raw")
        assert qr["success"] and qr["data"]["expiresAt"] > time.time() * 1000
        assert wa.get_qr("bmp")["error"] == "INVALID_ARGUMENT"
        sim.scan(qr["data"]["qr"], fresh_phone())
        assert wa.wait_connected()["data"]["isConnected"] is True
        assert wa.check_session_status()["data"]["state"] == "connected"

        sent = wa.send_otp(recipient, company_name="PT. Contoh")
        assert sent["success"] and sent["message"] == "OTP sent successfully"
        data = sent["data"]
        assert data["otp"] == sim.latest_code(recipient, 1)
        assert (data["phoneNumber"], data["companyName"]) == (recipient, "PT. Contoh")
        assert data["verificationId"] and data["messageId"] and data["expiresAt"] > time.time() * 1000

        wrong = "000000" if data["otp"] != "000000" else "111111"
        assert wa.verify_otp(recipient, wrong) == {
            "success": False,
            "message": "Invalid OTP",
            "data": {"status": "invalid", "attemptsLeft": 2},
        }
        assert wa.verify_otp(recipient, data["otp"])["message"] == "OTP verified successfully"
        assert wa.verify_otp(recipient, data["otp"])["data"]["status"] == "not_found"
        assert wa.send_otp("garbage", "PT. Contoh")["error"] == "INVALID_PHONE"
        assert wa.send_text(recipient, "Terima kasih")["success"]
        assert wa.get_stats()["data"]["successfulRequests"] == 1, "one OTP sent"
    finally:
        wa.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def post(url: str, body: Any) -> Tuple[int, Dict[str, Any], Message]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


@pytest.fixture
def fastapi_app(sim: Simulator, tmp_path: Path) -> Iterator[Tuple[str, str]]:
    """The app's base URL and its linked number."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(sim, tmp_path / "data", PORT=str(port)),
    )
    assert proc.stdout is not None
    try:
        out = Lines(proc.stdout)
        number = fresh_phone()
        sim.scan(out.wait_for("QR ")[3:], number)
        out.wait_for("session main-session connected")
        yield f"http://127.0.0.1:{port}", number
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_fastapi_app(sim: Simulator, fastapi_app: Tuple[str, str], recipient: str) -> None:
    base, number = fastapi_app
    status, body, _ = post(f"{base}/send-otp", {"phoneNumber": recipient})
    assert status == 200 and body["success"] and body["message"] == "OTP berhasil dikirim", body
    code = sim.latest_code(recipient, 1)
    assert code not in json.dumps(body), "the code never goes to the caller"

    wrong = "000000" if code != "000000" else "111111"
    status, body, _ = post(f"{base}/verify-otp", {"phoneNumber": recipient, "otp": wrong})
    assert (status, body["success"], body["data"]) == (400, False, {"status": "invalid", "attemptsLeft": 2})
    status, body, _ = post(f"{base}/verify-otp", {"phoneNumber": recipient, "otp": code})
    assert (status, body) == (200, {"success": True, "message": "OTP valid"})

    status, body, headers = post(f"{base}/send-otp", {"phoneNumber": recipient})
    assert status == 429 and body["error"] == "RATE_LIMITED", body
    assert 1 <= int(headers.get("Retry-After", "0")) <= 10, "Retry-After in whole seconds"

    assert post(f"{base}/send-otp", {"phoneNumber": "not a phone"})[0] == 400
    assert post(f"{base}/send-otp", {})[0] == 400
    assert post(f"{base}/verify-otp", {"phoneNumber": recipient})[0] == 400

    # The user sends the code: login with WhatsApp, no number typed.
    status, body, _ = post(f"{base}/login/start", {})
    assert status == 200 and body["data"]["link"].startswith("https://wa.me/"), body
    assert body["data"]["qrCode"].startswith("data:image/png;base64,")
    user = fresh_phone("62812")
    sim.add_number(user)
    sim.user_sends(user, number, body["data"]["text"])
    status_url = f"{base}/login/status/{body['data']['verificationId']}"

    def approved() -> Optional[Dict[str, Any]]:
        with urllib.request.urlopen(status_url, timeout=60) as r:
            data: Dict[str, Any] = json.loads(r.read())["data"]
        return data if data["status"] == "approved" else None

    assert wait_for(approved, LINK_S, "the login approved")["phoneNumber"] == user
    try:
        urllib.request.urlopen(f"{base}/login/status/nope", timeout=60)
        raise AssertionError("an unknown login answered")
    except urllib.error.HTTPError as e:
        assert e.code == 404
