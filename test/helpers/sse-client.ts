/**
 * An event-stream client for tests that parses the stream as a browser's EventSource does (the
 * `id`, `event`, `data` and `retry` fields, comments, the last event id that survives events
 * without an id), records every frame, and lets a test cut the stream or post to it.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import type { Frame } from './ws-client.js'

/** One dispatched event. */
export interface StreamEvent {
  /** `message` unless the event named itself (`close`). */
  event: string
  data: string
  /** The last event id after this event (as `EventSource.lastEventId` would say). */
  lastEventId: string
}

/** Options of {@link SseClient.open}. */
export interface SseOpenOptions {
  headers?: Record<string, string>
  /** Local address to connect from (the gate counts per IP). */
  localAddress?: string
}

/** See the module comment. */
export class SseClient {
  readonly url: URL
  readonly status: number
  readonly headers: IncomingMessage['headers']
  /** Parsed JSON of every unnamed event (the protocol frames), in order. */
  readonly frames: Frame[] = []
  /** Every dispatched event, named or not. */
  readonly events: StreamEvent[] = []
  /** Comment lines (heartbeats). */
  comments = 0
  /** The last `retry:` the stream sent, in ms. */
  retryMs: number | null = null
  /** The last event id, as the browser keeps it (events without an id keep the previous one). */
  lastEventId = ''
  /** The raw text received. */
  raw = ''
  /** Settles when the response ends or the connection is cut. */
  readonly ended: Promise<void>
  readonly #request: ClientRequest
  readonly #response: IncomingMessage
  #buffer = ''
  #pendingId: string | null = null
  #pendingEvent = ''
  #pendingData: string[] = []

  private constructor (url: URL, request: ClientRequest, response: IncomingMessage) {
    this.url = url
    this.#request = request
    this.#response = response
    this.status = response.statusCode ?? 0
    this.headers = response.headers
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => { this.#feed(chunk) })
    this.ended = new Promise((resolve) => {
      response.once('close', () => resolve())
      response.once('error', () => resolve())
    })
  }

  /** Open a stream; resolves once the response head arrived (whatever its status). */
  static async open (url: string, options: SseOpenOptions = {}): Promise<SseClient> {
    const parsed = new URL(url)
    return await new Promise((resolve, reject) => {
      const request = httpRequest(parsed, {
        headers: { accept: 'text/event-stream', ...options.headers },
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
      }, (response) => { resolve(new SseClient(parsed, request, response)) })
      request.once('error', reject)
      request.end()
    })
  }

  /** Frames of one type. */
  ofType (type: string): Frame[] {
    return this.frames.filter((frame) => frame.type === type)
  }

  /** The welcome frame's stream key (for POSTs). */
  get key (): string {
    const welcome = this.frames.find((frame) => frame.type === 'welcome')
    if (typeof welcome?.stream !== 'string') throw new Error('no welcome with a stream key yet')
    return welcome.stream
  }

  /** Resolve once `count` frames of `type` arrived. */
  async waitFor (type: string, count = 1, timeoutMs = 5000): Promise<Frame[]> {
    const started = Date.now()
    for (;;) {
      const found = this.ofType(type)
      if (found.length >= count) return found
      if (Date.now() - started > timeoutMs) throw new Error(`expected ${count} "${type}" frame(s) within ${timeoutMs} ms, got ${found.length}: ${JSON.stringify(this.frames.slice(-4))}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** Resolve with the first frame matching `match` (from index `from`). */
  async frame (match: (frame: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const started = Date.now()
    for (;;) {
      const found = this.frames.slice(from).find(match)
      if (found !== undefined) return found
      if (Date.now() - started > timeoutMs) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-4))}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** POST one message (a JSON object is sent as application/json, a string as text/plain) for this stream. */
  async post (message: unknown, key = this.key, headers: Record<string, string> = {}): Promise<Response> {
    const body = typeof message === 'string' ? message : JSON.stringify(message)
    return await fetch(new URL(this.url.pathname, this.url), {
      method: 'POST',
      headers: { 'content-type': typeof message === 'string' ? 'text/plain' : 'application/json', 'realtime-stream': key, ...headers },
      body
    })
  }

  /** Cut the connection (as a network failure or a closed tab would). */
  cut (): void {
    this.#request.destroy()
    this.#response.destroy()
  }

  /** Pause reading (a client that stops reading). */
  pause (): void {
    this.#response.pause()
    this.#response.socket.pause()
  }

  /** Read again. */
  resume (): void {
    this.#response.socket.resume()
    this.#response.resume()
  }

  #feed (chunk: string): void {
    this.raw += chunk
    this.#buffer += chunk
    for (let end = this.#buffer.indexOf('\n'); end !== -1; end = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, end).replace(/\r$/, '')
      this.#buffer = this.#buffer.slice(end + 1)
      this.#line(line)
    }
  }

  #line (line: string): void {
    if (line === '') {
      this.#dispatch()
      return
    }
    if (line.startsWith(':')) {
      this.comments++
      return
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'data') this.#pendingData.push(value)
    else if (field === 'event') this.#pendingEvent = value
    else if (field === 'id' && !value.includes('\0')) this.#pendingId = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value)
  }

  #dispatch (): void {
    // As the HTML standard says: the last event id is set first, even for an event without data.
    if (this.#pendingId !== null) this.lastEventId = this.#pendingId
    this.#pendingId = null
    const data = this.#pendingData.join('\n')
    const event = this.#pendingEvent === '' ? 'message' : this.#pendingEvent
    this.#pendingData = []
    this.#pendingEvent = ''
    if (data === '' && event === 'message') return
    this.events.push({ event, data, lastEventId: this.lastEventId })
    if (event === 'message') this.frames.push(JSON.parse(data) as Frame)
  }
}
