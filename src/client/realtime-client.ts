/**
 * A connection to a fastify-realtime server from a browser (or any runtime with a WebSocket):
 * it connects, reconnects with capped exponential backoff and jitter (taking the server's 1001
 * `retry=<ms>` hint as it is), authenticates with a token from `getToken` on every connect and
 * on every `refresh` (so the socket outlives its tokens), resubscribes with `since` so nothing is
 * missed, follows the server's own subscriptions, calls methods (`rpc`), and matches every
 * request to its answer. A publish carries a random idempotency key and waits out a reconnect:
 * when the socket drops before its ack, it is sent again with the same key after the next open,
 * so it is published once whether or not the first attempt landed. Protocol: docs/PROTOCOL.md.
 *
 * Where WebSockets are blocked it falls back by itself to the server's event stream (an
 * `EventSource` and POSTs, sse-socket.ts), with the same API, and tries a WebSocket again now and
 * then. On a WebSocket it reconnects and sends its resume token in its first message (never in
 * the URL; the identity comes back with it), while its subscriptions resume from its own
 * positions, which are exact whatever cut the connection.
 */
import { Emitter } from './emitter.js'
import { ClientSideCode, RealtimeError } from './errors.js'
import { parseFrame, type AckFrame, type BroadcastFrame, type ClientRequest, type DirectFrame, type ErrorFrame, type Publication, type RequestId, type ServerFrame, type StreamPosition, type SubscribedFrame, type TickFrame, type WelcomeFrame } from './frames.js'
import { Subscription, type SubscriptionOwner, type TokenSource } from './subscription.js'
import { SseSocket, type EventSourceClass, type FetchLike } from './sse-socket.js'
import type { SocketLike, WebSocketClass } from './socket.js'

/** Options of a {@link RealtimeClient}. */
export interface ClientOptions {
  /** The WebSocket class. @default the global `WebSocket` (in Node < 22, pass the `ws` package's) */
  WebSocket?: WebSocketClass
  /** First reconnect delay, in ms. @default 500 */
  minRetryMs?: number
  /** Longest reconnect delay, in ms. @default 15000 */
  maxRetryMs?: number
  /** How long a request (`publish`, a subscribe) waits for its answer, in ms. @default 10000 */
  requestTimeoutMs?: number
  /**
   * How long a publish keeps waiting for a connection and is resent after reconnects, in ms; past
   * it the publish fails with `timeout`. Keep it below the server's `idempotencyTtlMs` (5 minutes
   * by default), or a late resend could publish twice. @default 60000
   */
  publishRetryMs?: number
  /** Jitter source, for tests. @default Math.random */
  random?: () => number
  /** Connect at once. @default true */
  autoConnect?: boolean
  /**
   * Where a connection token comes from (e.g. `() => fetch('/token').then(…)`): called on every
   * connect (the socket is `open` once the server accepted it) and on every `refresh` the server
   * sends before the token expires. Without it, the connection relies on the page's cookie.
   */
  getToken?: () => string | Promise<string>
  /**
   * The server's event stream, used when WebSockets fail (two attempts in a row that never
   * open); `false` never falls back. @default the WebSocket URL with http(s) and its last path
   * segment replaced by `sse` (`wss://example.com/ws` → `https://example.com/sse`)
   */
  sse?: string | false
  /** The EventSource class. @default the global `EventSource` (none: no fallback unless given) */
  EventSource?: EventSourceClass
  /** The fetch function the stream's requests are POSTed with. @default the global `fetch` */
  fetch?: FetchLike
  /** On the event stream, how long before trying a WebSocket again, in ms. @default 60000 */
  webSocketRetryMs?: number
}

/** The connection's state. */
export type Status = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** How the connection travels. */
export type Transport = 'websocket' | 'sse'

/** What a `status` event says. */
export interface StatusChange {
  status: Status
  /** The transport of the connection that opened (open), or of the next attempt (connecting). */
  transport?: Transport
  /** The close code that ended the last connection (reconnecting, closed). */
  code?: number
  /** Its close reason. */
  reason?: string
  /** When the next attempt starts (reconnecting). */
  retryInMs?: number
}

