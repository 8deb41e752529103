"""The blocking Gateway alone, closed by `with`."""

import os
import tempfile

import waotp

with waotp.Gateway(data_dir=tempfile.mkdtemp(), endpoint=os.environ["SIM_WS"]) as gw:
    for i in range(20):
        gw.verify_otp(f"0812345671{i:02d}", "123456")
    gw.create_session("s1")
    gw.wait_qr("s1", timeout=30)
print("sync ok")
