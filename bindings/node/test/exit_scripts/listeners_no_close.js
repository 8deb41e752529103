'use strict'
// Listeners attached and the gateway never closed, a session still linking:
// the script's last line runs and Node ends by itself (listeners never keep
// it running).
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Gateway } = require('../..')

async function main() {
  const gateway = await Gateway.open({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'waotp-exit-')), endpoint: process.env.SIM_WS })
  gateway.on('qr', () => {})
  gateway.on('message-status', () => {})
  await gateway.createSession('s1')
  await gateway.waitQr('s1', 30_000)
  // The session goes on linking and the listeners stay attached; nothing
  // of waotp's keeps Node running, so it ends after this line.
  console.log('listeners ok')
}
main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
