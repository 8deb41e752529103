'use strict'
// The `waotp` package: the generated native binding (index.js) with the
// Node idioms on top. Nothing here decides anything the core decides:
//  - a Gateway is an EventEmitter (`gateway.on('otp-verified', …)`), fed
//    by the native `listen` from its first listener on, which never keeps
//    the process alive;
//  - `gateway.events()` is an async iterable (`for await`);
//  - a Promise-returning method rejects (never throws) on bad arguments,
//    with the core's INVALID_ARGUMENT code.

const { EventEmitter } = require('node:events')
const native = require('./index.js')

const { Gateway, EventStream } = native

// What the native side throws before it starts any work is a value it could
// not convert (a wrong type, a missing argument): napi's errors carry napi's
// own codes or none; they get the core's code for a bad argument.
function asArgumentError(error) {
  if (error instanceof Error && !CORE_CODES.has(error.code)) {
    error.code = 'INVALID_ARGUMENT'
  }
  return error
}
const CORE_CODES = new Set(native.errorCodes())

// Every method that answers with a Promise rejects instead of throwing.
const PROMISE_METHODS = [
  'createSession', 'listSessions', 'sessionStatus', 'qr', 'waitQr', 'pairCode',
  'submitPasskeyAssertion', 'waitConnected', 'restart', 'logout', 'deleteSession', 'sendText',
  'isOnWhatsapp', 'messageStatus', 'generateOtp', 'sendOtp', 'sendOtpPool', 'sendTextPool', 'startInboundVerification',
  'inboundVerificationStatus', 'cancelInboundVerification', 'verifyOtp',
  'cancelOtp', 'otpStatus', 'stats', 'statsPrometheus', 'close',
]
for (const name of PROMISE_METHODS) {
  const method = Gateway.prototype[name]
  Gateway.prototype[name] = function (...args) {
    try {
      return method.apply(this, args)
    } catch (e) {
      return Promise.reject(asArgumentError(e))
    }
  }
}
for (const name of ['normalizePhone', 'advanceClock']) {
  const method = Gateway.prototype[name]
  Gateway.prototype[name] = function (...args) {
    try {
      return method.apply(this, args)
    } catch (e) {
      throw asArgumentError(e)
    }
  }
}

// A Gateway is an EventEmitter. Its first listener starts the native feed
// (`listen`), which never keeps the process alive by itself.
Object.setPrototypeOf(Gateway.prototype, EventEmitter.prototype)
const FED = Symbol('waotp.fed')
for (const name of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']) {
  const add = EventEmitter.prototype[name]
  Gateway.prototype[name] = function (...args) {
    if (!this[FED]) {
      this[FED] = true
      this.listen((event) => this.emit(event.type, event))
    }
    return add.apply(this, args)
  }
}

// `for await (const event of gateway.events())`, until the gateway closes.
EventStream.prototype[Symbol.asyncIterator] = async function* () {
  for (;;) {
    const event = await this.next()
    if (event === null) return
    yield event
  }
}

module.exports = native
