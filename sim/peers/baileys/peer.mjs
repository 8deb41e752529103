// Drives unmodified Baileys against a running waotp-sim: the simulator's
// control API, a linked Baileys session, and waits with deadlines.
//
// Nothing here patches Baileys: it only points `waWebSocketUrl` at the
// simulator (and, for history-sync downloads, the media host at its control
// API through Baileys' own axios `options`) and plays the user (scan the
// QR, send a text).

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'

import makeWASocket, { DisconnectReason, initAuthCreds } from '@whiskeysockets/baileys'
import pino from 'pino'

/** Baileys' message statuses (proto.WebMessageInfo.Status). */
export const Status = { SERVER_ACK: 2, DELIVERY_ACK: 3, READ: 4 }

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function within(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Polls `check` until it returns something truthy; fails after `ms`, naming
 * `what` (a string or a function giving one).
 */
export async function pollUntil(check, ms, what, everyMs = 25) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`)
    }
    // A bounded poll interval, not a wait for something to happen.
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** WhatsApp's media host: Baileys downloads `https://${MEDIA_HOST}${directPath}`. */
export const MEDIA_HOST = 'mmg.whatsapp.net'

/**
 * An axios `transport` (Baileys passes its `options` config to axios) that
 * sends requests for the media host to the simulator's control API at
 * `controlUrl` over plain loopback HTTP, path unchanged; other hosts go out
 * as they are. The simulator serves history-sync blobs at their
 * `directPath`, and a history-sync notification has no `url` field, so
 * Baileys always asks the media host.
 */
export function mediaTransport(controlUrl) {
  const sim = new URL(controlUrl)
  return {
    request(options, callback) {
      if (options.hostname !== MEDIA_HOST) {
        return (options.protocol === 'http:' ? http : https).request(options, callback)
      }
      // The https agent axios chose cannot carry plain HTTP.
      const { agent: _https, ...rest } = options
      return http.request(
        { ...rest, protocol: 'http:', hostname: sim.hostname, host: sim.hostname, port: sim.port },
        callback,
      )
    },
  }
}

/** The control API of a running simulator (`http://127.0.0.1:PORT`). */
export class SimControl {
  constructor(controlUrl, wsUrl) {
    this.control = controlUrl
    this.ws = wsUrl
  }

  async call(method, route, body) {
    const response = await fetch(this.control + route, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // POST /scan answers once the pairing is over.
      signal: AbortSignal.timeout(60_000),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text}`)
    return text ? JSON.parse(text) : {}
  }

  addNumber(phone, registered = true) {
    return this.call('POST', '/numbers', { phone, registered })
  }

  scan(qr, phone, name) {
    return this.call('POST', '/scan', { qr, phone, name })
  }

  async inbox(phone) {
    return (await this.call('GET', `/inbox/${phone}`)).messages
  }
}

// Simulator log directories this process made: removed when it exits
// cleanly, kept when a test failed, since failure messages name them.
const madeDirs = []
process.on('exit', (code) => {
  if (code !== 0) return
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true })
})

/**
 * The round trip to the server that the simulator plays (`--latency-ms`, the
 * wait between a handshake and the server's first stanza) for Baileys.
 *
 * Baileys 6.7.24 writes its handshake finish and only then starts deriving
 * its transport keys, with WebCrypto's asynchronous HKDF, without waiting
 * for it (`noise.finishInit()` in `validateConnection`). A frame that arrives
 * before the keys are in place is passed on undecrypted and dropped, so the
 * `<pair-device>` (no QR) or `<success>` (never opens) is lost. Real
 * WhatsApp is a network round trip away, which hides that window; the
 * simulator's 5 ms default did not when this Node process waited for a CPU
 * (with three busy loops on two cores, 2 of 16 runs of these tests lost
 * one). 200 ms is a long round trip to WhatsApp, and costs these tests about
 * a second in all.
 */
export const SERVER_LATENCY_MS = 200

/**
 * Starts the `waotp-sim` binary on free loopback ports, with
 * `SERVER_LATENCY_MS` unless `extraArgs` sets `--latency-ms`. Answers the
 * control client plus `stop()`; the simulator's stderr goes to a log file
 * whose path failures mention.
 */
export async function startSimulator(bin, extraArgs = []) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it with \`cargo build -p waotp-sim\``)
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waotp-sim-baileys-'))
  madeDirs.push(logDir)
  const logPath = path.join(logDir, 'sim.log')
  const log = fs.openSync(logPath, 'w')
  const latency = extraArgs.includes('--latency-ms') ? [] : ['--latency-ms', String(SERVER_LATENCY_MS)]
  const proc = spawn(bin, ['--listen', '127.0.0.1:0', '--control', '127.0.0.1:0', ...latency, ...extraArgs], {
    stdio: ['ignore', 'pipe', log],
  })
  const lines = readline.createInterface({ input: proc.stdout })
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  let first
  try {
    first = await within(
      Promise.race([
        new Promise((resolve) => lines.once('line', resolve)),
        exited.then((code) => {
          throw new Error(`waotp-sim exited (${code}) before printing its URLs; log: ${logPath}`)
        }),
      ]),
      30_000,
      `waotp-sim to print its URLs (log: ${logPath})`,
    )
  } catch (e) {
    proc.kill('SIGKILL')
    throw e
  }
  const urls = JSON.parse(first)
  const sim = new SimControl(urls.control, urls.ws)
  sim.logPath = logPath
  sim.stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    await exited
  }
  return sim
}

