'use strict'
// The examples in examples/node, driven as a user would: the quickstart in
// a terminal, the TypeScript quickstart type-checked, the batch script, and
// the Express app over real HTTP on a loopback port.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFileSync } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')

const { Gateway } = require('..')
const { ROOT, LINK_MS, useSimulator, freshPhone, tempDir, link, waitFor } = require('./sim')

const EXAMPLES = path.join(ROOT, 'examples', 'node')

const sim = useSimulator()

/** A child process's output, line by line, with a deadline on each wait. */
class Child {
  constructor(args, env) {
    this.proc = spawn(process.execPath, args, {
      cwd: EXAMPLES,
      env: { ...process.env, WAOTP_ENDPOINT: sim.ws, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.seen = []
    this.waiting = []
    this.exit = new Promise((resolve) => this.proc.once('exit', resolve))
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.seen.push(line)
        this.waiting = this.waiting.filter((w) => !w(line))
      })
    }
  }

  /** The first line (seen or to come) that starts with `prefix`. */
  line(prefix, timeoutMs = LINK_MS) {
    return this.lineWhere((l) => l.startsWith(prefix), `starting ${JSON.stringify(prefix)}`, timeoutMs)
  }

  /** The first line that contains `text` (after a prompt, say). */
  lineWith(text, timeoutMs = LINK_MS) {
    return this.lineWhere((l) => l.includes(text), `with ${JSON.stringify(text)}`, timeoutMs)
  }

  lineWhere(matches, what, timeoutMs) {
    const seen = this.seen.find(matches)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.seen)}`)),
        timeoutMs,
      )
      this.waiting.push((line) => {
        if (!matches(line)) return false
        clearTimeout(timer)
        resolve(line)
        return true
      })
    })
  }

  type(text) {
    this.proc.stdin.write(text + '\n')
  }

  async stop() {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM')
    return this.exit
  }
}

async function recipient(registered = true) {
  const phone = freshPhone('62812')
  await sim.addNumber(phone, registered)
  return phone
}

test('quickstart.js: QR in the terminal, send, a wrong code, the right one', async () => {
  const to = await recipient()
  const child = new Child(['quickstart.js', to, 'Toko Kita'], { WAOTP_DATA_DIR: tempDir() })
  try {
    const qr = (await child.line('QR ')).slice(3)
    await sim.scan(qr, freshPhone('62810'))
    await child.line('Connected as')
    await child.line('Code sent to')
    const code = await sim.latestCode(to, 1)
    // The prompt ends without a newline: what follows it shares its line.
    child.type('000000')
    await child.lineWith('Wrong code; 2 attempt(s) left.')
    child.type(code)
    await child.lineWith('Verified.')
    assert.equal(await child.exit, 0)
  } finally {
    await child.stop()
  }
})

test('quickstart.ts type-checks with tsc --noEmit --strict', () => {
  const tsc = path.join(EXAMPLES, 'node_modules', '.bin', 'tsc')
  // Throws with tsc's output when a type does not fit.
  execFileSync(tsc, ['--noEmit', '--strict', '-p', EXAMPLES], { cwd: EXAMPLES, stdio: 'pipe' })
})

test('batch.js: one answer per number; a number without WhatsApp fails alone', async () => {
  const dataDir = tempDir()
  const setup = await Gateway.open({ dataDir, endpoint: sim.ws })
  await link(sim, setup, 'main-session')
  await setup.close()
  const numbers = [await recipient(), await recipient(false), await recipient()]
  const child = new Child(['batch.js', 'PT. Contoh', ...numbers], { WAOTP_DATA_DIR: dataDir })
  const out = []
  child.proc.stdout.on('data', (d) => out.push(d))
  assert.equal(await child.exit, 1, 'not every number succeeded')
  const results = JSON.parse(Buffer.concat(out).toString())
  assert.deepEqual(results.map((r) => [r.phoneNumber, r.success]), [
    [numbers[0], true],
    [numbers[1], false],
    [numbers[2], true],
  ])
  assert.match(results[1].error, /^NOT_ON_WHATSAPP/)
  for (const i of [0, 2]) {
    assert.equal(results[i].otp, await sim.latestCode(numbers[i], 1), 'the code the recipient got')
  }
})

async function post(base, route, body) {
  const response = await fetch(base + route, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, headers: response.headers, body: await response.json() }
}

test('express-app.js over HTTP: send, 400s, a real verify, 429 with Retry-After, login with WhatsApp', async () => {
  const child = new Child(['express-app.js'], { WAOTP_DATA_DIR: tempDir(), PORT: '0' })
  try {
    const qr = (await child.line('QR ')).slice(3)
    const number = freshPhone('62810')
    await sim.scan(qr, number)
    await child.line('session main-session connected')
    const port = (await child.line('listening on ')).split(' ').pop()
    const base = `http://127.0.0.1:${port}`
    const to = await recipient()

    const sent = await post(base, '/send-otp', { phoneNumber: to })
    assert.equal(sent.status, 200, JSON.stringify(sent.body))
    assert.equal(sent.body.success, true)
    assert.equal(sent.body.data.otp, undefined, 'the code never reaches the caller')
    assert.ok(!JSON.stringify(sent.body).includes(await sim.latestCode(to, 1)))

    assert.equal((await post(base, '/send-otp', {})).status, 400)
    assert.equal((await post(base, '/send-otp', '{not json')).status, 400)
    assert.equal((await post(base, '/send-otp', { phoneNumber: 'abc' })).body.error, 'INVALID_PHONE')
    const wrong = await post(base, '/verify-otp', { phoneNumber: to, otp: '000000' })
    assert.equal(wrong.status, 400)
    assert.deepEqual(wrong.body.data, { status: 'invalid', attemptsLeft: 2 })
    const right = await post(base, '/verify-otp', { phoneNumber: to, otp: await sim.latestCode(to, 1) })
    assert.deepEqual([right.status, right.body.success], [200, true])

    // The default limits allow no second code within the resend cooldown.
    const again = await post(base, '/send-otp', { phoneNumber: to })
    assert.equal(again.status, 429)
    assert.ok(Number(again.headers.get('retry-after')) >= 1)

    // The user sends the code: login with WhatsApp, no number typed.
    const login = await post(base, '/login/start', {})
    assert.equal(login.status, 200, JSON.stringify(login.body))
    assert.ok(login.body.data.link.startsWith('https://wa.me/'))
    assert.ok(login.body.data.qrCode.startsWith('data:image/png;base64,'))
    const user = await recipient()
    await sim.userSends(user, number, login.body.data.text)
    const statusUrl = `${base}/login/status/${login.body.data.verificationId}`
    const approved = await waitFor(async () => {
      const body = await (await fetch(statusUrl)).json()
      return body.data.status === 'approved' && body.data
    }, LINK_MS, 'the login approved')
    assert.equal(approved.phoneNumber, user)
    assert.equal((await fetch(`${base}/login/status/nope`)).status, 404)
    assert.equal((await post(base, '/login/start', { phoneNumber: 42 })).status, 400)
  } finally {
    assert.equal(await child.stop(), 0, 'the app stops cleanly on SIGTERM')
  }
})
