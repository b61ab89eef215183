// fastify-realtime browser client: an ES module with no build step and no dependencies.
// Connects, reconnects (capped exponential backoff with jitter, honouring the server's 1001
// `retry=<ms>` hint), resubscribes with `since` so nothing is missed, and reports status and
// presence. Protocol: docs/PROTOCOL.md. Typed by JSDoc, checked by `npm run typecheck`.

/** @typedef {{ offset: number, epoch: string }} StreamPosition */
/** @typedef {{ id: string, name?: string }} PresenceMember */
/** @typedef {{ channel: string, offset: number, epoch: string, data: unknown, t: number }} Publication */
/** @typedef {Record<string, unknown> & { type: string }} Frame */
/** @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} Status */
/** @typedef {{ status: Status, code?: number, reason?: string, retryInMs?: number }} StatusChange */
/** @typedef {{ code: string, message: string, id?: string | number }} ServerError */
/** @typedef {{ recovered: boolean, resumed: boolean, offset: number, epoch: string }} Subscribed */
/** @typedef {{ members: PresenceMember[], action: string, member?: PresenceMember }} PresenceChange */

/**
 * The part of the WebSocket API this client uses: the browser's WebSocket and the `ws` package both fit.
 * @typedef {object} SocketLike
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {(() => void) | null} onopen
 * @property {((event: { data: unknown }) => void) | null} onmessage
 * @property {((event: { code: number, reason: string }) => void) | null} onclose
 * @property {(() => void) | null} onerror
 */

/**
 * @typedef {object} ClientOptions
 * @property {new (url: string) => object} [WebSocket] WebSocket class (default: the global one; in Node pass `ws`'s)
 * @property {number} [minRetryMs] first reconnect delay (default 500)
 * @property {number} [maxRetryMs] reconnect delay cap (default 15000)
 * @property {number} [requestTimeoutMs] how long `publish` waits for its ack (default 10000)
 * @property {() => number} [random] jitter source (default Math.random)
 * @property {boolean} [autoConnect] connect at once (default true)
 */

/**
 * @typedef {object} ClientEvents
 * @property {StatusChange} status
 * @property {Frame} message every parsed server frame
 * @property {Frame} welcome
 * @property {Frame} tick
 * @property {Frame} broadcast
 * @property {string} text a frame that is not JSON
 * @property {ServerError} error an error frame no request is waiting for
 */

/**
 * @typedef {object} SubscriptionEvents
 * @property {Publication} publication
 * @property {Subscribed} subscribed
 * @property {PresenceChange} presence
 * @property {ServerError} error
 */

const OPEN = 1
const RETRY_HINT = /retry=(\d+)/

/**
 * A tiny typed event emitter.
 * @template {object} E
 */
class Emitter {
  /** @type {Map<keyof E, Set<(payload: never) => void>>} */
  #listeners = new Map()

  /**
   * Listen to an event.
   * @template {keyof E} K
   * @param {K} type
   * @param {(payload: E[K]) => void} listener
   * @returns {() => void} a function that removes the listener
   */
  on (type, listener) {
    let set = this.#listeners.get(type)
    if (set === undefined) this.#listeners.set(type, (set = new Set()))
    set.add(listener)
    return () => { set.delete(listener) }
  }

  /**
   * @template {keyof E} K
   * @param {K} type
   * @param {E[K]} payload
   */
  emit (type, payload) {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        /** @type {(payload: E[K]) => void} */ (listener)(payload)
      } catch (err) {
        // One broken listener must not stop the stream for the others.
        setTimeout(() => { throw err })
      }
    }
  }
}

/**
 * A subscription to one channel. It survives reconnects: the client resubscribes with the last
 * position it saw, and the `subscribed` event says whether the gap was recovered.
 * @extends {Emitter<SubscriptionEvents>}
 */
export class Subscription extends Emitter {
  /** @type {string} */ channel
  /** Members present, by visitor id (presence channels only). @type {Map<string, PresenceMember>} */
  members = new Map()
  /** Epoch of the stream. */ #epoch = ''
  /** Offset of the last publication handed to the app. */ #last = 0
  /** Offset in the ack of the current subscribe. */ #acked = 0
  /** Whether the current subscribe promised a complete replay up to #acked. */ #replaying = false
  /** Offset sent as `since` in the current subscribe. */ #resumeFrom = 0
  #rewind = 0
  /** @type {RealtimeClient} */ #client

  /**
   * @param {RealtimeClient} client
   * @param {string} channel
   * @param {number} rewind
   */
  constructor (client, channel, rewind) {
    super()
    this.#client = client
    this.channel = channel
    this.#rewind = rewind
  }