/**
 * An auth state held in memory: fresh credentials and a key store of plain
 * maps. Baileys updates `creds` in place on `creds.update`, so nothing is
 * written anywhere, and nothing outlives the process.
 */
export function memoryAuthState() {
  const creds = initAuthCreds()
  const data = new Map()
  const keys = {
    async get(type, ids) {
      const found = {}
      for (const id of ids) {
        const value = data.get(`${type}/${id}`)
        if (value !== undefined) found[id] = value
      }
      return found
    },
    async set(update) {
      for (const type of Object.keys(update)) {
        for (const [id, value] of Object.entries(update[type])) {
          if (value) data.set(`${type}/${id}`, value)
          else data.delete(`${type}/${id}`)
        }
      }
    },
  }
  return { creds, keys }
}

/**
 * One Baileys client with an in-memory auth state. Re-creates its
 * socket when the server asks for a restart (515 after pairing), as a
 * Baileys application does.
 */
export class BaileysSession {
  /**
   * `mediaUrl`: the simulator's control URL, to route media downloads
   * there (see `mediaTransport`). `syncHistory`: process history-sync
   * notifications (Baileys' `shouldSyncHistoryMessage`; off by default in
   * Baileys unless `syncFullHistory`), emitted as `history` events.
   * `verifyAppStateMacs`: check app-state patch and snapshot MACs (off by
   * default in Baileys). App-state contacts are emitted as `contacts`.
   */
  constructor(wsUrl, { logLevel = 'silent', mediaUrl, syncHistory = false, verifyAppStateMacs = false } = {}) {
    this.wsUrl = wsUrl
    this.mediaUrl = mediaUrl
    this.syncHistory = syncHistory
    this.verifyAppStateMacs = verifyAppStateMacs
    this.logger = pino({ level: logLevel })
    this.sock = null
    this.closed = false
    this.listeners = new Set()
  }

