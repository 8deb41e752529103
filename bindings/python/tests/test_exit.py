"""How a process that used waotp ends: each script in `exit_scripts/` runs
as a child process, RUNS times, and must exit with status 0, print its last
line and write nothing to stderr.

A binding can return every right answer and still crash while the
interpreter finalizes (a runtime thread calling into Python after it began
to shut down). Only a child process shows that, and only some runs: hence
many runs of each case, several at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import Simulator

SCRIPTS = Path(__file__).resolve().parent / "exit_scripts"
RUNS = int(os.environ.get("WAOTP_EXIT_RUNS", "20"))
AT_ONCE = 4  # children running side by side (2 cores; most of a run is waiting)
RUN_S = 120.0  # one child, start to exit

# Each script and the line it prints last.
CASES = {
    "async_gather": "async ok",
    "sync_then_async": "sync then async ok",
    "sync_only": "sync ok",
    "events_unfinished": "events ok",
    "never_closed": "never closed ok",
    "exception_in_async_with": "exception ok",
    "ctrl_c": "ctrl-c ok",
    "fork_child": "fork ok",
}


def run_once(script: Path, env: dict[str, str]) -> Tuple[int, str, str]:
    try:
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=RUN_S
        )
    except subprocess.TimeoutExpired as e:
        return -1, str(e.stdout or ""), f"timed out after {RUN_S} s; stderr: {e.stderr!r}"
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_exits_cleanly_every_run(sim: Simulator, tmp_path: Path, case: str) -> None:
    env = dict(
        os.environ,
        SIM_WS=sim.ws,
        PYTHONPATH=os.pathsep.join(sys.path),
        # A crash prints the Python stack of every thread, not only a signal.
        PYTHONFAULTHANDLER="1",
        RUST_BACKTRACE="1",
        TMPDIR=str(tmp_path),
    )
    env.pop("WAOTP_LOG", None)  # a log on stderr is not a failure to report
    script = SCRIPTS / f"{case}.py"
    with ThreadPoolExecutor(AT_ONCE) as pool:
        results = list(pool.map(lambda _: run_once(script, env), range(RUNS)))
    bad: List[str] = []
    for i, (code, out, err) in enumerate(results):
        last = out.strip().splitlines()[-1:] if out.strip() else []
        if code != 0 or err or last != [CASES[case]]:
            bad.append(f"run {i + 1}: exit status {code}, last line {last}, stderr:\n{err}")
    assert not bad, f"{case}.py: {len(bad)} of {RUNS} runs did not end cleanly:\n" + "\n".join(bad[:3])