  /** Where to resume from after a reconnect, or null before the first ack. @returns {StreamPosition | null} */
  get position () {
    if (this.#epoch === '') return null
    return { epoch: this.#epoch, offset: this.#replaying && this.#last < this.#acked ? this.#last : Math.max(this.#acked, this.#last) }
  }

  /** Stop receiving this channel. */
  unsubscribe () {
    this.#client._forget(this)
  }

  /** @returns {Frame} the `sub` request for the current state */
  _request () {
    const since = this.position
    this.#resumeFrom = since?.offset ?? 0
    return since === null
      ? { type: 'sub', channel: this.channel, rewind: this.#rewind }
      : { type: 'sub', channel: this.channel, since }
  }

  /** @param {Frame} ack */
  _acked (ack) {
    const resumed = this.#epoch !== ''
    const recovered = ack.recovered === true
    const epoch = String(ack.epoch)
    this.#last = recovered ? this.#resumeFrom : 0
    this.#epoch = epoch
    this.#acked = Number(ack.offset)
    this.#replaying = recovered
    this.emit('subscribed', { recovered, resumed, offset: this.#acked, epoch })
  }

  /** @param {Frame} frame */
  _publication (frame) {
    const publication = /** @type {Publication} */ (/** @type {unknown} */ (frame))
    // The server already sends each offset once; this guards against a replay crossing a reconnect.
    if (publication.epoch === this.#epoch && publication.offset <= this.#last) return
    if (publication.epoch !== this.#epoch) this.#acked = 0
    this.#epoch = publication.epoch
    this.#last = publication.offset
    this.emit('publication', publication)
  }

  /** @param {Frame} frame */
  _presence (frame) {
    const member = /** @type {PresenceMember | undefined} */ (frame.member)
    if (frame.action === 'snapshot') {
      this.members = new Map((/** @type {PresenceMember[]} */ (frame.members)).map((m) => [m.id, m]))
    } else if (member !== undefined) {
      if (frame.action === 'leave') this.members.delete(member.id)
      else this.members.set(member.id, member)
    }
    /** @type {PresenceChange} */
    const change = { members: [...this.members.values()], action: String(frame.action) }
    if (member !== undefined) change.member = member
    this.emit('presence', change)
  }
}

/**
 * A connection to a fastify-realtime server.
 * @extends {Emitter<ClientEvents>}
 */
export class RealtimeClient extends Emitter {
  /** @type {string} */ url
  /** @type {Status} */ status = 'closed'
  /** @type {Map<string, Subscription>} */ subscriptions = new Map()
  /** @type {SocketLike | null} */ #socket = null
  /** @type {Required<ClientOptions>} */ #options
  /** @type {Map<string | number, { resolve: (frame: Frame) => void, reject: (error: Error) => void }>} */ #pending = new Map()
  #nextId = 1
  #attempt = 0
  #stopped = false
  /** @type {ReturnType<typeof setTimeout> | null} */ #retryTimer = null

  /**
   * @param {string} url ws:// or wss:// URL of the realtime endpoint
   * @param {ClientOptions} [options]
   */
  constructor (url, options = {}) {
    super()
    this.url = url
    this.#options = {
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
      minRetryMs: options.minRetryMs ?? 500,
      maxRetryMs: options.maxRetryMs ?? 15000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10000,
      random: options.random ?? Math.random,
      autoConnect: options.autoConnect ?? true
    }
    if (this.#options.autoConnect) this.connect()
  }

  /** Open the connection (again after `close()`). */
  connect () {
    this.#stopped = false
    if (this.#socket !== null) return
    this.#setStatus({ status: 'connecting' })
    const socket = /** @type {SocketLike} */ (new this.#options.WebSocket(this.url))
    this.#socket = socket
    socket.onopen = () => {
      this.#attempt = 0
      this.#setStatus({ status: 'open' })
      for (const subscription of this.subscriptions.values()) this.#sendSubscribe(subscription)
    }
    socket.onmessage = (event) => this.#onFrame(String(event.data))
    socket.onclose = (event) => this.#onClose(event.code, event.reason)
    socket.onerror = () => {} // a close event follows; the status says it
  }

  /**
   * Close for good (no reconnect) with a normal closure.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close (code = 1000, reason = '') {
    this.#stopped = true
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    this.#socket?.close(code, reason)
    if (this.#socket === null) this.#setStatus({ status: 'closed', code })
  }

  /**
   * Subscribe to a channel.
   * @param {string} channel
   * @param {(data: unknown, publication: Publication) => void} [handler] called for each publication
   * @param {{ rewind?: number }} [options] rewind: replay up to this many recent publications on the first subscribe
   * @returns {Subscription}
   */
  subscribe (channel, handler, options = {}) {
    if (this.subscriptions.has(channel)) throw new Error(`already subscribed to ${channel}`)
    const subscription = new Subscription(this, channel, options.rewind ?? 0)
    if (handler !== undefined) subscription.on('publication', (publication) => handler(publication.data, publication))
    this.subscriptions.set(channel, subscription)
    if (this.status === 'open') this.#sendSubscribe(subscription)
    return subscription
  }

  /**
   * Publish to a channel that allows client publications.
   * @param {string} channel
   * @param {unknown} data
   * @returns {Promise<{ offset: number, epoch: string }>} resolves with the ack; rejects with the server's error
   */
  async publish (channel, data) {
    const ack = await this.#request({ type: 'pub', channel, data })
    return { offset: Number(ack.offset), epoch: String(ack.epoch) }
  }

  /**
   * Send plain text (accepted and logged by the server, like the tutorial's replies).
   * @param {string} text
   * @returns {boolean} whether it was sent
   */
  send (text) {
    if (this.#socket?.readyState !== OPEN) return false
    this.#socket.send(text)
    return true
  }

  /** @param {Subscription} subscription */
  _forget (subscription) {
    if (this.subscriptions.get(subscription.channel) !== subscription) return
    this.subscriptions.delete(subscription.channel)
    if (this.status === 'open') this.#request({ type: 'unsub', channel: subscription.channel }).catch(() => {})
  }

  /** @param {Subscription} subscription */
  #sendSubscribe (subscription) {
    this.#request(subscription._request()).then((ack) => {
      if (this.subscriptions.get(subscription.channel) === subscription) subscription._acked(ack)
    }, (/** @type {Error & { code?: string }} */ error) => {
      if (error.code === 'disconnected') return // resubscribed on the next open
      this.subscriptions.delete(subscription.channel)
      subscription.emit('error', { code: error.code ?? 'error', message: error.message })
    })
  }

  /**
   * Send a request with a fresh id and wait for its ack or error.
   * @param {Frame} message
   * @returns {Promise<Frame>}
   */
  #request (message) {
    const socket = this.#socket
    if (socket === null || socket.readyState !== OPEN) return Promise.reject(Object.assign(new Error('not connected'), { code: 'disconnected' }))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(Object.assign(new Error('no answer from the server'), { code: 'timeout' }))
      }, this.#options.requestTimeoutMs)
      this.#pending.set(id, {
        resolve: (frame) => { clearTimeout(timer); resolve(frame) },
        reject: (error) => { clearTimeout(timer); reject(error) }
      })
      socket.send(JSON.stringify({ ...message, id }))
    })
  }

  /** @param {string} text */
  #onFrame (text) {
    /** @type {Frame} */
    let frame
    try {
      frame = JSON.parse(text)
    } catch {
      this.emit('text', text)
      return
    }
    this.emit('message', frame)
    const id = /** @type {string | number | undefined} */ (frame.id)
    const waiting = id === undefined ? undefined : this.#pending.get(id)
    if (waiting !== undefined && id !== undefined && (frame.type === 'ack' || frame.type === 'error')) {
      this.#pending.delete(id)
      if (frame.type === 'ack') waiting.resolve(frame)
      else waiting.reject(Object.assign(new Error(String(frame.message)), { code: String(frame.code) }))
      return
    }
    const subscription = typeof frame.channel === 'string' ? this.subscriptions.get(frame.channel) : undefined
    if (frame.type === 'pub') subscription?._publication(frame)
    else if (frame.type === 'presence') subscription?._presence(frame)
    else if (frame.type === 'error') this.emit('error', { code: String(frame.code), message: String(frame.message) })
    else if (frame.type === 'welcome' || frame.type === 'tick' || frame.type === 'broadcast') this.emit(frame.type, frame)
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #onClose (code, reason) {
    this.#socket = null
    for (const waiting of this.#pending.values()) waiting.reject(Object.assign(new Error('disconnected'), { code: 'disconnected' }))
    this.#pending.clear()
    // 4500–4999 are terminal: the server says do not come back.
    if (this.#stopped || (code >= 4500 && code <= 4999)) {
      this.#setStatus({ status: 'closed', code, reason })
      return
    }
    const hint = code === 1001 ? RETRY_HINT.exec(reason) : null
    const base = Math.min(this.#options.maxRetryMs, this.#options.minRetryMs * 2 ** this.#attempt++)
    const retryInMs = hint !== null ? Number(hint[1]) : Math.round(base / 2 + this.#options.random() * base / 2)
    this.#setStatus({ status: 'reconnecting', code, reason, retryInMs })
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      if (!this.#stopped) this.connect()
    }, retryInMs)
  }

  /** @param {StatusChange} change */
  #setStatus (change) {
    this.status = change.status
    this.emit('status', change)
  }
}
