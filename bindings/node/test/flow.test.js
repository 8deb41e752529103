'use strict'
// The main flow against the simulator: link by QR, send an OTP, read the
// code from the recipient's inbox, verify it once; every outcome of a
// verification; events through `on` and `for await`.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, link, LINK_MS } = require('./sim')

const sim = useSimulator()

async function recipient() {
  const phone = freshPhone('62812')
  await sim.addNumber(phone)
  return phone
}

function open(options = {}) {
  return Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true, ...options })
}

test('link by QR, send an OTP, the code from the inbox verifies once', async () => {
  const gateway = await open()
  try {
    const seen = []
    gateway.on('qr', (e) => seen.push(e))
    const connected = new Promise((resolve) => gateway.once('connected', resolve))

    const created = await gateway.createSession('shop')
    assert.equal(created.sessionId, 'shop')
    const qr = await gateway.waitQr('shop', LINK_MS)
    assert.ok(qr.expiresAt instanceof Date && qr.expiresAt > new Date(), 'the QR code is still valid')
    assert.ok(qr.png().subarray(1, 4).equals(Buffer.from('PNG')), 'a PNG image')
    assert.match(qr.dataUrl(), /^data:image\/png;base64,/)
    assert.match(qr.svg(), /<svg/)
    assert.ok(qr.terminal().includes('█'), 'drawn with block characters')

    const phone = freshPhone('62810')
    await sim.scan(qr.raw, phone)
    const status = await gateway.waitConnected('shop', LINK_MS)
    assert.equal(status.state, 'connected')
    assert.equal(status.user.phone, phone)
    const event = await connected
    assert.equal(event.sessionId, 'shop')
    assert.ok(seen.some((e) => e.qr === qr.raw), 'the QR code came as a `qr` event too')
    assert.deepEqual((await gateway.listSessions()).map((s) => s.sessionId), ['shop'])

    const to = await recipient()
    const sent = await gateway.sendOtp('shop', to, { companyName: 'PT. Contoh' })
    assert.equal(sent.to, to)
    assert.equal(sent.code, undefined, 'the code is not answered unless asked for')
    const code = await sim.latestCode(to, 1)
    assert.match((await sim.inbox(to))[0].text, /PT\. Contoh/)

    assert.deepEqual(await gateway.verifyOtp(to, code), { outcome: 'approved' })
    assert.equal((await gateway.verifyOtp(to, code)).outcome, 'not_found', 'a code works once')
    const stats = await gateway.stats()
    assert.equal(stats.gateway.otpIssued, 1)
    assert.equal(stats.sessions.shop.verify.approved, 1)
    assert.match(await gateway.statsPrometheus(), /waotp_otp_issued_total/)
  } finally {
    await gateway.close()
  }
})

test('wrong codes, too many attempts, expiry on the manual clock, cancel, status', async () => {
  const gateway = await open({ manualClock: true, otpMaxAttempts: 3 })
  try {
    await link(sim, gateway, 'shop')
    const to = await recipient()

    await gateway.sendOtp('shop', to, { companyName: 'PT. Contoh', revealCode: true })
    const wrong = await gateway.verifyOtp(to, '000000')
    assert.deepEqual(wrong, { outcome: 'invalid', attemptsLeft: 2 })
    await gateway.verifyOtp(to, '000000')
    assert.deepEqual(await gateway.verifyOtp(to, '000000'), { outcome: 'invalid', attemptsLeft: 0 })
    assert.equal((await gateway.verifyOtp(to, '000000')).outcome, 'max_attempts')
    assert.equal((await gateway.otpStatus(to)).status, 'max_attempts_reached')

    const sent = await gateway.sendOtp('shop', to, { companyName: 'PT. Contoh', ttlSecs: 60, revealCode: true })
    assert.match(sent.code, /^\d{6}$/)
    gateway.advanceClock(61_000)
    assert.equal((await gateway.verifyOtp(to, sent.code)).outcome, 'expired')

    const again = await gateway.sendOtp('shop', to, { companyName: 'PT. Contoh', revealCode: true })
    const pending = await gateway.otpStatus(to)
    assert.equal(pending.status, 'pending')
    assert.equal(pending.verificationId, again.verificationId)
    assert.equal((await gateway.cancelOtp(to)).status, 'canceled')
    assert.equal((await gateway.verifyOtp(to, again.code)).outcome, 'not_found')
  } finally {
    await gateway.close()
  }
})

test('text, delivery status, idempotency, template, events through on and for await', async () => {
  const gateway = await open()
  try {
    await link(sim, gateway, 'shop')
    const to = await recipient()
    const stream = gateway.events()
    const verified = new Promise((resolve) => gateway.once('otp-verified', resolve))

    const text = await gateway.sendText('shop', to, 'Halo!', { idempotencyKey: 'greeting-1' })
    assert.equal(text.newlySent, true)
    const repeat = await gateway.sendText('shop', to, 'Halo!', { idempotencyKey: 'greeting-1' })
    assert.deepEqual(repeat, { ...text, newlySent: false })
    await sim.waitInbox(to, 1)
    assert.equal((await gateway.messageStatus(text.messageId)).sessionId, 'shop')
    assert.equal(await gateway.isOnWhatsapp('shop', to), true)

    const first = await gateway.sendOtp('shop', to, {
      companyName: 'Toko',
      template: 'Kode {OTP} untuk {COMPANY}',
      idempotencyKey: 'login-7',
    })
    const replay = await gateway.sendOtp('shop', to, { companyName: 'Toko', idempotencyKey: 'login-7' })
    assert.equal(replay.replayed, true)
    assert.equal(replay.verificationId, first.verificationId)
    const code = await sim.latestCode(to, 2)
    assert.equal((await sim.inbox(to))[1].text, `Kode ${code} untuk Toko`)
    await gateway.verifyOtp(to, code)
    const event = await verified
    assert.deepEqual([event.type, event.to, event.outcome], ['otp-verified', to, 'approved'])

    const kinds = []
    for await (const e of stream) {
      kinds.push(e.type)
      if (e.type === 'otp-verified') break
    }
    assert.ok(kinds.includes('otp-sent'), `otp-sent among ${kinds}`)
  } finally {
    await gateway.close()
  }
})

test('restart, logout, a pairing code, delete', async () => {
  const gateway = await open()
  try {
    await link(sim, gateway, 'shop')
    await gateway.restart('shop')
    assert.equal((await gateway.waitConnected('shop', LINK_MS)).qrRefreshCount, 0, 'no QR after a restart')
    await gateway.logout('shop')
    assert.equal((await gateway.sessionStatus('shop')).state, 'logged_out')

    await gateway.createSession('paired')
    const phone = freshPhone('62810')
    const code = await gateway.pairCode('paired', phone)
    assert.match(code, /^[A-Z0-9]{4}-?[A-Z0-9]{4}$/)
    await sim.enterPairCode(phone, code)
    assert.equal((await gateway.waitConnected('paired', LINK_MS)).user.phone, phone)

    await gateway.deleteSession('paired')
    await assert.rejects(gateway.sessionStatus('paired'), { code: 'SESSION_NOT_FOUND' })
  } finally {
    await gateway.close()
  }
})
