'use strict'
// Linking an account that WhatsApp gates with a passkey (issue 22): after the
// scan the session waits in `passkey_required` with WhatsApp's options and a
// console snippet; the assertion handed to `submitPasskeyAssertion` completes
// the link. The simulator's phone signs with the account's passkey (POST
// /passkey/assert), as the snippet would in a browser. Refusals: malformed
// JSON, a corrupt signature, an expired challenge, a session that is not
// waiting for a passkey.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir, nextEvent, LINK_MS } = require('./sim')

const sim = useSimulator()

function open() {
  return Gateway.open({ dataDir: tempDir(), endpoint: sim.ws, noLimits: true })
}

/** Creates `sessionId` and has a gated account scan its QR code. Answers the
 * account's number, the `passkey-required` event and the scan's own answer
 * (a Promise: the simulator may answer the scan only once the link is over). */
async function scanGated(gateway, sessionId) {
  const phone = freshPhone('62813')
  await sim.addGatedNumber(phone)
  await gateway.createSession(sessionId)
  const qr = await gateway.waitQr(sessionId, LINK_MS)
  const required = nextEvent(gateway, 'passkey-required', sessionId)
  // Settled later (or never, when the test fails first); its failure must
  // not go unhandled meanwhile.
  const scanned = sim.scan(qr.raw, phone)
  scanned.catch(() => {})
  return { phone, event: await required, scanned, qr }
}

test('a gated account links once the passkey assertion is submitted, and sends', async () => {
  const gateway = await open()
  try {
    const confirmation = nextEvent(gateway, 'passkey-confirmation', 'gated')
    confirmation.catch(() => {})
    const { phone, event, scanned } = await scanGated(gateway, 'gated')

    assert.equal(event.type, 'passkey-required')
    const options = JSON.parse(event.optionsJson)
    assert.equal(typeof options.challenge, 'string', `a challenge in ${event.optionsJson}`)
    assert.ok(event.snippet.includes('navigator.credentials.get'), 'the snippet asks the browser for the passkey')
    assert.ok(event.expiresAt instanceof Date && event.expiresAt > new Date(), 'the challenge is still valid')

    const status = await gateway.sessionStatus('gated')
    assert.equal(status.state, 'passkey_required')
    assert.equal(status.isConnected, false)
    assert.equal(status.passkey.optionsJson, event.optionsJson)
    assert.equal(status.passkey.snippet, event.snippet)
    assert.equal(status.passkey.expiresAt.getTime(), event.expiresAt.getTime())

    const assertion = await sim.passkeyAssert(phone)
    assert.equal(assertion.type, 'public-key')
    await gateway.submitPasskeyAssertion('gated', JSON.stringify(assertion))
    const connected = await gateway.waitConnected('gated', LINK_MS)
    assert.equal(connected.state, 'connected')
    assert.equal(connected.user.phone, phone)
    assert.equal(connected.passkey, undefined, 'no challenge once connected')
    await scanned
    // The same well-formed assertion, now that nothing waits for one.
    await assert.rejects(gateway.submitPasskeyAssertion('gated', JSON.stringify(assertion)), {
      code: 'INVALID_ARGUMENT',
    })

    const shown = await confirmation
    assert.match(shown.code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/)
    assert.equal(shown.code, (await sim.passkey(phone)).code, 'the code the phone showed')

    const to = freshPhone('62812')
    await sim.addNumber(to)
    await gateway.sendText('gated', to, 'Halo dari akun berpasskey')
    assert.equal((await sim.waitInbox(to, 1))[0].text, 'Halo dari akun berpasskey')
  } finally {
    await gateway.close()
  }
})

test('malformed assertions reject with INVALID_ARGUMENT; the challenge stays', async () => {
  const gateway = await open()
  try {
    await scanGated(gateway, 'gated')
    for (const bad of ['', 'not json', '{"id":', '[]', '42', '{}', JSON.stringify({ type: 'public-key' })]) {
      await assert.rejects(
        gateway.submitPasskeyAssertion('gated', bad),
        { code: 'INVALID_ARGUMENT' },
        JSON.stringify(bad),
      )
    }
    for (const wrong of [42, undefined, { id: 'x' }]) {
      await assert.rejects(gateway.submitPasskeyAssertion('gated', wrong), { code: 'INVALID_ARGUMENT' })
    }
    await assert.rejects(gateway.submitPasskeyAssertion('missing', '{}'), { code: 'SESSION_NOT_FOUND' })
    assert.equal((await gateway.sessionStatus('gated')).state, 'passkey_required')
  } finally {
    await gateway.close()
  }
})

test('a corrupt signature rejects with PASSKEY_REJECTED; linking starts again', async () => {
  const gateway = await open()
  try {
    const { phone } = await scanGated(gateway, 'gated')
    const failed = nextEvent(gateway, 'passkey-failed', 'gated')
    failed.catch(() => {})
    const qr = nextEvent(gateway, 'qr', 'gated')
    qr.catch(() => {})

    const assertion = await sim.passkeyAssert(phone, { corruptSignature: true })
    await assert.rejects(
      gateway.submitPasskeyAssertion('gated', JSON.stringify(assertion)),
      (e) => e instanceof Error && e.code === 'PASSKEY_REJECTED',
    )
    const event = await failed
    assert.equal(event.code, 'PASSKEY_REJECTED')
    assert.equal(typeof event.reason, 'string')
    assert.ok((await qr).qr, 'a fresh QR code after the refusal')
    const status = await gateway.sessionStatus('gated')
    assert.notEqual(status.state, 'passkey_required')
    assert.equal(status.passkey, undefined)
  } finally {
    await gateway.close()
  }
})

test('an expired challenge rejects with PASSKEY_EXPIRED', async () => {
  const gateway = await open()
  try {
    const { phone } = await scanGated(gateway, 'gated')
    const assertion = await sim.passkeyAssert(phone)
    await sim.expirePasskey(phone)
    await assert.rejects(gateway.submitPasskeyAssertion('gated', JSON.stringify(assertion)), {
      code: 'PASSKEY_EXPIRED',
    })
  } finally {
    await gateway.close()
  }
})
