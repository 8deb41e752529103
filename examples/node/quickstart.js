// The README's main flow in Node: link a WhatsApp account by QR code in the
// terminal, send an OTP, read the code the user typed, verify it.
//
//     node quickstart.js 08123456789 ["PT. Contoh"]
//
// Environment: WAOTP_DATA_DIR (./waotp-data), WAOTP_SESSION (quickstart),
// WAOTP_ENDPOINT (the simulator's URL; sandbox builds only). Each QR code's
// raw payload is also printed on a line starting with `QR ` (for tools that
// draw their own, and for the tests, whose simulated phone scans it).
'use strict'

const readline = require('node:readline/promises')
const { Gateway } = require('waotp')

async function main([phone, company = 'PT. Contoh']) {
  if (!phone) {
    console.error('usage: node quickstart.js PHONE [COMPANY]')
    return 2
  }
  const session = process.env.WAOTP_SESSION || 'quickstart'
  const gateway = await Gateway.open({
    dataDir: process.env.WAOTP_DATA_DIR || 'waotp-data',
    endpoint: process.env.WAOTP_ENDPOINT,
  })
  const terminal = readline.createInterface({ input: process.stdin, output: process.stdout })
  try {
    let status = await gateway.createSession(session)
    if (!status.isConnected) {
      try {
        const qr = await gateway.waitQr(session, 30_000)
        console.log('Scan this with WhatsApp (Linked devices -> Link a device):')
        console.log(qr.terminal())
        console.log(`QR ${qr.raw}`)
        console.log(`(expires ${qr.expiresAt.toISOString()}; a new one follows)`)
      } catch (e) {
        if (e.code !== 'ALREADY_CONNECTED') throw e // a stored link came back meanwhile
      }
      status = await gateway.waitConnected(session, 120_000)
    }
    console.log(`Connected as ${status.user?.phone ?? '?'}.`)

    let sent
    try {
      sent = await gateway.sendOtp(session, phone, { companyName: company })
    } catch (e) {
      if (e.code === 'RATE_LIMITED') {
        console.log(`Too many codes for ${phone}; try again in ${Math.ceil(e.retryAfterMs / 1000)} s.`)
        return 1
      }
      if (e.code === 'NOT_ON_WHATSAPP') {
        console.log(`${phone} is not on WhatsApp.`)
        return 1
      }
      throw e
    }
    console.log(`Code sent to ${sent.to}; valid until ${sent.expiresAt.toISOString()}.`)

    for (;;) {
      const typed = (await terminal.question('Code from WhatsApp: ')).trim()
      const result = await gateway.verifyOtp(sent.to, typed)
      if (result.outcome === 'approved') {
        console.log('Verified.')
        return 0
      }
      if (result.outcome === 'invalid' && result.attemptsLeft) {
        console.log(`Wrong code; ${result.attemptsLeft} attempt(s) left.`)
        continue
      }
      console.log(`Not verified: ${result.outcome}.`)
      return 1
    }
  } finally {
    terminal.close()
    await gateway.close()
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
