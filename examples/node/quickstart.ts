// The quickstart in TypeScript (checked with `tsc --noEmit --strict`):
// link by QR code, send an OTP, verify what the user types.
//
//     npx tsx quickstart.ts 08123456789 ["PT. Contoh"]

import * as readline from 'node:readline/promises'
import { Gateway, type SentOtp, type VerifyResult } from 'waotp'

async function main(args: string[]): Promise<number> {
  const [phone, company = 'PT. Contoh'] = args
  if (!phone) {
    console.error('usage: quickstart PHONE [COMPANY]')
    return 2
  }
  const session = process.env.WAOTP_SESSION ?? 'quickstart'
  const gateway: Gateway = await Gateway.open({
    dataDir: process.env.WAOTP_DATA_DIR ?? 'waotp-data',
    endpoint: process.env.WAOTP_ENDPOINT,
  })
  gateway.on('qr', (event) => {
    console.log(`QR ${event.qr ?? ''}`)
  })
  const terminal = readline.createInterface({ input: process.stdin, output: process.stdout })
  try {
    let status = await gateway.createSession(session)
    if (!status.isConnected) {
      const qr = await gateway.waitQr(session, 30_000)
      console.log(qr.terminal())
      status = await gateway.waitConnected(session, 120_000)
    }
    console.log(`Connected as ${status.user?.phone ?? '?'}.`)

    const sent: SentOtp = await gateway.sendOtp(session, phone, { companyName: company })
    console.log(`Code sent to ${sent.to}; valid until ${sent.expiresAt.toISOString()}.`)
    for (;;) {
      const typed = (await terminal.question('Code from WhatsApp: ')).trim()
      const result: VerifyResult = await gateway.verifyOtp(sent.to, typed)
      switch (result.outcome) {
        case 'approved':
          console.log('Verified.')
          return 0
        case 'invalid':
          if (result.attemptsLeft) {
            console.log(`Wrong code; ${result.attemptsLeft} attempt(s) left.`)
            continue
          }
          return 1
        default:
          console.log(`Not verified: ${result.outcome}.`)
          return 1
      }
    }
  } finally {
    terminal.close()
    await gateway.close()
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
