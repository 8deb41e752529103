// The Baileys side of the waotp-against-Baileys benchmark
// (core/benches/vs_baileys.rs, driven by ./run): N unmodified Baileys
// sockets in this one Node process against a running waotp-sim, measured
// the same way as the waotp side. Prints one JSON line on stdout; progress
// goes to stderr.
//
//   node bench/baileys.mjs --sessions N --ws WS --control URL \
//     [--batch 10] [--window 60] [--warm-sends 3] [--backlog 0]
//
// 1. link one socket (create → QR → POST /scan → connection 'open'), let it
//    settle, read VmRSS from /proc/self/status;
// 2. link the other N − 1, --batch at a time;
// 3. settle: every socket open, every idle-load backlog message acknowledged
//    and the history sync answered with a hist_sync receipt (GET /devices,
//    idle_load_acked, history_sync_receipts), then VmRSS until it moves
//    < 256 KiB;
// 4. utime + stime from /proc/self/stat over --window seconds of idling;
// 5. per socket one text to a fresh registered number, then --warm-sends
//    more, each timed from sendMessage() to the server's
//    <ack class="message"> for its id as it comes off the socket.
//
// Baileys 6.7.24 decrypts an offline backlog inside an event buffer that
// only its next online stanza flushes; nothing else arrives here, so the
// settle loop flushes it through the public `sock.ev.flush()` (as an
// application's next event would), so the decrypted messages reach the
// application (which drops them) instead of waiting in the buffer.
//
// Sockets run with Baileys' defaults, as a gateway would: the history sync
// is acknowledged but not downloaded (`shouldSyncHistoryMessage` is off
// unless `syncFullHistory`). Media requests are routed to the simulator
// anyway, so a changed default could never reach the internet.

import fs from 'node:fs'
import { parseArgs } from 'node:util'

import { BaileysSession, SimControl, failOnClose } from '../peer.mjs'

const STEP_MS = 60_000
// Linux reports /proc/PID/stat times in USER_HZ, which is 100.
const TICKS_PER_SEC = 100
// The text every send carries (both clients), as long as an OTP message.
const TEXT = 'Your verification code is 482913. It expires in 5 minutes. Do not share it.'

const { values: opts } = parseArgs({
  options: {
    sessions: { type: 'string' },
    ws: { type: 'string' },
    control: { type: 'string' },
    batch: { type: 'string', default: '10' },
    window: { type: 'string', default: '60' },
    'warm-sends': { type: 'string', default: '3' },
    backlog: { type: 'string', default: '0' },
  },
})
const N = Number(opts.sessions)
const BATCH = Math.max(1, Number(opts.batch))
const WINDOW_S = Number(opts.window)
const WARM = Number(opts['warm-sends'])
const BACKLOG = Number(opts.backlog)
if (!(N >= 1) || !opts.ws || !opts.control) {
  console.error('usage: baileys.mjs --sessions N --ws WS --control URL [--batch B] [--window S] [--warm-sends K] [--backlog M]')
  process.exit(2)
}

const sim = new SimControl(opts.control, opts.ws)
const account = (i) => `628120${String(i).padStart(7, '0')}`
const recipient = (i) => `628220${String(i).padStart(7, '0')}`
const now = () => performance.now()
const log = (...a) => console.error('[baileys]', ...a)

let unhandled = 0
process.on('unhandledRejection', (e) => {
  unhandled += 1
  log('unhandled rejection:', e?.message ?? e)
})

function rssKib() {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(line.split(/\s+/)[1])
}

function cpuTicks() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12])
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Links socket `i`: { session, firstQrMs, scanToOpenMs }. */
async function link(i) {
  const session = new BaileysSession(sim.ws, { mediaUrl: sim.control })
  session.onEvent((kind, u) => {
    if (kind !== 'connection') return
    if (u.connection === 'open') session.isOpen = true
    if (u.connection === 'close') session.isOpen = false
  })
  const broken = failOnClose(session)
  const guard = (p) => Promise.race([p, broken])
  const started = now()
  const qr = session.waitFor((kind, u) => (kind === 'connection' && u.qr ? { qr: u.qr, at: now() } : undefined), STEP_MS, `QR of socket ${i}`)
  await session.start()
  const first = await guard(qr)
  const open = session.waitFor((kind, u) => (kind === 'connection' && u.connection === 'open' ? now() : undefined), STEP_MS, `socket ${i} open`)
  const scanned = now()
  const [, openedAt] = await guard(Promise.all([sim.scan(first.qr, account(i), 'Bench'), open]))
  return { session, firstQrMs: first.at - started, scanToOpenMs: openedAt - scanned }
}

