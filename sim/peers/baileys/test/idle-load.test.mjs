// The simulator's idle load (`--idle-chats`): a login receives an offline
// backlog, Signal-encrypted to the companion's keys. Unmodified Baileys
// must decrypt every message of it. With `--idle-history` a new companion
// also gets the phone's history sync, whose blob Baileys downloads from the
// simulator and processes, and app-state contacts.

import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { BaileysSession, failOnClose, pollUntil, startSimulator } from '../peer.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const SIM_BIN = process.env.WAOTP_SIM || path.join(ROOT, 'target', 'debug', 'waotp-sim')

const CHATS = 3
const PER_CHAT = 4
const BYTES = 3000
const STEP_MS = 30_000
const IDLE_ARGS = [
  '--idle-chats', String(CHATS),
  '--idle-messages', String(PER_CHAT),
  '--idle-message-bytes', String(BYTES),
]

let sim
before(async () => {
  sim = await startSimulator(SIM_BIN, IDLE_ARGS)
})
after(async () => {
  await sim?.stop()
})

test('a Baileys login receives and decrypts the idle-load backlog', async (t) => {
  const session = new BaileysSession(sim.ws, { logLevel: process.env.BAILEYS_LOG || 'silent' })
  t.after(() => session.close())
  const broken = failOnClose(session)
  const guard = (p) => Promise.race([p, broken])

  const texts = new Map() // sender jid -> texts in arrival order
  session.onEvent((kind, m) => {
    if (kind !== 'incoming') return
    const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text
    if (text) texts.set(m.key.remoteJid, [...(texts.get(m.key.remoteJid) ?? []), text])
  })
  const count = () => [...texts.values()].reduce((n, list) => n + list.length, 0)

  const qr = session.waitFor((kind, u) => kind === 'connection' && u.qr, STEP_MS, 'a QR code from Baileys')
  await session.start()
  await guard(sim.scan(await guard(qr), '6281111111112', 'Idle Phone'))
  // Baileys 6.7.24 decrypts offline messages after it went online, inside
  // an event buffer that only the next online stanza flushes
  // (`createBufferedFunction` leaves flushing to its sync state machine).
  // Nothing else arrives here, so the test flushes through the public API.
  await guard(
    pollUntil(
      () => {
        session.sock.ev.flush()
        return count() >= CHATS * PER_CHAT
      },
      STEP_MS,
      `${CHATS * PER_CHAT} backlog messages (sim log: ${sim.logPath})`,
    ),
  )
  // The simulator counts the backlog messages the client acknowledged
  // (its <receipt>s and <ack>s): every one, once.
  const device = await guard(
    pollUntil(
      async () => {
        const devices = (await sim.call('GET', '/devices')).devices.filter((d) => d.phone === '6281111111112')
        const sent = devices.reduce((n, d) => n + d.idle_load_sent, 0)
        const acked = devices.reduce((n, d) => n + d.idle_load_acked, 0)
        return sent >= CHATS * PER_CHAT && acked === sent && { sent, acked }
      },
      STEP_MS,
      `the simulator to count the backlog acknowledged (sim log: ${sim.logPath})`,
    ),
  )
  assert.ok(device.sent >= CHATS * PER_CHAT, JSON.stringify(device))
  assert.equal(texts.size, CHATS)
  for (const [sender, list] of texts) {
    assert.equal(list.length, PER_CHAT, `${sender}: ${list.length} messages`)
    for (const [n, text] of list.entries()) {
      assert.equal(text.length, BYTES)
      assert.ok(text.startsWith('chat '), text.slice(0, 20))
      assert.ok(text.includes(`message ${n}:`), `${sender} #${n} out of order: ${text.slice(0, 30)}`)
    }
  }
})

test('a Baileys login downloads and processes the history sync and app-state contacts', async (t) => {
  const hsim = await startSimulator(SIM_BIN, [...IDLE_ARGS, '--idle-history'])
  t.after(() => hsim.stop())
  const phone = '6281111111113'
  const session = new BaileysSession(hsim.ws, {
    logLevel: process.env.BAILEYS_LOG || 'silent',
    mediaUrl: hsim.control,
    syncHistory: true,
    verifyAppStateMacs: true,
  })
  t.after(() => session.close())
  const broken = failOnClose(session)
  const guard = (p) => Promise.race([p, broken])

  const histories = []
  // jid -> name from the app-state contact actions (" Contact" suffix).
  // Baileys' event buffer folds a contacts.upsert that lands in the same
  // buffer as a messaging-history.set into the history's contacts, so
  // both events are looked at.
  const contacts = new Map()
  const noteContacts = (list) => {
    for (const c of list ?? []) if (c.name?.endsWith(' Contact')) contacts.set(c.id, c.name)
  }
  session.onEvent((kind, data) => {
    if (kind === 'history') {
      histories.push(data)
      noteContacts(data.contacts)
    }
    if (kind === 'contacts') noteContacts(data)
  })
  const qr = session.waitFor((kind, u) => kind === 'connection' && u.qr, STEP_MS, 'a QR code from Baileys')
  await session.start()
  await guard(hsim.scan(await guard(qr), phone, 'History Phone'))
  // Flushing as in the backlog test: the event may sit in Baileys' buffer.
  await guard(
    pollUntil(
      () => {
        session.sock.ev.flush()
        return histories.length > 0 && contacts.size >= CHATS
      },
      STEP_MS,
      () => `messaging-history.set (${histories.length}) and ${CHATS} app-state contacts (${contacts.size}) (sim log: ${hsim.logPath})`,
    ),
  )
  const history = histories[0]
  assert.equal(history.syncType, 0, 'INITIAL_BOOTSTRAP')
  assert.equal(history.chats.length, CHATS)
  assert.equal(history.messages.length, CHATS * PER_CHAT)
  for (const m of history.messages) {
    const text = m.message?.conversation
    assert.equal(text?.length, BYTES, JSON.stringify(m.key))
    assert.ok(text.startsWith('chat '), text.slice(0, 20))
  }
  assert.ok(history.contacts.length >= CHATS, JSON.stringify(history.contacts))
  assert.deepEqual(
    [...contacts.keys()].sort(),
    history.chats.map((c) => c.id).sort(),
    'an app-state contact for every history chat',
  )
  // The simulator saw the client take the notification up (its hist_sync
  // receipt) and download the blob from the control API.
  const device = await guard(
    pollUntil(
      async () => {
        const devices = (await hsim.call('GET', '/devices')).devices.filter((d) => d.phone === phone)
        const d = devices.find((d) => d.history_sync_receipts === 1)
        return d
      },
      STEP_MS,
      `the simulator to count the hist_sync receipt (sim log: ${hsim.logPath})`,
    ),
  )
  assert.equal(device.history_syncs_sent, 1, JSON.stringify(device))
  assert.ok(device.history_blob_downloads >= 1, JSON.stringify(device))
})
