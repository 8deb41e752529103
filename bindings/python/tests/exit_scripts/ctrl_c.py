"""Ctrl-C (SIGINT) during an `await` of AsyncGateway and during a blocking
call of Gateway: KeyboardInterrupt reaches the script, which ends normally."""

import asyncio
import os
import signal
import tempfile
import threading

import waotp

# Python leaves SIGINT ignored when it starts with it ignored (a background
# job of a non-interactive shell, as in CI): Ctrl-C as a terminal gives it.
signal.signal(signal.SIGINT, signal.default_int_handler)


async def main() -> None:
    async with waotp.AsyncGateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as agw:
        await agw.create_session("a1")
        await agw.wait_qr("a1", timeout=30)
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
        await agw.wait_connected("a1", timeout=60)  # nobody scans: Ctrl-C ends it


try:
    asyncio.run(main())
    raise SystemExit("the await was not interrupted")
except KeyboardInterrupt:
    pass

with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
    gw.create_session("s1")
    gw.wait_qr("s1", timeout=30)
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        gw.wait_connected("s1", timeout=60)
        raise SystemExit("the blocking call was not interrupted")
    except KeyboardInterrupt:
        pass
print("ctrl-c ok")
