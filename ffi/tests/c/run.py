"""Builds and runs the C tests and the C example against the simulator.

    python3 ffi/tests/c/run.py            # from the workspace root

Needs target/debug/libwaotp.so (cargo build -p waotp-ffi --features sandbox)
and target/debug/waotp-sim (cargo build -p waotp-sim). Compiles with
-Wall -Wextra -Werror under AddressSanitizer (with LeakSanitizer) and
UndefinedBehaviorSanitizer; a sanitizer report fails the run.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
LIBDIR = os.path.join(ROOT, "target", "debug")
SIM = os.path.join(LIBDIR, "waotp-sim")
CFLAGS = ["-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-fno-omit-frame-pointer",
          "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=86",
    "LSAN_OPTIONS": "exitcode=87",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LD_LIBRARY_PATH": LIBDIR,
}


# Deadlines. Generous on purpose (a loaded 2-core machine, debug builds);
# every wait returns as soon as its condition holds.
START_S = 60      # the simulator prints its URLs
INBOX_S = 60      # a sent code shows up in the recipient's inbox
EXAMPLE_S = 300   # the whole C example run
TESTS_S = 600     # the whole C test program


class Simulator:
    """The waotp-sim binary on ephemeral loopback ports; its log goes to `log`."""

    def __init__(self, log):
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([SIM, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            first = []
            reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)
            reader.start()
            reader.join(START_S)
            if not first or not first[0]:
                raise RuntimeError(f"waotp-sim printed no URLs within {START_S} s "
                                   f"(exit status {self.proc.poll()}); log: {log}")
            urls = json.loads(first[0])
            self.ws, self.control = urls["ws"], urls["control"]
        except BaseException:
            self.stop()
            raise

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            # POST /scan answers when the pairing is over: a generous timeout.
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from e

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def log_tail(self, lines=40):
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def compile_c(out, sources, extra=()):
    cmd = ["gcc", *CFLAGS, "-I", os.path.join(ROOT, "include"), "-o", out, *sources,
           "-L", LIBDIR, "-lwaotp", "-lpthread", *extra]
    subprocess.run(cmd, check=True)


def run_tests(sim, tmp):
    exe = os.path.join(tmp, "test_waotp")
    here = os.path.dirname(os.path.abspath(__file__))
    compile_c(exe, [os.path.join(here, "test_waotp.c"), os.path.join(here, "simctl.c")])
    # TMPDIR: the test program's data directories live inside `tmp`, so they
    # are removed even when the program crashes.
    env = dict(os.environ, WAOTP_SIM_WS=sim.ws, WAOTP_SIM_CONTROL=sim.control, TMPDIR=tmp, **SAN_ENV)
    try:
        proc = subprocess.run([exe], env=env, timeout=TESTS_S, capture_output=True, text=True)
    except subprocess.TimeoutExpired as e:  # run() has killed it
        sys.stdout.write(e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or "")
        sys.stderr.write(e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or "")
        print(f"FAIL - the test program did not finish within {TESTS_S} s (killed)")
        return 0, 1
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    if proc.returncode != 0 and failed == 0:
        print(f"FAIL - the test program exited with {proc.returncode} "
              "(86: AddressSanitizer, 87: LeakSanitizer, other: crash or UBSan)")
        failed += 1
    return passed, failed


def run_example(sim, tmp):
    """The C example as a user runs it: the simulated phone scans the printed
    QR, the code typed at the prompt is the one the recipient received."""
    example = os.path.join(ROOT, "examples", "c")
    subprocess.run(["make", "-s", "-C", example, f"BUILD={tmp}", f"LIBDIR={LIBDIR}",
                    "CFLAGS=" + " ".join(CFLAGS)], check=True)
    to = "6281234567890"
    phone = "6287700000001"  # the example's own linked account, used by no other test
    sim.call("POST", "/numbers", {"phone": to, "registered": True})
    png = os.path.join(tmp, "qr.png")
    env = dict(os.environ, **SAN_ENV)
    proc = subprocess.Popen([os.path.join(tmp, "waotp_example"), "--endpoint", sim.ws,
                             "--data-dir", os.path.join(tmp, "example-data"), "--session", "example",
                             "--to", "08" + to[3:], "--company", "PT. Contoh", "--qr-png", png],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out_lines = []
    ok = True
    why = ""
    # stderr is drained by a thread, so a chatty program cannot block on it.
    err = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    drain.start()
    # A hung example must fail the run, not hang it: the watchdog kills it,
    # which ends the read loop below.
    timed_out = threading.Event()

    def watchdog():
        timed_out.set()
        proc.kill()

    timer = threading.Timer(EXAMPLE_S, watchdog)
    timer.start()
    try:
        for line in proc.stdout:
            out_lines.append(line)
            if line.startswith("QR "):
                sim.call("POST", "/scan", {"qr": line[3:].strip(), "phone": phone,
                                            "name": "Example Phone"})
            elif line.startswith("Enter the code"):
                deadline = time.monotonic() + INBOX_S
                code = None
                while code is None and time.monotonic() < deadline:
                    msgs = sim.call("GET", f"/inbox/{to}")["messages"]
                    found = [re.search(r"\b(\d{6})\b", m["text"]) for m in msgs]
                    code = next((f.group(1) for f in found if f), None)
                    if code is None:
                        time.sleep(0.02)  # bounded poll of the inbox
                if code is None:
                    why = f"the recipient got no code within {INBOX_S} s"
                    proc.stdin.close()
                    break
                proc.stdin.write(code + "\n")
                proc.stdin.flush()
                proc.stdin.close()
        rc = proc.wait(timeout=EXAMPLE_S)
    except Exception as e:  # noqa: BLE001 - report any driver failure as a test failure
        proc.kill()
        proc.wait()
        rc, why = -1, f"driver error: {e}"
    finally:
        timer.cancel()
    if timed_out.is_set():
        why = f"the example did not finish within {EXAMPLE_S} s (killed)"
    drain.join(timeout=10)
    text = "".join(out_lines)
    if rc != 0:
        ok, why = False, why or f"exit status {rc}"
    elif "approved" not in text or "\"totalRequests\"" not in text:
        ok, why = False, "no approval or stats in the output"
    elif not os.path.exists(png) or open(png, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
        ok, why = False, "no PNG saved"
    if ok:
        print("ok   - C example: QR, connect, OTP, verify from stdin, stats")
    else:
        print(f"FAIL - C example: {why}")
        sys.stdout.write(text)
        sys.stderr.write("".join(err))
        sys.stderr.write("--- simulator log (tail) ---\n" + sim.log_tail())
    return (1, 0) if ok else (0, 1)


def main():
    for path in (SIM, os.path.join(LIBDIR, "libwaotp.so")):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: cargo build -p waotp-sim -p waotp-ffi --features waotp/sandbox")
    with tempfile.TemporaryDirectory(prefix="waotp-c-") as tmp:
        sim = Simulator(os.path.join(tmp, "sim.log"))
        try:
            p1, f1 = run_tests(sim, tmp)
            if f1:
                sys.stderr.write("--- simulator log (tail) ---\n" + sim.log_tail())
            p2, f2 = run_example(sim, tmp)
        finally:
            sim.stop()
    passed, failed = p1 + p2, f1 + f2
    print(f"C: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
