'use strict'
// Another process holds otp.db's write lock: a verifyOtp waits for it off
// the JS thread, and the event loop keeps turning meanwhile.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const { Gateway } = require('..')
const { useSimulator, freshPhone, tempDir } = require('./sim')

const sim = useSimulator()

// Holds BEGIN EXCLUSIVE on `file` for `seconds` from a Python process;
// resolves with the process once the lock is held.
function lockFromAnotherProcess(file, seconds) {
  const script = [
    'import sqlite3, sys, time',
    "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)",
    "c.execute('BEGIN EXCLUSIVE')",
    "print('locked', flush=True)",
    'time.sleep(float(sys.argv[2]))',
    "c.execute('ROLLBACK')",
  ].join('\n')
  const child = spawn('python3', ['-c', script, file, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', (chunk) => {
      if (String(chunk).trim() === 'locked') resolve(child)
      else reject(new Error(`the lock holder said ${chunk}`))
    })
  })
}

test('a verifyOtp waiting for a locked otp.db does not hold the event loop', async () => {
  const dataDir = tempDir()
  const gateway = await Gateway.open({ dataDir, endpoint: sim.ws })
  try {
    const holder = await lockFromAnotherProcess(path.join(dataDir, 'otp.db'), 6)
    const lockedAt = Date.now()
    // Taking a verification slot writes (BEGIN IMMEDIATE): it waits for the lock.
    const waiting = gateway.verifyOtp(freshPhone('62814'), '123456').then(
      (outcome) => ({ outcome, after: Date.now() - lockedAt }),
      (error) => ({ error, after: Date.now() - lockedAt }),
    )
    const asked = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 10))
    const late = Date.now() - asked - 10
    assert.ok(Date.now() - lockedAt < 4000, 'checked while the lock was still held')
    assert.ok(late < 100, `a 10 ms timer fired ${late} ms late`)

    const { outcome, error, after } = await waiting
    assert.ok(after >= 4000, `the verification did wait for the lock (${after} ms)`)
    if (error) assert.equal(error.code, 'STORE_ERROR')
    else assert.equal(outcome.outcome, 'not_found')
    if (holder.exitCode === null) await new Promise((resolve) => holder.once('exit', resolve))
  } finally {
    await gateway.close()
  }
})
