"""Gateways never closed: one garbage-collected, and one of each kind still
open when the interpreter exits."""

import asyncio
import gc
import os
import tempfile

import waotp

collected = waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"])
collected.create_session("s1")
collected.wait_qr("s1", timeout=30)
del collected
gc.collect()

left_open = waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"])
left_open.create_session("s2")
left_open.wait_qr("s2", timeout=30)


async def main() -> waotp.AsyncGateway:
    agw = await waotp.AsyncGateway.open(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"])
    await agw.create_session("a1")
    await agw.wait_qr("a1", timeout=30)
    return agw


async_left_open = asyncio.run(main())
print("never closed ok")
