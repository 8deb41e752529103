'use strict'
// The script ends (process.exit) while Promises of waotp are still pending
// and listeners are attached: nothing of waotp's may crash on the way out.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Gateway } = require('../..')

async function main() {
  const gateway = await Gateway.open({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'waotp-exit-')), endpoint: process.env.SIM_WS })
  gateway.on('qr', () => {})
  gateway.on('connected', () => {})
  await gateway.createSession('s1')
  await gateway.waitQr('s1', 30_000)
  // Nobody scans: these wait a minute, and the script does not.
  gateway.waitConnected('s1', 60_000).catch(() => {})
  gateway.events().next().catch(() => {})
  await Promise.all(Array.from({ length: 20 }, (_, i) => gateway.verifyOtp(`0812345678${String(i).padStart(2, '0')}`, '123456')))
  console.log('pending ok')
  process.exit(0)
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
