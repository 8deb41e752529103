'use strict'
// The usual end: work, close(), and Node ends by itself.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Gateway } = require('../..')

async function main() {
  const gateway = await Gateway.open({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'waotp-exit-')), endpoint: process.env.SIM_WS })
  gateway.on('qr', () => {})
  const events = gateway.events()
  await gateway.createSession('s1')
  await gateway.waitQr('s1', 30_000)
  await Promise.all(Array.from({ length: 20 }, (_, i) => gateway.otpStatus(`0812345679${String(i).padStart(2, '0')}`).catch(() => {})))
  const pending = gateway.waitConnected('s1', 60_000).catch((e) => e.code)
  await gateway.close()
  for await (const _ of events) {
    // drained: the stream ends with the close
  }
  console.log(`after close ok (${await pending})`)
}
main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
