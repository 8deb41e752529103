"""The README's main flow in Python: link a WhatsApp account by QR code in
the terminal, send an OTP, read the code the user typed, verify it.

    python quickstart.py 08123456789 ["PT. Contoh"]

Environment: WAOTP_DATA_DIR (./waotp-data), WAOTP_SESSION (quickstart),
WAOTP_ENDPOINT (the simulator's URL; sandbox builds only). Each QR code's
raw payload is also printed on a line starting with ``QR `` (for tools that
draw their own, and for the tests, whose simulated phone scans it).
"""

from __future__ import annotations

import os
import sys

import waotp


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python quickstart.py PHONE [COMPANY]", file=sys.stderr)
        return 2
    phone, company = argv[1], (argv[2] if len(argv) > 2 else "PT. Contoh")
    session = os.environ.get("WAOTP_SESSION", "quickstart")

    with waotp.Gateway(
        data_dir=os.environ.get("WAOTP_DATA_DIR", "waotp-data"),
        endpoint=os.environ.get("WAOTP_ENDPOINT"),
    ) as gw:
        status = gw.create_session(session)
        if not status.is_connected:
            try:
                qr = gw.wait_qr(session, timeout=30)
                print("Scan this with WhatsApp (Linked devices -> Link a device):")
                print(qr.terminal())
                print(f"QR {qr.raw}", flush=True)
                print(f"(expires {qr.expires_at:%H:%M:%S} UTC; a new one follows)")
            except waotp.AlreadyConnected:
                pass  # a stored link came back while we asked
            status = gw.wait_connected(session, timeout=120)
        linked = status.user.phone if status.user else "?"
        print(f"Connected as {linked}.")

        try:
            sent = gw.send_otp(session, phone, company_name=company)
        except waotp.RateLimited as e:
            print(f"Too many codes for {phone}; try again in {e.retry_after_ms / 1000:.0f} s.")
            return 1
        except waotp.NotOnWhatsApp:
            print(f"{phone} is not on WhatsApp.")
            return 1
        print(f"Code sent to {sent.to}; valid until {sent.expires_at:%H:%M:%S} UTC.")

        while True:
            typed = input("Code from WhatsApp: ").strip()
            result = gw.verify_otp(sent.to, typed)
            if result.approved:
                print("Verified.")
                return 0
            if result.outcome == "invalid" and result.attempts_left:
                print(f"Wrong code; {result.attempts_left} attempt(s) left.")
                continue
            print(f"Not verified: {result.outcome}.")
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