/** Events of a {@link RealtimeClient}. */
export interface ClientEvents {
  status: StatusChange
  /** Every frame the server sends, parsed. */
  message: ServerFrame
  welcome: WelcomeFrame
  /** The server's answer to the resume token this connection presented (after a reconnect on a WebSocket). */
  resumed: { resumed: boolean, visitor: string | null }
  tick: TickFrame
  broadcast: BroadcastFrame
  /** A frame that is not a JSON protocol frame. */
  text: string
  /** An `error` frame no request is waiting for. */
  error: RealtimeError
  /** A message to this user (`sendToUser` on the server). */
  direct: DirectFrame
  /** The server subscribed this connection to a channel it had no subscription for: attach your listeners here. */
  subscription: Subscription<unknown>
}

/** The result of a publish: where the publication landed in the channel's stream. */
export type PublishResult = StreamPosition

const OPEN = 1
const RETRY_HINT = /retry=(\d+)/
/** WebSocket attempts in a row that never open before the client falls back to the event stream. */
const FALLBACK_AFTER = 2
/** 4500–4999: the server says do not come back. */
const isTerminal = (code: number): boolean => code >= 4500 && code <= 4999

interface Pending {
  resolve: (frame: AckFrame) => void
  reject: (error: RealtimeError) => void
}

const errorOf = (frame: ErrorFrame): RealtimeError => new RealtimeError(frame.code, frame.message, frame.data)

/** A publish waiting for its ack, across reconnects. */
interface Outgoing {
  request: Extract<ClientRequest, { type: 'pub' }>
  resolve: (result: PublishResult) => void
  reject: (error: RealtimeError) => void
  timer: ReturnType<typeof setTimeout>
}

