// The reference guide's Express app, with the library in process.
//
//     WAOTP_DATA_DIR=waotp-data node express-app.js     # port 4000 (PORT)
//
// - `POST /send-otp {"phoneNumber": "0812..."}` sends a code. The code is
//   never returned to the caller: the user reads it on WhatsApp.
// - `POST /verify-otp {"phoneNumber": "0812...", "otp": "123456"}` really
//   verifies it (the guide left this step as comments).
//
// - `POST /login/start {"phoneNumber"?: "0812..."}` starts the safer flow,
//   where the user sends the code: show them `data.link` (a button on a
//   phone) or `data.qrCode` (scanned on a desktop); WhatsApp opens with the
//   text written out and they tap send. No limit on new chats applies.
//   Without `phoneNumber`, whoever sends it logs in (login with WhatsApp).
// - `GET /login/status/:id` answers `pending` until the message arrives,
//   then `approved` with the sender's `phoneNumber`.
//
// Statuses as in the guide: 200 on success, 400 for bad input or a wrong
// code, 429 when rate limited (with `Retry-After`), 500 otherwise.
//
// On start the app opens the session WAOTP_SESSION (`main-session`); until
// it is linked, each QR code is printed to the terminal, and its raw
// payload on a line starting with `QR `.
'use strict'

const express = require('express')
const { Gateway } = require('waotp')

const SESSION_ID = process.env.WAOTP_SESSION || 'main-session'
const COMPANY = process.env.WAOTP_COMPANY || 'PT. Contoh'

// Codes that mean the request itself was wrong.
const BAD_REQUEST = new Set(['INVALID_PHONE', 'INVALID_ARGUMENT', 'NOT_ON_WHATSAPP'])
// Codes that mean there is no such thing.
const NOT_FOUND = new Set(['OTP_NOT_FOUND', 'SESSION_NOT_FOUND'])

function failure(res, status, message, extra = {}) {
  return res.status(status).json({ success: false, message, ...extra })
}

/** Answers a library error with the guide's statuses. */
function answerError(res, e) {
  if (e.code === 'RATE_LIMITED') {
    res.set('Retry-After', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))))
    return failure(res, 429, e.message, { error: e.code })
  }
  if (BAD_REQUEST.has(e.code)) return failure(res, 400, e.message, { error: e.code })
  if (NOT_FOUND.has(e.code)) return failure(res, 404, e.message, { error: e.code })
  return failure(res, 500, e.message, { error: e.code ?? 'INTERNAL' })
}

function strings(body, ...names) {
  return body && names.every((n) => typeof body[n] === 'string')
}

async function main() {
  const gateway = await Gateway.open({
    dataDir: process.env.WAOTP_DATA_DIR || 'waotp-data',
    endpoint: process.env.WAOTP_ENDPOINT,
  })
  gateway.on('qr', (event) => {
    console.log(`QR ${event.qr}`)
  })
  gateway.on('connected', (event) => {
    if (event.sessionId === SESSION_ID) console.log(`session ${SESSION_ID} connected`)
  })
  const status = await gateway.createSession(SESSION_ID)
  if (status.isConnected) console.log(`session ${SESSION_ID} connected`)

  const app = express()
  app.use(express.json())
  app.use((err, req, res, next) => failure(res, 400, 'the body is not JSON'))

  app.post('/send-otp', async (req, res) => {
    if (!strings(req.body, 'phoneNumber')) return failure(res, 400, 'phoneNumber is required')
    try {
      const sent = await gateway.sendOtp(SESSION_ID, req.body.phoneNumber, { companyName: COMPANY })
      res.json({
        success: true,
        message: 'OTP berhasil dikirim',
        // The code stays on the server: the user reads it on WhatsApp.
        data: { phoneNumber: sent.to, expiresAt: sent.expiresAt.toISOString() },
      })
    } catch (e) {
      answerError(res, e)
    }
  })

  app.post('/verify-otp', async (req, res) => {
    if (!strings(req.body, 'phoneNumber', 'otp')) return failure(res, 400, 'phoneNumber and otp are required')
    try {
      const result = await gateway.verifyOtp(req.body.phoneNumber, req.body.otp)
      if (result.outcome === 'approved') return res.json({ success: true, message: 'OTP valid' })
      failure(res, 400, 'OTP tidak valid', { data: { status: result.outcome, attemptsLeft: result.attemptsLeft ?? null } })
    } catch (e) {
      answerError(res, e)
    }
  })

  app.post('/login/start', async (req, res) => {
    const phoneNumber = req.body && req.body.phoneNumber
    if (phoneNumber !== undefined && typeof phoneNumber !== 'string') {
      return failure(res, 400, 'phoneNumber must be a string')
    }
    try {
      const started = await gateway.startInboundVerification({ expectedPhone: phoneNumber }, [SESSION_ID])
      res.json({
        success: true,
        message: 'Kirim pesan ini dari WhatsApp Anda',
        data: {
          verificationId: started.verificationId,
          link: started.link,
          qrCode: started.qrCode,
          text: started.text,
          expiresAt: started.expiresAt.toISOString(),
        },
      })
    } catch (e) {
      answerError(res, e)
    }
  })

  app.get('/login/status/:id', async (req, res) => {
    try {
      const status = await gateway.inboundVerificationStatus(req.params.id)
      res.json({ success: true, data: { status: status.status, phoneNumber: status.sender ?? null } })
    } catch (e) {
      answerError(res, e)
    }
  })

  const port = Number(process.env.PORT || 4000)
  const server = app.listen(port, process.env.HOST || '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`)
  })
  const stop = () => server.close(() => gateway.close())
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
