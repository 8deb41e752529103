'use strict'
// A sender pool and account health against the simulator's new-chat
// quotas: codes go through the numbers that can still deliver them,
// `sessionId` names the sender, health shows in the status and in
// `health-changed` events, and when no number can deliver an OTP or a
// text the Promise rejects with ACCOUNT_LIMITED.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, link, waitFor, LINK_MS } = require('./sim')

const sim = useSimulator()

test('a pool routes around spent quotas and rejects with ACCOUNT_LIMITED', async () => {
  const gateway = await Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true })
  try {
    const changes = []
    gateway.on('health-changed', (e) => changes.push(e))
    const phones = { a: await link(sim, gateway, 'a'), b: await link(sim, gateway, 'b') }
    for (const phone of Object.values(phones)) {
      await sim.call('POST', `/accounts/${phone}/limits`, { new_chat_quota: 1, cycle_secs: 600 })
    }
    await waitFor(
      async () => (await Promise.all(['a', 'b'].map((s) => gateway.sessionStatus(s)))).every((s) => s.health.quota),
      LINK_MS,
      'the quotas',
    )
    const senders = []
    const recipients = []
    for (let i = 0; i < 2; i++) {
      const to = freshPhone('62812')
      await sim.addNumber(to)
      recipients.push(to)
      const sent = await gateway.sendOtpPool(to, { companyName: 'Toko Sehat' }, ['a', 'b'])
      senders.push(sent.sessionId)
      const code = await sim.latestCode(to, 1)
      assert.equal((await gateway.verifyOtp(to, code)).outcome, 'approved')
    }
    assert.deepEqual([...senders].sort(), ['a', 'b'])

    const to = freshPhone('62812')
    await sim.addNumber(to)
    const refused = await gateway.sendOtpPool(to, { companyName: 'Toko Sehat' }).catch((e) => e)
    assert.equal(refused.code, 'ACCOUNT_LIMITED', String(refused))
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 600_000, `retryAfterMs ${refused.retryAfterMs}`)

    const { health } = await gateway.sessionStatus('a')
    assert.equal(health.state, 'new_chats_limited')
    assert.equal(health.reason, 'capped')
    assert.equal(health.quota.remaining, 0)
    assert.ok(health.until instanceof Date)
    assert.ok(changes.some((e) => e.health && e.health.state === 'new_chats_limited'), 'a health-changed event')

    const unknown = await gateway.sendOtpPool(to, { companyName: 'Toko Sehat' }, ['nope']).catch((e) => e)
    assert.equal(unknown.code, 'SESSION_NOT_FOUND')
    const empty = await gateway.sendOtpPool(to, { companyName: 'Toko Sehat' }, []).catch((e) => e)
    assert.equal(empty.code, 'INVALID_ARGUMENT')
    const bad = await gateway.sendOtpPool(to, 42).catch((e) => e)
    assert.equal(bad.code, 'INVALID_ARGUMENT')

    // A text: a known contact still gets it from the number that sent their
    // code (a known contact once that code was delivered); a new chat is
    // refused up front.
    await waitFor(
      async () => ['delivered', 'read'].includes((await gateway.otpStatus(recipients[0])).delivery),
      LINK_MS,
      'the first code delivered',
    )
    const text = await gateway.sendTextPool(recipients[0], 'Pesanan Anda sudah dikirim')
    assert.equal(text.sessionId, senders[0])
    assert.equal((await sim.waitInbox(recipients[0], 2))[1].text, 'Pesanan Anda sudah dikirim')
    const limitedText = await gateway.sendTextPool(to, 'Halo', ['a', 'b']).catch((e) => e)
    assert.equal(limitedText.code, 'ACCOUNT_LIMITED', String(limitedText))
    assert.deepEqual(await sim.inbox(to), [])
  } finally {
    await gateway.close()
  }
})

test('a daily budget of new chats rejects with ACCOUNT_LIMITED', async () => {
  const gateway = await Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true, newChatsPerDay: 1 })
  try {
    await link(sim, gateway, 'budget')
    const [first, second] = [freshPhone('62812'), freshPhone('62812')]
    await sim.addNumber(first)
    await sim.addNumber(second)
    await gateway.sendOtp('budget', first, { companyName: 'Toko Sehat' })
    const refused = await gateway.sendOtp('budget', second, { companyName: 'Toko Sehat' }).catch((e) => e)
    assert.equal(refused.code, 'ACCOUNT_LIMITED', String(refused))
    assert.match(refused.message, /daily_budget/)
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 86_400_000)
  } finally {
    await gateway.close()
  }
})
