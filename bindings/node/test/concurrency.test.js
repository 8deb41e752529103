'use strict'
// Many Promises at once on one gateway while the event loop keeps turning,
// and a script that opens, sends and closes exits by itself.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, link } = require('./sim')

const sim = useSimulator()

test('200 verifyOtp and 10 sendOtp at once; a 10 ms interval keeps firing', async () => {
  const gateway = await Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true })
  try {
    await link(sim, gateway, 'shop')
    const recipients = []
    for (let i = 0; i < 10; i++) {
      const to = freshPhone('62812')
      await sim.addNumber(to)
      recipients.push(to)
    }

    let ticks = 0
    const ticker = setInterval(() => {
      ticks += 1
    }, 10)
    const started = Date.now()
    try {
      const sent = await Promise.all(
        recipients.map((to) => gateway.sendOtp('shop', to, { companyName: 'Toko', revealCode: true })),
      )
      // Each recipient's right code, among 190 checks for numbers that
      // have none: every answer is exact, whatever the order.
      const checks = sent.map((s) => gateway.verifyOtp(s.to, s.code))
      for (let i = 0; i < 190; i++) {
        checks.push(gateway.verifyOtp(freshPhone('62817'), '123456'))
      }
      const answers = await Promise.all(checks)
      assert.deepEqual(answers.slice(0, 10), sent.map(() => ({ outcome: 'approved' })))
      assert.ok(answers.slice(10).every((a) => a.outcome === 'not_found'))
    } finally {
      clearInterval(ticker)
    }
    const elapsed = Date.now() - started
    // The loop was free: the interval fired for a good part of the time
    // (a blocked loop fires it once at the end).
    assert.ok(ticks >= Math.min(5, elapsed / 40), `${ticks} ticks in ${elapsed} ms`)
  } finally {
    await gateway.close()
  }
})

test('a script that opens, sends and closes exits by itself within 5 s of closing', async () => {
  const dataDir = tempDir()
  const setup = await Gateway.open({ dataDir, endpoint: sim.ws, noLimits: true })
  await link(sim, setup, 'shop')
  await setup.close()
  const to = freshPhone('62812')
  await sim.addNumber(to)

  const script = `
    const { Gateway } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    ;(async () => {
      const gateway = await Gateway.open({ dataDir: ${JSON.stringify(dataDir)}, endpoint: ${JSON.stringify(sim.ws)}, noLimits: true })
      await gateway.waitConnected('shop', 60000)
      await gateway.sendText('shop', ${JSON.stringify(to)}, 'bye')
      await gateway.close()
      process.stdout.write('closed ' + Date.now() + '\\n')
    })()
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  const code = await new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the child did not exit within 90 s; it printed ${JSON.stringify(out)}`))
    }, 90_000)
    child.once('exit', (c) => {
      clearTimeout(guard)
      resolve(c)
    })
  })
  const exitedAt = Date.now()
  assert.equal(code, 0)
  const closedAt = Number(/closed (\d+)/.exec(out)?.[1])
  assert.ok(closedAt > 0, `the child closed its gateway: ${JSON.stringify(out)}`)
  assert.ok(exitedAt - closedAt < 5000, `exited ${exitedAt - closedAt} ms after close()`)
  assert.equal((await sim.waitInbox(to, 1))[0].text, 'bye')
})
