'use strict'
// How a Node process that used waotp ends: each script in exit_scripts/
// runs as a child process RUNS times and must exit with status 0, print its
// last line and write nothing to stderr (no `FATAL ERROR`, no crash).
// Only a child process shows a crash at exit, and only some runs: hence
// many runs of each case, several at a time.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const { useSimulator } = require('./sim')

const sim = useSimulator()

const RUNS = Number(process.env.WAOTP_EXIT_RUNS || 20)
const AT_ONCE = 4 // children side by side (2 cores; most of a run is waiting)
const RUN_MS = 120_000 // one child, start to exit

// Each script and the line it prints last.
const CASES = {
  pending_promise: 'pending ok',
  listeners_no_close: 'listeners ok',
  after_close: /^after close ok \((CLOSED|NOT_CONNECTED|TIMEOUT)\)$/,
}

function runOnce(script) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, SIM_WS: sim.ws, WAOTP_LOG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => {
      err += `\n(killed after ${RUN_MS} ms)`
      child.kill('SIGKILL')
    }, RUN_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, err })
    })
  })
}

async function runMany(script, runs) {
  const results = []
  let next = 0
  async function worker() {
    while (next < runs) {
      next += 1
      results.push(await runOnce(script))
    }
  }
  await Promise.all(Array.from({ length: AT_ONCE }, worker))
  return results
}

for (const [name, last] of Object.entries(CASES)) {
  test(`${name}.js exits cleanly, ${RUNS} runs of ${RUNS}`, async () => {
    const results = await runMany(path.join(__dirname, 'exit_scripts', `${name}.js`), RUNS)
    const bad = results.filter(({ code, out, err }) => {
      const lines = out.trim().split('\n')
      const final = lines[lines.length - 1]
      const lastOk = last instanceof RegExp ? last.test(final) : final === last
      return code !== 0 || err !== '' || !lastOk
    })
    assert.equal(
      bad.length,
      0,
      `${bad.length} of ${RUNS} runs did not end cleanly; first: ` +
        JSON.stringify(bad.slice(0, 2), null, 1),
    )
  })
}
