/**
 * The event-stream fallback as the client sees it: an `EventSource` and POSTs, wrapped in the
 * shape of a WebSocket ({@link SocketLike}), so the client's reconnects, requests and recovery
 * work on it unchanged. Frames arrive as the stream's events; `send` POSTs one message with the
 * stream's key (from its `welcome`), one after the other so they reach the server in order.
 *
 * The EventSource's own reconnect is not used: the first error closes it, and the client
 * reconnects as it would a WebSocket, resubscribing from its own positions.
 */
import type { SocketLike } from './socket.js'

/** The part of the `EventSource` API used here (the browser's, or any with the same shape). */
export interface EventSourceLike {
  onmessage: ((event: { data: unknown }) => void) | null
  onerror: ((event: never) => void) | null
  addEventListener: (type: 'close', listener: (event: { data: unknown }) => void) => void
  close: () => void
}

/** An `EventSource` class. Typed loosely, as {@link WebSocketClass} is. */
export type EventSourceClass = new (url: string) => object

/** The part of `fetch` used here. */
export type FetchLike = (url: string, init: { method: string, headers: Record<string, string>, body: string, credentials: 'same-origin' }) => Promise<{ status: number }>

const CONNECTING = 0
const OPEN = 1
const CLOSED = 3

/** See the module comment. */
export class SseSocket implements SocketLike {
  readyState = CONNECTING
  onopen: ((event: never) => void) | null = null
  onmessage: ((event: { data: unknown }) => void) | null = null
  onclose: ((event: { code: number, reason: string }) => void) | null = null
  onerror: ((event: never) => void) | null = null
  readonly #source: EventSourceLike
  readonly #postUrl: string
  readonly #fetch: FetchLike
  #key = ''
  #posts: Promise<unknown> = Promise.resolve()

  /**
   * @param url - the stream's URL, with its query
   * @param postUrl - where its POSTs go (the stream's URL without the query)
   */
  constructor (url: string, postUrl: string, EventSource: EventSourceClass, fetch: FetchLike) {
    this.#postUrl = postUrl
    this.#fetch = fetch
    const source = new EventSource(url) as EventSourceLike
    this.#source = source
    source.onmessage = (event) => {
      const text = String(event.data)
      if (this.readyState === CONNECTING) {
        // The first event is the welcome: it holds the key the POSTs need, so the socket opens then.
        this.#key = String((JSON.parse(text) as { stream?: unknown }).stream ?? '')
        this.readyState = OPEN
        this.onopen?.(undefined as never)
      }
      this.onmessage?.({ data: text })
    }
    source.addEventListener('close', (event) => {
      const { code, reason } = JSON.parse(String(event.data)) as { code: number, reason: string }
      this.#end(code, reason)
    })
    source.onerror = () => { this.#end(1006, '') }
  }

  send (data: string): void {
    if (this.readyState !== OPEN) return
    const headers = { 'content-type': data.trimStart().startsWith('{') ? 'application/json' : 'text/plain', 'realtime-stream': this.#key }
    this.#posts = this.#posts.then(async () => {
      if (this.readyState !== OPEN) return
      const response = await this.#fetch(this.#postUrl, { method: 'POST', headers, body: data, credentials: 'same-origin' })
      // Anything but 202 means the message did not reach the stream (404: the stream is gone; 503:
      // the node that took the POST is closing): reconnect, and the client sends its requests again.
      if (response.status !== 202) this.#end(1006, `request not delivered (${response.status})`)
    }).catch(() => { this.#end(1006, '') })
  }

  close (code = 1000, reason = ''): void {
    this.#end(code, reason)
  }

  #end (code: number, reason: string): void {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSED
    this.#source.close()
    this.onclose?.({ code, reason })
  }
}
