'use strict'
// A PM2-like app for cluster.test.js: a node:cluster primary with 2 workers
// on one data dir. Each worker opens the gateway, sends codes to its own
// recipients through session `shop` and verifies them, then reports.
// argv: dataDir, simulator ws URL, JSON {workerIndex: [recipients]}.

const cluster = require('node:cluster')

const [dataDir, endpoint, plan] = process.argv.slice(2)
const recipients = JSON.parse(plan)

if (cluster.isPrimary) {
  const results = []
  for (let i = 0; i < 2; i++) {
    const worker = cluster.fork({ WORKER_INDEX: String(i) })
    worker.on('message', (m) => results.push(m))
  }
  let exited = 0
  cluster.on('exit', (worker, code) => {
    exited += 1
    if (code !== 0) results.push({ error: `worker ${worker.id} exited with ${code}` })
    if (exited === 2) {
      process.stdout.write(JSON.stringify(results) + '\n')
    }
  })
} else {
  const { Gateway } = require('..')
  ;(async () => {
    const index = Number(process.env.WORKER_INDEX)
    const gateway = await Gateway.open({ dataDir, endpoint, noLimits: true })
    try {
      await gateway.waitConnected('shop', 60_000)
      const outcomes = []
      for (const to of recipients[index]) {
        const sent = await gateway.sendOtp('shop', to, { companyName: 'Toko', revealCode: true })
        outcomes.push((await gateway.verifyOtp(to, sent.code)).outcome)
      }
      process.send({ worker: index, outcomes })
    } catch (e) {
      process.send({ worker: index, error: `${e.code}: ${e.message}` })
    } finally {
      await gateway.close()
      // The IPC channel would keep the worker alive.
      cluster.worker.disconnect()
    }
  })()
}
