"""What a call from Python costs over the same call in Rust, and how many
verifications one asyncio loop gets through.

    python bindings/python/benches/verify_overhead.py [--rust]

Run it with a release build of the module (``pip install ./bindings/python``
or ``maturin develop --release``). It opens a gateway on the memory store
with limits off and no session (nothing connects), then:

* blocking: ``Gateway.verify_otp`` for a recipient without a code (the
  ``not_found`` path, the same one the Rust bench times), best of 5 rounds;
* asyncio: ``AsyncGateway.verify_otp``, 256 calls in flight on one loop.

With ``--rust`` it first runs ``cargo bench -p waotp-ffi --bench
verify_overhead`` (the core called from Rust, same path) and prints the
difference per call.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import waotp

ROOT = Path(__file__).resolve().parents[3]
CALLS = 200_000
ROUNDS = 5
ASYNC_CALLS = 100_000
IN_FLIGHT = 256
TO = "6281234567890"


def rust_ns_per_call() -> Optional[float]:
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "waotp-ffi", "--bench", "verify_overhead"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"rust verify_otp: \d+ calls, ([\d.]+) ns/call", out)
    return float(found.group(1)) if found else None


def blocking_ns_per_call(data_dir: str) -> float:
    with waotp.Gateway(data_dir=data_dir, memory_store=True, limits=waotp.Limits.none()) as gw:
        verify = gw.verify_otp
        assert verify(TO, "123456").outcome == "not_found"
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter_ns()
            for _ in range(CALLS):
                verify(TO, "123456")
            best = min(best, (time.perf_counter_ns() - start) / CALLS)
        return best


async def async_calls_per_second(data_dir: str) -> float:
    async with waotp.AsyncGateway(data_dir=data_dir, memory_store=True, limits=waotp.Limits.none()) as gw:
        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            async with semaphore:
                await gw.verify_otp(TO, "123456")

        await asyncio.gather(*(one() for _ in range(1000)))  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(ASYNC_CALLS)))
        return ASYNC_CALLS / (time.perf_counter() - start)


def main() -> None:
    info = waotp.build_info()
    print(f"waotp {info.version} (sandbox build: {info.sandbox}), Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    rust = rust_ns_per_call() if "--rust" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        python = blocking_ns_per_call(os.path.join(tmp, "a"))
        print(f"python Gateway.verify_otp: {CALLS} calls x {ROUNDS}, best {python:.0f} ns/call")
        if rust is not None:
            print(f"rust verify_otp: {rust:.0f} ns/call -> Python adds {python - rust:.0f} ns per call")
        rate = asyncio.run(async_calls_per_second(os.path.join(tmp, "b")))
        print(f"python AsyncGateway.verify_otp: {ASYNC_CALLS} calls, {IN_FLIGHT} in flight, "
              f"{rate:,.0f} calls/s on one event loop")


if __name__ == "__main__":
    main()
