"""The issue's script: AsyncGateway inside asyncio.run, many awaits at once,
closed by `async with`, then the interpreter exits."""

import asyncio
import os
import tempfile

import waotp


async def main() -> None:
    async with waotp.AsyncGateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as agw:
        await asyncio.gather(*[agw.verify_otp(f"0812345678{i:02d}", "123456") for i in range(20)])
        await agw.create_session("a1")
        await agw.wait_qr("a1", timeout=30)


asyncio.run(main())
print("async ok")
