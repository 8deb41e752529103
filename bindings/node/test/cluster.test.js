'use strict'
// Two node:cluster workers (as PM2 runs an app) share one data dir: both
// send through the one WhatsApp connection of session `shop`.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, link } = require('./sim')

const sim = useSimulator()

test('2 cluster workers send through one connection, each code once', async () => {
  const dataDir = tempDir()
  const setup = await Gateway.open({ dataDir, endpoint: sim.ws, noLimits: true })
  const own = await link(sim, setup, 'shop')
  await setup.close()

  const plan = { 0: [], 1: [] }
  for (let i = 0; i < 8; i++) {
    const to = freshPhone('62812')
    await sim.addNumber(to)
    plan[i % 2].push(to)
  }
  const app = path.join(__dirname, 'cluster-app.js')
  const child = spawn(process.execPath, [app, dataDir, sim.ws, JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  assert.equal(code, 0, out)
  const results = JSON.parse(out)
  const devices = await sim.devices()
  assert.deepEqual(
    results.filter((r) => r.error),
    [],
    `every worker finished; devices: ${JSON.stringify(devices)}`,
  )
  assert.deepEqual(results.map((r) => r.worker).sort(), [0, 1])
  for (const r of results) assert.deepEqual(r.outcomes, ['approved', 'approved', 'approved', 'approved'])

  const device = devices.find((d) => d.phone === own)
  assert.equal(device.max_live_connections, 1, 'one WhatsApp connection at any time')
  assert.equal(device.duplicate_messages, 0)
  for (const to of [...plan[0], ...plan[1]]) {
    assert.equal((await sim.inbox(to)).length, 1, `one message to ${to}`)
  }
})
