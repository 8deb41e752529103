'use strict'
// The waotp-sim binary on loopback, its control API as methods, and helpers
// that do what a phone would (scan a QR code, read an inbox).
//
// Every wait is a deadline on a condition, never a fixed sleep. Deadlines
// are generous (a loaded 2-core machine, debug builds); each ends as soon as
// its condition holds.

const { before, after } = require('node:test')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const ROOT = path.resolve(__dirname, '..', '..', '..')
const SIM_BIN = process.env.WAOTP_SIM || path.join(ROOT, 'target', 'debug', 'waotp-sim')

const START_MS = 60_000 // the simulator prints its URLs
const LINK_MS = 60_000 // a session shows a QR code; a scanned one connects
const INBOX_MS = 60_000 // a sent message reaches the recipient's inbox
const CODE = /\b(\d{4,10})\b/

// Temporary directories (simulator logs, data dirs) this test process made:
// removed when it exits cleanly, kept when a test failed, since failure
// messages name them.
const madeDirs = []
process.on('exit', (code) => {
  if (code !== 0) return
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** A new directory under the system's temporary directory, named `prefix…`. */
function madeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  madeDirs.push(dir)
  return dir
}

/** Polls `check` until it answers something truthy; fails after `timeoutMs`. */
async function waitFor(check, timeoutMs, what, everyMs = 20) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() >= deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`)
    // A bounded poll, not a fixed wait for something to happen.
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

class Simulator {
  static async start() {
    if (!fs.existsSync(SIM_BIN)) {
      throw new Error(`${SIM_BIN} is missing: build it with \`cargo build -p waotp-sim\``)
    }
    const logDir = madeTempDir('waotp-sim-')
    const log = fs.openSync(path.join(logDir, 'sim.log'), 'w')
    const proc = spawn(SIM_BIN, ['--listen', '127.0.0.1:0', '--control', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', log],
    })
    const lines = readline.createInterface({ input: proc.stdout })
    const first = await Promise.race([
      new Promise((resolve) => lines.once('line', resolve)),
      new Promise((resolve) => proc.once('exit', () => resolve(null))),
      new Promise((resolve) => setTimeout(resolve, START_MS).unref()),
    ])
    if (!first) {
      proc.kill()
      throw new Error(`waotp-sim printed no URLs within ${START_MS} ms; log in ${logDir}`)
    }
    const urls = JSON.parse(first)
    return new Simulator(proc, urls.ws, urls.control)
  }

  constructor(proc, ws, control) {
    this.proc = proc
    this.ws = ws
    this.control = control
  }

  async call(method, route, body) {
    const response = await fetch(this.control + route, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // POST /scan answers once the pairing is over: a generous bound.
      signal: AbortSignal.timeout(120_000),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`)
    return text ? JSON.parse(text) : {}
  }

  addNumber(phone, registered = true) {
    return this.call('POST', '/numbers', { phone, registered })
  }

  /** A registered account whose links WhatsApp gates with a passkey. */
  addGatedNumber(phone) {
    return this.call('POST', '/numbers', { phone, registered: true, passkey: true })
  }

  /** The assertion the account's passkey makes for its pending challenge,
   * as the console snippet prints it; `overrides` spoil it for refusal
   * tests (`corruptSignature`, `rpId`, `challenge`, `origin`, `userVerified`). */
  passkeyAssert(phone, overrides = {}) {
    return this.call('POST', '/passkey/assert', { phone, ...overrides })
  }

  /** Makes the account's pending passkey challenge stale. */
  expirePasskey(phone) {
    return this.call('POST', '/passkey/expire', { phone })
  }

  /** The account's passkey: credential, pending options, the phone's code. */
  passkey(phone) {
    return this.call('GET', `/passkey/${phone}`)
  }

  scan(qr, phone, name = 'Test Phone') {
    return this.call('POST', '/scan', { qr, phone, name })
  }

  enterPairCode(phone, code) {
    return this.call('POST', '/pair-code', { phone, code })
  }

  /** The registered number `from` writes `text` to the linked account `to`. */
  userSends(from, to, text) {
    return this.call('POST', '/send', { from, to, text })
  }

  async inbox(phone) {
    return (await this.call('GET', `/inbox/${phone}`)).messages
  }

  /** The inbox once it holds at least `count` messages. */
  waitInbox(phone, count, timeoutMs = INBOX_MS) {
    return waitFor(async () => {
      const messages = await this.inbox(phone)
      return messages.length >= count ? messages : null
    }, timeoutMs, `${count} message(s) in the inbox of ${phone}`)
  }

  /** The code in the `count`-th message to `phone` (waiting for it). */
  async latestCode(phone, count) {
    const text = (await this.waitInbox(phone, count))[count - 1].text
    const found = CODE.exec(text)
    if (!found) throw new Error(`no code in the message ${JSON.stringify(text)}`)
    return found[1]
  }

  fault(kind, fields = {}) {
    return this.call('POST', '/faults', { kind, ...fields })
  }

  async devices() {
    return (await this.call('GET', '/devices')).devices
  }

  async stop() {
    if (this.proc.exitCode !== null) return
    const exited = new Promise((resolve) => this.proc.once('exit', resolve))
    this.proc.kill('SIGTERM')
    await exited
  }
}

/** The simulator of one test file: started before its tests, stopped after.
 * Answers a stand-in that forwards to it once it runs. */
function useSimulator() {
  let sim = null
  before(async () => {
    sim = await Simulator.start()
  })
  after(async () => {
    await sim?.stop()
  })
  return new Proxy(
    {},
    {
      get(_, name) {
        if (!sim) throw new Error('the simulator starts in before()')
        const value = sim[name]
        return typeof value === 'function' ? value.bind(sim) : value
      },
    },
  )
}

let serial = 0
/** A number no other test of this process uses. */
function freshPhone(prefix = '62811') {
  serial += 1
  return `${prefix}${String(process.pid % 1000).padStart(3, '0')}${String(serial).padStart(5, '0')}`
}

/** A fresh data dir for a gateway (removed after a clean run). */
function tempDir() {
  return madeTempDir('waotp-node-')
}

/** The next `type` event of `sessionId` on `gateway`, listened for from
 * this call on; fails after `timeoutMs` with a message naming it. */
function nextEvent(gateway, type, sessionId, timeoutMs = LINK_MS) {
  return new Promise((resolve, reject) => {
    const listener = (event) => {
      if (event.sessionId !== sessionId) return
      clearTimeout(timer)
      gateway.off(type, listener)
      resolve(event)
    }
    const timer = setTimeout(() => {
      gateway.off(type, listener)
      reject(new Error(`no \`${type}\` event for session ${sessionId} within ${timeoutMs} ms`))
    }, timeoutMs)
    gateway.on(type, listener)
  })
}

/** Creates `sessionId`, has the simulator's phone scan its QR code, and
 * waits until it is connected. Answers the linked number. */
async function link(sim, gateway, sessionId, phone = freshPhone('62810')) {
  await gateway.createSession(sessionId)
  const qr = await gateway.waitQr(sessionId, LINK_MS)
  await sim.scan(qr.raw, phone)
  const status = await gateway.waitConnected(sessionId, LINK_MS)
  if (!status.isConnected) throw new Error(`not connected: ${JSON.stringify(status)}`)
  return phone
}

module.exports = {
  ROOT, SIM_BIN, LINK_MS, INBOX_MS, Simulator, useSimulator, waitFor, freshPhone, tempDir, link, nextEvent,
}
