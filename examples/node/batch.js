// The reference guide's `sendBatchOTP(phoneNumbers, companyName)`: one code
// per number, the same `[{phoneNumber, success, otp, error}]` answer. The
// library paces the session's sends (no fixed sleep here), and one number
// that fails (not on WhatsApp, invalid) does not stop the rest.
//
//     node batch.js "PT. Contoh" 0812... 0813...
//
// `otp` is in the answer as in the guide, which hands it to the caller; the
// code is revealed for that only (`revealCode`). An app that only needs the
// user to receive the code leaves it out.
'use strict'

const { Gateway } = require('waotp')

async function sendBatchOTP(gateway, sessionId, phoneNumbers, companyName) {
  const results = []
  for (const phoneNumber of phoneNumbers) {
    try {
      const sent = await gateway.sendOtp(sessionId, phoneNumber, { companyName, revealCode: true })
      results.push({ phoneNumber, success: true, otp: sent.code, error: null })
    } catch (e) {
      results.push({ phoneNumber, success: false, otp: null, error: `${e.code}: ${e.message}` })
    }
  }
  return results
}

async function main([companyName, ...phoneNumbers]) {
  if (!companyName || phoneNumbers.length === 0) {
    console.error('usage: node batch.js COMPANY PHONE...')
    return 2
  }
  const session = process.env.WAOTP_SESSION || 'main-session'
  const gateway = await Gateway.open({
    dataDir: process.env.WAOTP_DATA_DIR || 'waotp-data',
    endpoint: process.env.WAOTP_ENDPOINT,
  })
  try {
    await gateway.waitConnected(session, 60_000)
    const results = await sendBatchOTP(gateway, session, phoneNumbers, companyName)
    console.log(JSON.stringify(results, null, 2))
    return results.every((r) => r.success) ? 0 : 1
  } finally {
    await gateway.close()
  }
}

module.exports = { sendBatchOTP }

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
