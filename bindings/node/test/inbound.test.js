'use strict'
// Inbound verification against the simulator: the user sends the code
// from WhatsApp, a stranger with the token is refused (and counted), the
// expected number approves it with an `otp-verified` event whose method
// is 'inbound', and bad options reject with the core's codes.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, link, waitFor, LINK_MS } = require('./sim')

const sim = useSimulator()

test('the user sends the code; a stranger is refused', async () => {
  const gateway = await Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true })
  try {
    const number = await link(sim, gateway, 'shop')
    const [user, stranger] = [freshPhone('62812'), freshPhone('62812')]
    await sim.addNumber(user)
    await sim.addNumber(stranger)
    const approvals = []
    gateway.on('otp-verified', (e) => approvals.push(e))

    const started = await gateway.startInboundVerification({ expectedPhone: user, reply: 'Berhasil masuk' })
    assert.equal(started.sessionId, 'shop')
    assert.equal(started.number, number)
    assert.ok(started.link.startsWith(`https://wa.me/${number}?text=Kode%20masuk%3A%20`), started.link)
    assert.ok(started.qrCode.startsWith('data:image/png;base64,'))
    assert.ok(started.expiresAt instanceof Date)

    await sim.userSends(stranger, number, started.text)
    await waitFor(
      async () => (await gateway.inboundVerificationStatus(started.verificationId)).attempts === 1,
      LINK_MS,
      "the stranger's message counted",
    )
    await sim.userSends(user, number, started.text)
    assert.equal((await sim.waitInbox(user, 1))[0].text, 'Berhasil masuk')
    const status = await gateway.inboundVerificationStatus(started.verificationId)
    assert.equal(status.status, 'approved')
    assert.equal(status.sender, user)
    assert.ok(status.approvedAt instanceof Date)
    await waitFor(async () => approvals.length > 0, LINK_MS, 'the otp-verified event')
    assert.equal(approvals[0].method, 'inbound')
    assert.equal(approvals[0].to, user)
    assert.equal(approvals[0].verificationId, started.verificationId)
    const hour = (await gateway.stats()).sessions.shop.conversion.lastHour
    assert.deepEqual([hour.started, hour.approvedInbound, hour.rate], [1, 1, 1])

    const unknown = await gateway.inboundVerificationStatus('nope').catch((e) => e)
    assert.equal(unknown.code, 'OTP_NOT_FOUND')
    const bad = await gateway.startInboundVerification({ template: 'no token' }).catch((e) => e)
    assert.equal(bad.code, 'INVALID_ARGUMENT')
    const wrongType = await gateway.startInboundVerification(42).catch((e) => e)
    assert.equal(wrongType.code, 'INVALID_ARGUMENT')
    const other = await gateway.startInboundVerification(undefined, ['shop'])
    assert.equal((await gateway.cancelInboundVerification(other.verificationId)).status, 'canceled')
  } finally {
    await gateway.close()
  }
})