/** A random idempotency key: 96 bits, hex (getRandomValues needs no secure context). */
function randomKey (): string {
  return Array.from(globalThis.crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

function defaultWebSocket (): WebSocketClass {
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket
  if (global === undefined) throw new TypeError('fastify-realtime/client: no global WebSocket here; pass one: new RealtimeClient(url, { WebSocket })')
  return global
}

/** The event stream next to a WebSocket endpoint: same host, http(s), last path segment `sse`. */
function streamUrl (url: string): string {
  const parsed = new URL(url)
  parsed.protocol = parsed.protocol === 'wss:' ? 'https:' : 'http:'
  parsed.pathname = parsed.pathname.replace(/[^/]*$/, 'sse')
  parsed.search = ''
  return parsed.href
}

/** `url` with a query added. */
const withQuery = (url: string, query: string): string => query === '' ? url : `${url}${url.includes('?') ? '&' : '?'}${query}`

/** An epoch as a channel list writes it: percent-encoded, the list's own delimiters included. */
const listEpoch = (epoch: string): string => encodeURIComponent(epoch).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** See the module comment. */
export class RealtimeClient extends Emitter<ClientEvents> implements SubscriptionOwner {
  /** The ws:// or wss:// URL of the realtime endpoint. */
  readonly url: string
  /** The connection's state. */
  status: Status = 'closed'
  /** Subscriptions by channel; they survive reconnects. */
  readonly subscriptions = new Map<string, Subscription<unknown>>()
  /** How the current (or next) connection travels. */
  transport: Transport = 'websocket'
  readonly #options: Required<Omit<ClientOptions, 'getToken' | 'sse' | 'EventSource' | 'fetch'>>
  /** The event stream's URL, EventSource and fetch; null: no fallback. */
  readonly #sse: { url: string, EventSource: EventSourceClass, fetch: FetchLike } | null
  readonly #getToken: (() => string | Promise<string>) | undefined
  readonly #pending = new Map<RequestId, Pending>()
  /** Publishes not acked yet, in the order they were made. */
  readonly #outbox = new Set<Outgoing>()
  #socket: SocketLike | null = null
  #nextId = 1
  #attempt = 0
  #stopped = false
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  /** The resume token of the last welcome on a WebSocket. */
  #token: string | null = null
  /** WebSocket attempts in a row that never opened. */
  #failures = 0
  /** Tries a WebSocket again while on the event stream. */
  #probeTimer: ReturnType<typeof setTimeout> | null = null
  /** Set while leaving the event stream for a WebSocket that just opened: reconnect at once. */
  #switching = false

  /**
   * @param url - ws:// or wss:// URL of the realtime endpoint, e.g. `wss://example.com/ws`
   * @param options - see {@link ClientOptions}
   */
  constructor (url: string, options: ClientOptions = {}) {
    super()
    this.url = url
    this.#options = {
      WebSocket: options.WebSocket ?? defaultWebSocket(),
      minRetryMs: options.minRetryMs ?? 500,
      maxRetryMs: options.maxRetryMs ?? 15_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      publishRetryMs: options.publishRetryMs ?? 60_000,
      random: options.random ?? Math.random,
      autoConnect: options.autoConnect ?? true,
      webSocketRetryMs: options.webSocketRetryMs ?? 60_000
    }
    this.#getToken = options.getToken
    const EventSource = options.EventSource ?? (globalThis as { EventSource?: EventSourceClass }).EventSource
    const fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis)
    this.#sse = options.sse === false || EventSource === undefined || fetch === undefined ? null : { url: options.sse ?? streamUrl(url), EventSource, fetch }
    if (this.#options.autoConnect) this.connect()
  }

  /** Open the connection (again, after `close()`). */
  connect (): void {
    this.#stopped = false
    if (this.#socket !== null) return
    const transport = this.transport
    this.#setStatus({ status: 'connecting', transport })
    // The token brings the identity back (a `resume` frame, first thing after the open: never in
    // a URL). The positions of the subscriptions the server makes at connect go where the server
    // knows the identity they need: in the URL's `channels=` (not a credential) when it comes with
    // the request (a cookie) or on an event stream; in the `resume` frame when it comes from a
    // token (`getToken`). This client resubscribes its own with `since` itself.
    const channels = this.#connectChannels()
    const token = transport === 'sse' ? null : this.#token
    const inFrame = token !== null && this.#getToken !== undefined
    const query = inFrame || channels.length === 0 ? '' : `channels=${encodeURIComponent(channels.map(({ channel, since }) => `${channel}|${listEpoch(since.epoch)}|${since.offset.toString(36)}`).join(','))}`
    const socket = transport === 'sse' && this.#sse !== null
      ? new SseSocket(withQuery(this.#sse.url, query), this.#sse.url, this.#sse.EventSource, this.#sse.fetch)
      : new this.#options.WebSocket(withQuery(this.url, query)) as SocketLike
    this.#socket = socket
    let opened = false
    socket.onopen = () => {
      opened = true
      // A token resumes once: the welcome of this connection brings the next one.
      if (token !== null) {
        this.#token = null
        this.#request({ type: 'resume', token, channels: inFrame ? channels : [] }).then((ack) => { this.emit('resumed', { resumed: ack.resumed === true, visitor: typeof ack.visitor === 'string' ? ack.visitor : null }) }, () => {})
      }
      if (this.#getToken === undefined) {
        this.#opened()
        return
      }
      // Open once the server took the token; a refused one closes the socket (4403) and we retry.
      this.#authenticate().then(() => { this.#opened() }, () => {
        if (this.#socket === socket && socket.readyState === OPEN) socket.close(4000, 'no token')
      })
    }
    socket.onmessage = (event) => { this.#onText(String(event.data)) }
    socket.onclose = (event) => {
      if (!opened) this.#fellThrough(transport)
      this.#onClose(event.code, event.reason)
    }
    socket.onerror = () => {} // a close event follows, and the status says it
  }

  /** Close for good (no reconnect), by default with a normal closure. */
  close (code = 1000, reason = ''): void {
    this.#stopped = true
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer)
    this.#probeTimer = null
    this.#failOutbox()
    if (this.#socket === null) {
      this.#setStatus({ status: 'closed', code })
      return
    }
    this.#socket.close(code, reason)
  }

  /**
   * Subscribe to a channel. `T` is what the channel carries, as the application knows it.
   * @param handler - called with each publication's data
   * @param options - `rewind`: on the first subscribe, replay up to this many recent publications;
   *   `token`: the channel token of a private channel (or a function that fetches one, called for every subscribe)
   * @throws Error when the channel is already subscribed
   */
  subscribe<T = unknown> (channel: string, handler?: (data: T, publication: Publication<T>) => void, options: { rewind?: number, token?: TokenSource } = {}): Subscription<T> {
    if (this.subscriptions.has(channel)) throw new Error(`fastify-realtime/client: already subscribed to ${channel}`)
    const subscription = new Subscription<T>(this, channel, options.rewind ?? 0, 'client', options.token)
    if (handler !== undefined) subscription.on('publication', (publication) => { handler(publication.data, publication) })
    this.subscriptions.set(channel, subscription as Subscription<unknown>)
    if (this.status === 'open') this.#sendSubscribe(subscription as Subscription<unknown>)
    return subscription
  }

  /**
   * Publish to a channel that allows client publications. Made while the client is connecting or
   * reconnecting, it is sent once the connection is open; when the connection drops before the
   * answer, it is sent again after the next open with the same idempotency key, so the server
   * publishes it once (see `publishRetryMs`).
   * @returns where it landed; rejects with a {@link RealtimeError} carrying the server's code, or
   *   `timeout`, or `disconnected` once the client is closed
   */
  async publish (channel: string, data: unknown): Promise<PublishResult> {
    if (this.#stopped) throw new RealtimeError(ClientSideCode.DISCONNECTED, 'closed')
    return await new Promise((resolve, reject) => {
      const outgoing: Outgoing = {
        request: { type: 'pub', channel, data, key: randomKey() },
        resolve,
        reject,
        timer: setTimeout(() => { this.#settle(outgoing, new RealtimeError(ClientSideCode.TIMEOUT, 'not published in time')) }, this.#options.publishRetryMs)
      }
      this.#outbox.add(outgoing)
      if (this.status === 'open') this.#sendPublish(outgoing)
    })
  }

  /**
   * Call a method the server declares. `T` is what it answers, as the application knows it.
   * @param options - `timeoutMs`: how long to wait for the answer @default the `requestTimeoutMs` option
   * @returns the method's result; rejects with a {@link RealtimeError} carrying the server's code
   *   (`invalid_data`, `unknown_method`, `rpc_timeout`, the application's own…) or `timeout`
   */
  async rpc<T = unknown> (method: string, data?: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    const ack = await this.#request({ type: 'rpc', method, data: data ?? null }, options.timeoutMs)
    return ack.result as T
  }

  /**
   * Send plain text (accepted and logged by the server, like the tutorial's replies).
   * @returns whether it was sent
   */
  send (text: string): boolean {
    if (this.#socket?.readyState !== OPEN) return false
    this.#socket.send(text)
    return true
  }

  /** @internal A subscription was given up: forget it and tell the server. */
  release (subscription: { readonly channel: string }): void {
    if (this.subscriptions.get(subscription.channel) !== subscription) return
    this.subscriptions.delete(subscription.channel)
    if (this.status === 'open') this.#request({ type: 'unsub', channel: subscription.channel }).catch(() => {})
  }

  #sendPublish (outgoing: Outgoing): void {
    this.#request(outgoing.request).then((ack) => {
      this.#settle(outgoing, { offset: Number(ack.offset), epoch: String(ack.epoch) })
    }, (error: RealtimeError) => {
      // Lost with the socket: it stays in the outbox and goes again, same key, on the next open.
      if (error.code !== ClientSideCode.DISCONNECTED || this.#stopped) this.#settle(outgoing, error)
    })
  }

  /** A publish's end: its answer, or why there will be none. Only the first settles it. */
  #settle (outgoing: Outgoing, outcome: PublishResult | RealtimeError): void {
    if (!this.#outbox.delete(outgoing)) return
    clearTimeout(outgoing.timer)
    if (outcome instanceof RealtimeError) outgoing.reject(outcome)
    else outgoing.resolve(outcome)
  }

  #failOutbox (): void {
    for (const outgoing of [...this.#outbox]) this.#settle(outgoing, new RealtimeError(ClientSideCode.DISCONNECTED, 'closed'))
  }

  /** The subscriptions the server made at connect, with where each stands, as a channel list. */
  #connectChannels (): Array<{ channel: string, since: StreamPosition }> {
    const entries: Array<{ channel: string, since: StreamPosition }> = []
    for (const subscription of this.subscriptions.values()) {
      const since = subscription.source === 'connect' ? subscription.position : null
      if (since !== null) entries.push({ channel: subscription.channel, since })
    }
    return entries
  }

  #opened (): void {
    this.#attempt = 0
    if (this.transport === 'websocket') this.#failures = 0
    else this.#probeLater()
    this.#setStatus({ status: 'open', transport: this.transport })
    for (const outgoing of this.#outbox) this.#sendPublish(outgoing)
    // The server re-adds the subscriptions it makes at connect by itself.
    for (const subscription of this.subscriptions.values()) if (subscription.source !== 'connect') this.#sendSubscribe(subscription)
  }

  /** Send a fresh token (`auth`) and wait for the server to take it. */
  async #authenticate (): Promise<void> {
    const getToken = this.#getToken
    if (getToken === undefined) return
    await this.#request({ type: 'auth', token: await getToken() })
  }

  #sendSubscribe (subscription: Subscription<unknown>): void {
    const token = subscription.token
    Promise.resolve(typeof token === 'function' ? token() : token).then(async (value) => await this.#request(subscription.request(value))).then((ack) => {
      if (this.subscriptions.get(subscription.channel) === subscription) subscription.acked(ack)
    }, (failure: unknown) => {
      const error = failure instanceof RealtimeError ? failure : new RealtimeError(ClientSideCode.TOKEN_UNAVAILABLE, String(failure))
      if (error.code === ClientSideCode.DISCONNECTED) return // subscribed again on the next open
      this.subscriptions.delete(subscription.channel)
      subscription.refused(error)
    })
  }

  /** Send a request with a fresh id and wait for its `ack` or `error`. */
  async #request (request: ClientRequest, timeoutMs = this.#options.requestTimeoutMs): Promise<AckFrame> {
    const socket = this.#socket
    if (socket === null || socket.readyState !== OPEN) throw new RealtimeError(ClientSideCode.DISCONNECTED, 'not connected')
    const id = this.#nextId++
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new RealtimeError(ClientSideCode.TIMEOUT, 'no answer from the server'))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (frame) => { clearTimeout(timer); resolve(frame) },
        reject: (error) => { clearTimeout(timer); reject(error) }
      })
      socket.send(JSON.stringify({ ...request, id }))
    })
  }

  #onText (text: string): void {
    const frame = parseFrame(text)
    if (frame === null) {
      this.emit('text', text)
      return
    }
    this.emit('message', frame)
    switch (frame.type) {
      case 'ack':
        this.#answer(frame)
        break
      case 'error':
        if (!this.#answer(frame)) this.emit('error', errorOf(frame))
        break
      case 'refresh':
        // A refused token closes the socket; the reconnect fetches another.
        this.#authenticate().catch(() => {})
        break
      case 'direct':
        this.emit('direct', frame)
        break
      case 'subscribed':
        this.#subscribedByServer(frame)
        break
      case 'unsubscribed': {
        const subscription = this.subscriptions.get(frame.channel)
        // A private channel's grant ran out: subscribe again from where it was, with a new token
        // from its token function (what was published meanwhile is replayed).
        if (frame.code === 'token_expired' && typeof subscription?.token === 'function') {
          this.#sendSubscribe(subscription)
          break
        }
        this.subscriptions.delete(frame.channel)
        subscription?.ended()
        break
      }
      case 'pub':
        this.subscriptions.get(frame.channel)?.publication(frame)
        break
      case 'gap':
        this.subscriptions.get(frame.channel)?.gap(frame)
        break
      case 'presence':
        this.subscriptions.get(frame.channel)?.presence(frame)
        break
      case 'welcome':
      case 'tick':
      case 'broadcast':
        this.#emitFrame(frame)
        break
    }
  }

  /** A connection never opened: after enough WebSocket failures use the event stream, and back. */
  #fellThrough (transport: Transport): void {
    if (this.#sse === null) return
    if (transport === 'sse') {
      // The stream failed too (the server is down?): next time a WebSocket, and one more failure flips back.
      this.transport = 'websocket'
      this.#failures = FALLBACK_AFTER - 1
    } else if (++this.#failures >= FALLBACK_AFTER) {
      this.transport = 'sse'
    }
  }

  /** On the event stream: try a WebSocket after a while, and move to it if it opens. */
  #probeLater (): void {
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer)
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null
      if (this.#stopped || this.transport !== 'sse') return
      const probe = new this.#options.WebSocket(this.url) as SocketLike
      probe.onopen = () => {
        probe.close(1000)
        if (this.#stopped || this.transport !== 'sse') return
        this.transport = 'websocket'
        this.#failures = 0
        this.#switching = true
        this.#socket?.close(1000, 'switching to a WebSocket')
      }
      probe.onclose = () => { if (this.transport === 'sse' && this.#socket !== null) this.#probeLater() }
      probe.onerror = () => {}
    }, this.#options.webSocketRetryMs)
  }

  #emitFrame (frame: WelcomeFrame | TickFrame | BroadcastFrame): void {
    if (frame.type === 'welcome') {
      if (this.transport === 'websocket') this.#token = frame.resume ?? null
      this.emit('welcome', frame)
    } else if (frame.type === 'tick') {
      this.emit('tick', frame)
    } else {
      this.emit('broadcast', frame)
    }
  }

  /** The server subscribed this connection: a new subscription (announced), or one it re-adds after a reconnect. */
  #subscribedByServer (frame: SubscribedFrame): void {
    let subscription = this.subscriptions.get(frame.channel)
    if (subscription === undefined) {
      subscription = new Subscription(this, frame.channel, 0, frame.source)
      this.subscriptions.set(frame.channel, subscription)
      this.emit('subscription', subscription)
    }
    subscription.source = frame.source
    subscription.acked(frame)
  }

  /** Settle the request an answer is for. @returns whether one was waiting */
  #answer (frame: AckFrame | ErrorFrame): boolean {
    const waiting = frame.id === undefined ? undefined : this.#pending.get(frame.id)
    if (waiting === undefined || frame.id === undefined) return false
    this.#pending.delete(frame.id)
    if (frame.type === 'ack') waiting.resolve(frame)
    else waiting.reject(errorOf(frame))
    return true
  }

  #onClose (code: number, reason: string): void {
    this.#socket = null
    for (const waiting of this.#pending.values()) waiting.reject(new RealtimeError(ClientSideCode.DISCONNECTED, 'disconnected'))
    this.#pending.clear()
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer)
    this.#probeTimer = null
    if (this.#stopped || isTerminal(code)) {
      this.#failOutbox()
      this.#setStatus({ status: 'closed', code, reason })
      return
    }
    // Leaving the event stream for a WebSocket that just opened: at once.
    const retryInMs = this.#switching ? 0 : this.#retryDelay(code, reason)
    this.#switching = false
    this.#setStatus({ status: 'reconnecting', code, reason, retryInMs })
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      if (!this.#stopped) this.connect()
    }, retryInMs)
  }

  /** The server's jittered hint after a 1001 (or an event stream's 1013), else exponential backoff: half the delay plus a random half. */
  #retryDelay (code: number, reason: string): number {
    const hint = code === 1001 || code === 1013 ? RETRY_HINT.exec(reason) : null
    if (hint !== null) return Number(hint[1])
    const base = Math.min(this.#options.maxRetryMs, this.#options.minRetryMs * 2 ** this.#attempt++)
    return Math.round(base / 2 + this.#options.random() * base / 2)
  }

  #setStatus (change: StatusChange): void {
    this.status = change.status
    this.emit('status', change)
  }
}
