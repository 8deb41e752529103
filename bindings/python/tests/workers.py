"""The body of the worker processes of test_processes.py (importable, so
`multiprocessing` can start them with `spawn`, as gunicorn would start
fresh workers)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import List

import waotp

WAIT_S = 60.0


def code_in_inbox(control: str, phone: str) -> str:
    """The code of the first message to `phone`, once it arrives."""
    deadline = time.monotonic() + WAIT_S
    while True:
        with urllib.request.urlopen(f"{control}/inbox/{phone}", timeout=30) as r:
            messages = json.loads(r.read())["messages"]
        if messages:
            found = re.search(r"\b(\d{6})\b", messages[0]["text"])
            assert found, messages[0]["text"]
            return found.group(1)
        if time.monotonic() >= deadline:
            raise AssertionError(f"no message to {phone} within {WAIT_S} s")
        time.sleep(0.02)  # a bounded poll of the simulator's inbox


def send_and_verify(data_dir: str, endpoint: str, control: str, recipients: List[str]) -> List[str]:
    """Opens a gateway on the shared data dir and sends a code to each
    recipient through session `shop`, whichever process runs it; returns
    each verification's outcome."""
    with waotp.Gateway(data_dir=data_dir, endpoint=endpoint, limits=waotp.Limits.none()) as gw:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                gw.wait_connected("shop", timeout=WAIT_S)
                break
            except waotp.SessionNotFound:
                # The session is found on disk within about a second.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        outcomes = []
        for to in recipients:
            sent = gw.send_otp("shop", to, company_name="Toko")
            try:
                code = code_in_inbox(control, to)
            except AssertionError as e:
                # Where the message got to, as the sending process saw it.
                try:
                    where: object = gw.message_status(sent.message_id or "")
                except waotp.WaotpError as unknown:
                    where = unknown
                raise AssertionError(f"{e}; {gw.otp_status(to)!r}; {where!r}") from None
            outcomes.append(gw.verify_otp(to, code).outcome)
        return outcomes
