// Unmodified Baileys against waotp-sim: QR linking through the control
// API's scan, a text to a registered number, its inbox entry, and the
// delivered and read receipts Baileys reports.
//
//   WAOTP_SIM=target/debug/waotp-sim node --test sim/peers/baileys/test/

import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { BaileysSession, Status, failOnClose, pollUntil, startSimulator } from '../peer.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const SIM_BIN = process.env.WAOTP_SIM || path.join(ROOT, 'target', 'debug', 'waotp-sim')

const ACCOUNT = '6281111111111'
const RECIPIENT = '6281234567890'
const STEP_MS = 30_000

let sim
before(async () => {
  sim = await startSimulator(SIM_BIN)
})
after(async () => {
  await sim?.stop()
})

test('Baileys links by QR, sends a text, and sees it delivered and read', async (t) => {
  await sim.addNumber(RECIPIENT, true)
  const session = new BaileysSession(sim.ws, { logLevel: process.env.BAILEYS_LOG || 'silent' })
  t.after(() => session.close())
  // Any close other than the pairing restart fails the test at once.
  const broken = failOnClose(session)
  const guard = (p) => Promise.race([p, broken])

  const qr = session.waitFor((kind, u) => kind === 'connection' && u.qr, STEP_MS, 'a QR code from Baileys')
  const open = session.waitFor(
    (kind, u) => kind === 'connection' && u.connection === 'open',
    STEP_MS,
    "Baileys' connection: 'open'",
  )
  await session.start()
  const code = await guard(qr)
  assert.equal(code.split(',').length, 4, `QR has ref,noise,identity,adv: ${code}`)
  await guard(sim.scan(code, ACCOUNT, 'Baileys Phone'))
  await guard(open)
  assert.match(session.sock.user.id, new RegExp(`^${ACCOUNT}:\\d+@s\\.whatsapp\\.net$`))

  const text = `baileys says hi ${Date.now()}`
  // Per message id: the statuses Baileys reports, and the receipt types
  // that reached its socket, in arrival order.
  const statuses = new Map()
  const receipts = new Map()
  const push = (map, id, value) => map.set(id, [...(map.get(id) ?? []), value])
  session.onEvent((kind, u) => {
    if (kind === 'message-update' && u.update?.status !== undefined) push(statuses, u.key.id, u.update.status)
    if (kind === 'receipt') push(receipts, u.id, u.type ?? 'delivered')
  })
  const sent = await guard(session.sock.sendMessage(`${RECIPIENT}@s.whatsapp.net`, { text }))
  const id = sent.key.id

  const inbox = await guard(
    pollUntil(
      async () => (await sim.inbox(RECIPIENT)).find((m) => m.id === id),
      STEP_MS,
      `message ${id} in the inbox of ${RECIPIENT} (sim log: ${sim.logPath})`,
    ),
  )
  assert.equal(inbox.text, text)
  assert.equal(inbox.from, ACCOUNT)
  await guard(
    session.waitUntil(
      () => (statuses.get(id) ?? []).includes(Status.READ),
      STEP_MS,
      () =>
        `Baileys to report ${id} read (statuses: ${JSON.stringify(statuses.get(id) ?? [])}, ` +
        `receipts: ${JSON.stringify(receipts.get(id) ?? [])})`,
    ),
  )
  // Delivered, then read, from the recipient; Baileys may fold the two
  // into one status when they land in the same event buffer.
  assert.deepEqual(receipts.get(id), ['delivered', 'read'])
})
