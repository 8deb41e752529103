"""The sync Gateway first, then AsyncGateway on another data dir, as a
script that migrates from one to the other would."""

import asyncio
import os
import tempfile

import waotp

with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
    for i in range(10):
        gw.verify_otp(f"0812345679{i:02d}", "123456")
    gw.create_session("s1")
    gw.wait_qr("s1", timeout=30)


async def main() -> None:
    async with waotp.AsyncGateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as agw:
        await asyncio.gather(*[agw.verify_otp(f"0812345670{i:02d}", "123456") for i in range(20)])
        await agw.create_session("a1")
        await agw.wait_qr("a1", timeout=30)


asyncio.run(main())
print("sync then async ok")
