'use strict'
// Every error reaches JavaScript as an Error whose `code` is the core's
// stable code; bad arguments reject (never throw, never crash the process).

const { test } = require('node:test')
const assert = require('node:assert/strict')

const waotp = require('..')
const { Gateway } = waotp
const { useSimulator, freshPhone, tempDir, link } = require('./sim')

const sim = useSimulator()

const reached = new Set()
/** Awaits a rejection with `code` and notes that the code was reached. */
async function rejects(promise, code) {
  assert.ok(promise instanceof Promise, 'a Promise, not a synchronous throw')
  const error = await promise.then(
    (value) => assert.fail(`expected ${code}, got ${JSON.stringify(value)}`),
    (e) => e,
  )
  assert.ok(error instanceof Error, `an Error: ${error}`)
  assert.equal(error.code, code, error.message)
  assert.ok(error.message.length > 0)
  reached.add(code)
  return error
}

function open(options = {}) {
  return Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true, ...options })
}

test('errors of sessions', async () => {
  const gateway = await open()
  await rejects(gateway.sessionStatus('nope'), 'SESSION_NOT_FOUND')
  await rejects(gateway.createSession('../x'), 'INVALID_SESSION_ID')
  await gateway.createSession('idle')
  await rejects(gateway.sendText('idle', '6281234567890', 'hi'), 'NOT_CONNECTED')
  await rejects(gateway.waitConnected('idle', 200), 'TIMEOUT')
  await rejects(gateway.messageStatus('3EB0000000'), 'MESSAGE_NOT_FOUND')
  await rejects(gateway.waitQr('idle', -1), 'INVALID_ARGUMENT')
  await link(sim, gateway, 'shop')
  await rejects(gateway.qr('shop'), 'ALREADY_CONNECTED')
  await gateway.logout('shop')
  await rejects(gateway.sendText('shop', '6281234567890', 'hi'), 'LOGGED_OUT')
  await gateway.close()
  await rejects(gateway.verifyOtp('6281234567890', '123456'), 'CLOSED')
  await rejects(Gateway.open({ dataDir: tempDir(), endpoint: 'ws://10.1.2.3/ws' }), 'ENDPOINT_NOT_ALLOWED')
})

test('errors of OTPs, with retryAfterMs and attempts', async () => {
  // Default limits: a resend within the cooldown is refused.
  const gateway = await open({ noLimits: false })
  try {
    await link(sim, gateway, 'shop')
    const to = freshPhone('62812')
    await sim.addNumber(to)
    await rejects(gateway.sendOtp('shop', 'not a phone', { companyName: 'Toko' }), 'INVALID_PHONE')
    await rejects(gateway.sendOtp('shop', to, { companyName: 'Toko', length: 99 }), 'INVALID_ARGUMENT')
    await rejects(gateway.sendOtp('shop', to, { companyName: 'Toko', template: 'no code' }), 'INVALID_ARGUMENT')
    await rejects(gateway.sendOtp('shop', to, { companyName: 'Toko', locale: 'xx' }), 'INVALID_ARGUMENT')
    await rejects(gateway.generateOtp(99), 'INVALID_ARGUMENT')
    const stranger = freshPhone('62819')
    await sim.addNumber(stranger, false)
    await rejects(gateway.sendOtp('shop', stranger, { companyName: 'Toko' }), 'NOT_ON_WHATSAPP')
    await gateway.sendOtp('shop', to, { companyName: 'Toko' })
    const limited = await rejects(gateway.sendOtp('shop', to, { companyName: 'Toko' }), 'RATE_LIMITED')
    assert.ok(limited.retryAfterMs > 0 && limited.retryAfterMs <= 60_000, `retryAfterMs ${limited.retryAfterMs}`)
    await rejects(gateway.otpStatus(freshPhone('62818')), 'OTP_NOT_FOUND')
    await rejects(gateway.sendOtp('ghost', to, { companyName: 'Toko' }), 'SESSION_NOT_FOUND')
    assert.throws(() => gateway.normalizePhone('not a phone'), { code: 'INVALID_PHONE' })
    assert.throws(() => gateway.advanceClock(1000), { code: 'INVALID_ARGUMENT' })
  } finally {
    await gateway.close()
  }
})

