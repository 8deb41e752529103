// What a verifyOtp Promise from Node costs over the same call in Rust, and
// how many concurrent verifyOtp Promises one Node process gets through.
//
//     node bindings/node/benches/verify_overhead.js [--rust]
//
// Run it with a release build of the addon (`npm run build` in
// bindings/node). It opens a gateway on the memory store with limits off and
// no session (nothing connects), then times `verifyOtp` for a recipient
// without a code (the `not_found` path, the one the Rust bench times):
//  - one at a time: each call awaited before the next (the per-call cost:
//    argument conversion, one poll of the work on the JS thread, an already
//    settled Promise, the await), best of 5 rounds;
//  - concurrent: 256 Promises in flight.
// With --rust it first runs `cargo bench -p waotp-ffi --bench
// verify_overhead` (the core called from Rust, same path) and prints the
// difference per call.
'use strict'

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Gateway, buildInfo } = require('..')

const ROOT = path.resolve(__dirname, '..', '..', '..')
const CALLS = 50_000
const ROUNDS = 5
const CONCURRENT_CALLS = 200_000
const IN_FLIGHT = 256
const TO = '6281234567890'

function rustNsPerCall() {
  const out = execFileSync('cargo', ['bench', '-q', '-p', 'waotp-ffi', '--bench', 'verify_overhead'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  const found = /rust verify_otp: \d+ calls, ([\d.]+) ns\/call/.exec(out)
  return found ? Number(found[1]) : null
}

async function sequentialNsPerCall(gateway) {
  let best = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) {
      await gateway.verifyOtp(TO, '123456')
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / CALLS)
  }
  return best
}

async function concurrentPerSecond(gateway) {
  let started = 0
  const start = process.hrtime.bigint()
  async function lane() {
    while (started < CONCURRENT_CALLS) {
      started += 1
      await gateway.verifyOtp(TO, '123456')
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  return CONCURRENT_CALLS / secs
}

async function main() {
  if (buildInfo().sandbox) console.log('note: a sandbox build; `npm run build` makes the release one')
  const rust = process.argv.includes('--rust') ? rustNsPerCall() : null
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waotp-bench-'))
  const gateway = await Gateway.open({ dataDir, memoryStore: true, noLimits: true })
  try {
    const first = await gateway.verifyOtp(TO, '123456')
    if (first.outcome !== 'not_found') throw new Error(`unexpected ${first.outcome}`)
    const node = await sequentialNsPerCall(gateway)
    const perSecond = await concurrentPerSecond(gateway)
    if (rust !== null) console.log(`rust verify_otp: ${rust.toFixed(0)} ns/call`)
    console.log(`node verifyOtp, one at a time: ${node.toFixed(0)} ns/call (best of ${ROUNDS} x ${CALLS})`)
    if (rust !== null) console.log(`added by node: ${(node - rust).toFixed(0)} ns/call`)
    console.log(`node verifyOtp, ${IN_FLIGHT} in flight: ${perSecond.toFixed(0)} calls/s`)
  } finally {
    await gateway.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
