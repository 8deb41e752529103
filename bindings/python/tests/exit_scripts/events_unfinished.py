"""Event iterators left unfinished: the sync `Events` and the async
`AsyncEvents`, each read once and abandoned, one with a `next()` still
waiting when its task is cancelled."""

import asyncio
import os
import tempfile

import waotp

with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
    events = gw.events(timeout=30)
    gw.create_session("s1")
    for event in events:
        if event.type == "qr_updated":
            break
    abandoned = gw.events()  # never read


async def main() -> None:
    async with waotp.AsyncGateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as agw:
        events = agw.events(timeout=30)
        await agw.create_session("a1")
        async for event in events:
            if event.type == "qr_updated":
                break
        # A wait that nothing will answer, cancelled by the close below.
        waiting = asyncio.ensure_future(agw.events().next())
        await asyncio.sleep(0)
    waiting.cancel()


asyncio.run(main())
print("events ok")
