"""A process that used waotp forks; the children end (one through normal
interpreter exit, one through os._exit), then the parent goes on and ends."""

import os
import sys
import tempfile

import waotp

with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
    gw.create_session("s1")
    gw.wait_qr("s1", timeout=30)
    for how in ("exit", "_exit"):
        pid = os.fork()
        if pid == 0:
            # The child inherits waotp's memory but not its threads.
            try:
                gw.verify_otp("081234567800", "123456")
                code = 3  # a call in the child must refuse, not hang
            except waotp.AfterFork:
                code = 0
            if how == "exit":
                sys.stdout.flush()
                sys.exit(code)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ({how}) ended with {status}"
    gw.verify_otp("081234567800", "123456")
print("fork ok")
