// Types of the `waotp` package: the generated native types (index.d.ts),
// with what waotp.js adds: a Gateway is an EventEmitter, and an EventStream
// is an async iterable.

import type { EventEmitter } from 'node:events'
import type { Event } from './index'

export * from './index'

/** The names `gateway.on` listens for (an event's `type`). */
export type EventName = Event['type']

declare module './index' {
  interface Gateway extends EventEmitter {
    /** Calls `listener` with every event of this kind, until removed. */
    on(eventName: EventName, listener: (event: Event) => void): this
    /** Calls `listener` with the next event of this kind. */
    once(eventName: EventName, listener: (event: Event) => void): this
    /** Removes a listener added with `on` or `once`. */
    off(eventName: EventName, listener: (event: Event) => void): this
  }
  interface EventStream extends AsyncIterable<Event> {}
}