/** Every socket open and, with a backlog, every backlog message acknowledged; then VmRSS settled. */
async function settle(sessions) {
  const deadline = Date.now() + 180_000
  const phones = new Set(sessions.map((_, i) => account(i)))
  for (;;) {
    for (const s of sessions) s.sock.ev.flush()
    const away = sessions.filter((s) => !s.isOpen).length
    let unacked = 0
    if (BACKLOG > 0) {
      const perPhone = new Map()
      for (const d of (await sim.call('GET', '/devices')).devices) {
        if (!phones.has(d.phone)) continue
        const [sent, acked, histories, receipts] = perPhone.get(d.phone) ?? [0, 0, 0, 0]
        perPhone.set(d.phone, [
          sent + d.idle_load_sent,
          acked + d.idle_load_acked,
          histories + d.history_syncs_sent,
          receipts + d.history_sync_receipts,
        ])
      }
      for (const p of phones) {
        const [sent, acked, histories, receipts] = perPhone.get(p) ?? [0, 0, 0, 0]
        if (sent < BACKLOG || acked < sent || histories === 0 || receipts < histories) unacked += 1
      }
    }
    if (away === 0 && unacked === 0) break
    if (Date.now() > deadline) throw new Error(`not settled after 180 s: ${away} sockets not open, ${unacked} with backlog or history sync unacknowledged`)
    // A bounded poll of the simulator's counters, not a wait for time to pass.
    await pause(200)
  }
  for (const s of sessions) s.sock.ev.flush()
  const started = Date.now()
  let last = rssKib()
  for (;;) {
    await pause(500)
    const current = rssKib()
    const still = Math.abs(current - last) < 256
    last = current
    if (still || Date.now() - started > 20_000) return last
  }
}

const sessions = []
const firstQr = []
const scanToOpen = []
const add = (r) => {
  sessions.push(r.session)
  firstQr.push(r.firstQrMs)
  scanToOpen.push(r.scanToOpenMs)
}

add(await link(0))
const rssOne = await settle(sessions)
log(`1 socket linked and settled: ${rssOne} KiB`)
for (let i = 1; i < N; i += BATCH) {
  const batch = []
  for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(link(j))
  for (const r of await Promise.all(batch)) add(r)
  if (N > 20) log(`${sessions.length}/${N} linked`)
}
const rssAll = await settle(sessions)
const heapUsedKib = Math.round(process.memoryUsage().heapUsed / 1024)
log(`${N} sockets linked and settled: ${rssAll} KiB`)

// Progress lines name the window, so a profiler can be attached to it.
log(`idle window of ${WINDOW_S} s starts (pid ${process.pid})`)
const cpuBefore = cpuTicks()
await pause(WINDOW_S * 1000)
const idleCpuMs = ((cpuTicks() - cpuBefore) / TICKS_PER_SEC) * 1000
const rssAfterIdle = rssKib()
log(`idle window over: ${idleCpuMs} ms CPU`)

for (let i = 0; i < N; i++) await sim.addNumber(recipient(i), true)
const sendFirst = []
const sendWarm = []
const callFirst = []
const callWarm = []
for (const [i, session] of sessions.entries()) {
  const acks = new Map()
  const off = session.onEvent((kind, attrs) => {
    if (kind === 'server-ack' && !acks.has(attrs.id)) acks.set(attrs.id, now())
  })
  for (let k = 0; k <= WARM; k++) {
    const started = now()
    const sent = await session.sock.sendMessage(`${recipient(i)}@s.whatsapp.net`, { text: TEXT })
    const returned = now() - started
    const id = sent.key.id
    await session.waitUntil(() => acks.has(id), STEP_MS, `the server ack of ${id}`)
    const acked = acks.get(id) - started
    ;(k === 0 ? sendFirst : sendWarm).push(acked)
    ;(k === 0 ? callFirst : callWarm).push(returned)
  }
  off()
}

for (const s of sessions) await s.close()
process.stdout.write(
  JSON.stringify({
    client: 'baileys',
    sessions: N,
    rss_one_kib: rssOne,
    rss_all_kib: rssAll,
    rss_after_idle_kib: rssAfterIdle,
    heap_used_kib: heapUsedKib,
    first_qr_ms: firstQr,
    scan_to_open_ms: scanToOpen,
    idle_cpu_ms: idleCpuMs,
    idle_window_s: WINDOW_S,
    send_first_ms: sendFirst,
    send_warm_ms: sendWarm,
    send_call_first_ms: callFirst,
    send_call_warm_ms: callWarm,
    unhandled_rejections: unhandled,
  }) + '\n',
  () => process.exit(0),
)
