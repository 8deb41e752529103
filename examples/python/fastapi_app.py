"""The reference guide's Express app, in Python on FastAPI and AsyncGateway.

    WAOTP_DATA_DIR=waotp-data python fastapi_app.py      # port 4000 (PORT)

- ``POST /send-otp {"phoneNumber": "0812..."}`` sends a code. The code is
  never returned to the caller: the user reads it on WhatsApp.
- ``POST /verify-otp {"phoneNumber": "0812...", "otp": "123456"}`` really
  verifies it (the guide left this step as comments).

- ``POST /login/start {"phoneNumber"?: "0812..."}`` starts the safer flow,
  where the user sends the code: show them ``data.link`` (a button on a
  phone) or ``data.qrCode`` (scanned on a desktop); WhatsApp opens with the
  text written out and they tap send. No limit on new chats applies.
  Without ``phoneNumber``, whoever sends it logs in (login with WhatsApp).
- ``GET /login/status/{id}`` answers ``pending`` until the message arrives,
  then ``approved`` with the sender's ``phoneNumber``.

Statuses as in the guide: 200 on success, 400 for bad input or a wrong
code, 404 for an unknown login, 429 when rate limited (with
``Retry-After``), 500 otherwise.

On start the app opens the session ``WAOTP_SESSION`` (``main-session``);
until it is linked, each QR code is printed to the terminal, and its raw
payload on a line starting with ``QR ``.
"""

from __future__ import annotations

import asyncio
import math
import os
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Dict, Optional, Union

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import waotp

SESSION_ID = os.environ.get("WAOTP_SESSION", "main-session")
COMPANY = os.environ.get("WAOTP_COMPANY", "PT. Contoh")

gateway = waotp.AsyncGateway(
    data_dir=os.environ.get("WAOTP_DATA_DIR", "waotp-data"),
    endpoint=os.environ.get("WAOTP_ENDPOINT"),
)


async def show_qr_until_linked() -> None:
    """Prints each QR code until the session is connected."""
    while not (await gateway.session_status(SESSION_ID)).is_connected:
        try:
            qr = await gateway.wait_qr(SESSION_ID, timeout=60)
        except (waotp.AlreadyConnected, waotp.Timeout, waotp.QrNotAvailable):
            continue
        print(qr.terminal())
        print(f"QR {qr.raw}", flush=True)
        left = (qr.expires_at - datetime.now(timezone.utc)).total_seconds()
        try:
            await gateway.wait_connected(SESSION_ID, timeout=max(left, 0) + 1)
        except waotp.Timeout:
            continue  # that code expired: show the next one
    print(f"session {SESSION_ID} connected", flush=True)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with gateway:
        await gateway.create_session(SESSION_ID)
        linking = asyncio.create_task(show_qr_until_linked())
        yield
        linking.cancel()


app = FastAPI(lifespan=lifespan)


class SendOtp(BaseModel):
    phoneNumber: str


class VerifyOtp(BaseModel):
    phoneNumber: str
    otp: str


class LoginStart(BaseModel):
    phoneNumber: Optional[str] = None


def failure(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, **extra}, status_code=status)


@app.exception_handler(RequestValidationError)
async def bad_body(_: Request, e: RequestValidationError) -> JSONResponse:
    return failure(400, "phoneNumber (and otp) are required strings")


@app.exception_handler(waotp.WaotpError)
async def waotp_error(_: Request, e: waotp.WaotpError) -> JSONResponse:
    if isinstance(e, waotp.RateLimited):
        response = failure(429, e.message, error=e.code)
        response.headers["Retry-After"] = str(max(1, math.ceil(e.retry_after_ms / 1000)))
        return response
    if isinstance(e, (ValueError, waotp.NotOnWhatsApp)):
        return failure(400, e.message, error=e.code)
    if isinstance(e, waotp.OtpNotFound):
        return failure(404, e.message, error=e.code)
    return failure(500, e.message, error=e.code)


@app.post("/send-otp")
async def send_otp(body: SendOtp) -> Dict[str, Any]:
    sent = await gateway.send_otp(SESSION_ID, body.phoneNumber, company_name=COMPANY)
    return {
        "success": True,
        "message": "OTP berhasil dikirim",
        # The code stays on the server: the user reads it on WhatsApp.
        "data": {"phoneNumber": sent.to, "expiresAt": sent.expires_at.isoformat()},
    }


@app.post("/verify-otp", response_model=None)
async def verify_otp(body: VerifyOtp) -> Union[Dict[str, Any], JSONResponse]:
    result = await gateway.verify_otp(body.phoneNumber, body.otp)
    if result.approved:
        return {"success": True, "message": "OTP valid"}
    data = {"status": result.outcome, "attemptsLeft": result.attempts_left}
    return failure(400, "OTP tidak valid", data=data)


@app.post("/login/start")
async def login_start(body: LoginStart) -> Dict[str, Any]:
    started = await gateway.start_inbound_verification(
        sessions=[SESSION_ID], expected_phone=body.phoneNumber
    )
    return {
        "success": True,
        "message": "Kirim pesan ini dari WhatsApp Anda",
        "data": {
            "verificationId": started.verification_id,
            "link": started.link,
            "qrCode": started.qr.data_url(),
            "text": started.text,
            "expiresAt": started.expires_at.isoformat(),
        },
    }


@app.get("/login/status/{verification_id}")
async def login_status(verification_id: str) -> Dict[str, Any]:
    status = await gateway.inbound_verification_status(verification_id)
    return {"success": True, "data": {"status": status.status, "phoneNumber": status.sender}}


if __name__ == "__main__":
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "4000")))
