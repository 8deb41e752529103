"""An exception raised inside `async with` (and inside `with`) closes the
gateway on its way out; the script catches it and ends normally."""

import asyncio
import os
import tempfile

import waotp


class Boom(Exception):
    pass


async def main() -> None:
    async with waotp.AsyncGateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as agw:
        await agw.create_session("a1")
        pending = asyncio.ensure_future(agw.wait_connected("a1", timeout=60))
        # Ends with NOT_CONNECTED when the gateway closes; read, not raised.
        pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        await agw.wait_qr("a1", timeout=30)
        raise Boom("raised inside async with")


try:
    asyncio.run(main())
except Boom:
    pass
try:
    with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
        gw.create_session("s1")
        raise Boom("raised inside with")
except Boom:
    pass
print("exception ok")