test('bad options reject before anything opens', async () => {
  const bad = [
    { otpLength: 99 },
    { otpTtlSecs: -5 },
    { otpTtlSecs: NaN },
    { otpMaxAttempts: 0 },
    { otpLocale: 'klingon' },
    { redisUrl: 'http://not-redis' },
    { otpSecret: Buffer.from('short') },
    { limits: { resendCooldownSecs: -1 } },
    { limits: { sendsPerRecipient: true } },
    { sendRetry: { maxAttempts: 0 } },
    { memoryBounds: { queuedDeliveryReports: 0 } },
    { memoryBounds: { trackedMessageAgeSecs: -1 } },
    { redisUrl: 'redis://127.0.0.1:1/0' }, // no otpSecret
    { sessionStoreKey: Buffer.from('short') },
    { whatsappVersion: [2, 3] },
    { defaultCountryCode: 99999 },
    { otpSecret: 'not bytes' },
    { dataDir: 42 },
  ]
  for (const options of bad) {
    await rejects(open(options), 'INVALID_ARGUMENT')
  }
  await rejects(Gateway.open('not an object'), 'INVALID_ARGUMENT')
  // The development flag lets a Redis gateway open without a secret: it
  // gets as far as connecting (nothing listens on port 1).
  await assert.rejects(open({ redisUrl: 'redis://127.0.0.1:1/0', otpSecretInRedis: true }), (e) => {
    assert.notStrictEqual(e.code, 'INVALID_ARGUMENT', e.message)
    return true
  })
  // The test build has SQLCipher: a keyed gateway opens.
  const bounded = await open({
    memoryBounds: { trackedMessages: 1000, onWhatsappEntries: 10 },
    sessionStoreKey: Buffer.alloc(32, 7),
  })
  await bounded.close()
  await rejects(open({ dataDir: '/dev/null/waotp' }), 'IO_ERROR')
})

test('wrong types and hostile strings reject; the gateway stays well', async () => {
  const gateway = await open()
  try {
    await link(sim, gateway, 'shop')
    const wrong = [
      () => gateway.verifyOtp(6281234567890, '123456'),
      () => gateway.verifyOtp('6281234567890', undefined),
      () => gateway.sendOtp('shop', Buffer.from('628'), { companyName: 'Toko' }),
      () => gateway.sendOtp('shop', '628'),
      () => gateway.sendOtp('shop', '628', { companyName: 'Toko', length: '6' }),
      () => gateway.sessionStatus(['shop']),
      () => gateway.waitConnected('shop', 'soon'),
      () => gateway.sendText(),
    ]
    for (const call of wrong) {
      await rejects(call(), 'INVALID_ARGUMENT')
    }
    for (const text of ['', ' ', '\0', '6281\u0000234', '😀'.repeat(100), '9'.repeat(10_000), '\u202e628']) {
      const e = await gateway.sendOtp('shop', text, { companyName: 'Toko' }).catch((e) => e)
      assert.ok(['INVALID_PHONE', 'INVALID_ARGUMENT'].includes(e.code), `${JSON.stringify(text)}: ${e.code}`)
      const answer = await gateway.verifyOtp('6281234567890', text)
      assert.ok(['not_found', 'invalid'].includes(answer.outcome))
    }
    for (const id of ['', 'a'.repeat(65), '../../etc/passwd', 'shop\0', 'é']) {
      const e = await gateway.sessionStatus(id).catch((e) => e)
      assert.ok(['INVALID_SESSION_ID', 'SESSION_NOT_FOUND'].includes(e.code), `${JSON.stringify(id)}: ${e.code}`)
    }
    assert.equal((await gateway.sessionStatus('shop')).isConnected, true)
  } finally {
    await gateway.close()
  }
})

test('the codes reached are stable codes of the core', () => {
  const codes = new Set(waotp.errorCodes())
  for (const code of reached) assert.ok(codes.has(code), code)
  assert.ok(reached.size >= 15, `${reached.size} codes reached: ${[...reached]}`)
})