  /** Calls `fn(kind, payload, sock)` for every connection/message update. */
  onEvent(fn) {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  emit(kind, payload) {
    for (const fn of [...this.listeners]) fn(kind, payload, this.sock)
  }

  /** Resolves with the first event for which `pick(kind, payload)` answers something. */
  waitFor(pick, ms, what) {
    let off
    const found = new Promise((resolve, reject) => {
      off = this.onEvent((kind, payload) => {
        try {
          const value = pick(kind, payload)
          if (value !== undefined && value !== null && value !== false) resolve(value)
        } catch (e) {
          reject(e)
        }
      })
    })
    return within(found, ms, what).finally(() => off())
  }

  /**
   * Resolves once `condition()` holds: checked now and after every event.
   * `what` (a string or a function giving one) names it in the timeout error.
   */
  waitUntil(condition, ms, what) {
    if (condition()) return Promise.resolve()
    let off
    const met = new Promise((resolve) => {
      off = this.onEvent(() => {
        if (condition()) resolve()
      })
    })
    let timer
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const name = typeof what === 'function' ? what() : what
        reject(new Error(`timed out after ${ms} ms waiting for ${name}`))
      }, ms)
    })
    return Promise.race([met, timeout]).finally(() => {
      clearTimeout(timer)
      off()
    })
  }

  async start() {
    this.state = memoryAuthState()
    this.connect()
  }

  connect() {
    const sock = makeWASocket({
      waWebSocketUrl: this.wsUrl,
      auth: this.state,
      logger: this.logger,
      printQRInTerminal: false,
      markOnlineOnConnect: false,
      syncFullHistory: false,
      ...(this.mediaUrl ? { options: { proxy: false, transport: mediaTransport(this.mediaUrl) } } : {}),
      ...(this.syncHistory ? { shouldSyncHistoryMessage: () => true } : {}),
      ...(this.verifyAppStateMacs ? { appStateMacVerification: { patch: true, snapshot: true } } : {}),
    })
    this.sock = sock
    sock.ev.on('connection.update', (update) => {
      this.emit('connection', update)
      if (update.connection === 'close' && !this.closed) {
        const code = update.lastDisconnect?.error?.output?.statusCode
        if (code === DisconnectReason.restartRequired) {
          this.connect()
        } else {
          this.emit('closed', { code, error: update.lastDisconnect?.error })
        }
      }
    })
    sock.ev.on('messages.update', (updates) => {
      for (const u of updates) this.emit('message-update', u)
    })
    // Baileys buffers events while it processes a node and folds status
    // updates into a message upserted in the same buffer: the status of a
    // just-sent message may arrive here instead of as messages.update.
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) {
        if (m.key?.fromMe && m.status !== undefined && m.status !== null) {
          this.emit('message-update', { key: m.key, update: { status: m.status } })
        }
      }
    })
    // Messages from others (the simulator's idle-load backlog among them).
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) if (!m.key?.fromMe) this.emit('incoming', m)
    })
    // A processed history sync (chats, contacts, messages).
    sock.ev.on('messaging-history.set', (data) => this.emit('history', data))
    // Contacts (from app-state `contact` actions among others).
    sock.ev.on('contacts.upsert', (contacts) => this.emit('contacts', contacts))
    // Baileys emits no event for a positive server ack; its socket does.
    sock.ws.on('CB:ack,class:message', (node) => this.emit('server-ack', node.attrs))
    // The receipts as they came off the wire (Baileys may fold them).
    sock.ws.on('CB:receipt', (node) => this.emit('receipt', node.attrs))
  }

  async close() {
    this.closed = true
    this.listeners.clear()
    try {
      this.sock?.end(undefined)
    } catch {
      // already closed
    }
  }
}

/**
 * A promise that rejects when the session closes for good (any close other
 * than the 515 restart after pairing); race it against each step. It never
 * resolves and holds no timer.
 */
export function failOnClose(session) {
  const failed = new Promise((_, reject) => {
    session.onEvent((kind, payload) => {
      if (kind === 'closed') {
        reject(new Error(`Baileys connection closed: ${payload.code} ${payload.error?.message ?? ''}`))
      }
    })
  })
  // Observed by whoever races it; unobserved after the test is over.
  failed.catch(() => {})
  return failed
}
