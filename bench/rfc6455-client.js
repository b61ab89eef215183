/**
 * A minimal RFC 6455 client for the load generator: one raw `net` socket per connection, an
 * HTTP/1.1 upgrade, and a frame parser that only does what the benchmark needs (count frames,
 * read the server timestamp, answer pings and closes, follow one channel subscription's
 * offsets). It allocates nothing per frame unless a frame is split across TCP reads, so one
 * process can drive many thousands of sockets.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'

const OP_TEXT = 0x1
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa
const HEADER_END = Buffer.from('\r\n\r\n')
const T_FIELD = Buffer.from('"t":')
const S_FIELD = Buffer.from('"s":')
const OFFSET_FIELD = Buffer.from('"offset":')
/** A channel publication's send time: the leading digits of its chat text (see bench/fanout.js). */
const TEXT_FIELD = Buffer.from('"text":"')
/** Bytes of a payload that hold its type and timestamps (`{"type":"broadcast","t":…,"data":{"s":…`). */
const PEEK_BYTES = 80
const B_CODE = 'b'.charCodeAt(0)
const P_CODE = 'p'.charCodeAt(0)
const R_CODE = 'r'.charCodeAt(0)

/**
 * Message kinds, by the first letter of `"type":"…"` at payload offset 9; `pub` and `presence`
 * share theirs, so presence is told apart by its second letter and counted as `r`.
 */
export const KIND = { welcome: 'w', tick: 't', broadcast: 'b', error: 'e', ack: 'a', pub: 'p', presence: 'r' }

/** The kind of the text frame whose payload starts at `start` (see {@link KIND}). */
function kindAt (buf, start) {
  const first = buf[start + 9]
  return first === P_CODE && buf[start + 10] === R_CODE ? KIND.presence : String.fromCharCode(first)
}

/**
 * Read a numeric field (`"t":<epoch ms>`) from a JSON payload without parsing it.
 * @param {Buffer} field the `"name":` bytes
 * @param {Buffer} buf
 * @param {number} start payload start
 * @param {number} end payload end
 * @returns {number} the timestamp, or -1
 */
export function readField (field, buf, start, end) {
  const at = buf.indexOf(field, start)
  if (at < 0 || at >= end) return -1
  let value = 0
  for (let i = at + field.length; i < end; i++) {
    const c = buf[i]
    if (c < 48 || c > 57) break
    value = value * 10 + (c - 48)
  }
  return value
}

/** Build a masked client frame (clients must mask, RFC 6455 §5.3); payloads under 64 KiB. */
function clientFrame (opcode, payload) {
  const mask = randomBytes(4)
  const head = payload.length < 126
    ? Buffer.from([0x80 | opcode, 0x80 | payload.length])
    : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
  const body = Buffer.allocUnsafe(payload.length)
  for (let i = 0; i < payload.length; i++) body[i] = payload[i] ^ mask[i & 3]
  return Buffer.concat([head, mask, body])
}

/**
 * One benchmark connection.
 * `onText(kind, t, inOrder)` is called for every text frame with its type letter and timestamp;
 * `inOrder` is false only for a `pub` whose offset is not the one after the last this socket
 * saw (or the position its subscribe was acknowledged at): a gap, a repeat or a reordering.
 */
export class BenchSocket {
  /**
   * @param {{ host: string, port: number, path: string, localAddress: string, cookie: string,
   *   onText: (kind: string, t: number, inOrder: boolean) => void, onClose: (clean: boolean) => void,
   *   onFrame?: (buf: Buffer, start: number, end: number) => void }} options
   */
  constructor (options) {
    this.options = options
    this.upgraded = false
    this.closing = false
    /** Offset the next `pub` must carry; -1 until a subscribe is acknowledged. */
    this.nextOffset = -1
    /** @type {{ resolve: (offset: number) => void, reject: (err: Error) => void }|null} the subscribe awaiting its ack */
    this.subscribing = null
    /** @type {Buffer|null} bytes of an incomplete frame or header */
    this.pending = null
    /** Bytes still to drop of a frame already counted. */
    this.skip = 0
    this.socket = net.connect({ host: options.host, port: options.port, localAddress: options.localAddress })
    this.socket.setNoDelay(true)
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    const key = randomBytes(16).toString('base64')
    this.socket.on('connect', () => {
      this.socket.write(`GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (options.cookie ? `Cookie: ${options.cookie}\r\n` : '') + '\r\n')
    })
    this.socket.on('data', (chunk) => this.#onData(chunk))
    this.socket.on('error', (err) => { if (!this.upgraded) this.rejectReady(err) })
    this.socket.on('close', () => {
      if (!this.upgraded) this.rejectReady(new Error('closed before the upgrade'))
      else options.onClose(this.closing)
    })
  }

  /**
   * Send text frames, all in one write.
   * @param {string[]} texts
   */
  sendTexts (texts) {
    if (!this.socket.writable) return
    this.socket.write(Buffer.concat(texts.map((text) => clientFrame(OP_TEXT, Buffer.from(text)))))
  }

  /**
   * Subscribe to a channel through the protocol and wait for the ack (an `error` frame refuses).
   * From then on every `pub` is checked against the acknowledged offset, then the one before.
   * @param {string} channel
   * @param {number} id request id
   * @returns {Promise<number>} the channel's offset at the ack
   */
  subscribe (channel, id) {
    if (this.subscribing !== null) return Promise.reject(new Error('a subscribe is already waiting'))
    return new Promise((resolve, reject) => {
      this.subscribing = { resolve, reject }
      this.sendTexts([JSON.stringify({ type: 'sub', channel, id })])
    })
  }

  /** Answer a waiting subscribe from its `ack` or `error` frame. */
  #settleSubscribe (kind, buf, start, end) {
    const waiting = this.subscribing
    this.subscribing = null
    if (kind === KIND.error) {
      waiting.reject(new Error(`subscribe refused: ${buf.toString('utf8', start, end)}`))
      return
    }
    const offset = readField(OFFSET_FIELD, buf, start, end)
    this.nextOffset = offset + 1
    waiting.resolve(offset)
  }

  /** Whether a `pub` carries the offset due next; the one after it is due from then on. */
  #followOffset (buf, start, end) {
    const offset = readField(OFFSET_FIELD, buf, start, end)
    const inOrder = this.nextOffset >= 0 && offset === this.nextOffset
    this.nextOffset = offset + 1
    return inOrder
  }

  /** Send a close frame and end the socket. */
  close () {
    if (this.closing) return
    this.closing = true
    if (this.socket.writable) this.socket.end(clientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])))
  }

  /**
   * Ticks: latency from the server time of the tick. Broadcasts: from the burst's start.
   * Publications: from the moment the publisher sent them (their whole payload is read).
   */
  #timestamp (kind, buf, start, end) {
    if (kind === KIND.pub) return readField(TEXT_FIELD, buf, start, end)
    return readField(buf[start + 9] === B_CODE ? S_FIELD : T_FIELD, buf, start, Math.min(end, start + PEEK_BYTES))
  }

  /** One complete text frame (to `onFrame` as it is, when the socket was given one). */
  #onText (buf, start, end) {
    if (this.options.onFrame !== undefined) {
      this.options.onFrame(buf, start, end)
      return
    }
    const kind = kindAt(buf, start)
    if (this.subscribing !== null && (kind === KIND.ack || kind === KIND.error)) this.#settleSubscribe(kind, buf, start, end)
    const inOrder = kind === KIND.pub ? this.#followOffset(buf, start, end) : true
    this.options.onText(kind, this.#timestamp(kind, buf, start, end), inOrder)
  }

  #onData (chunk) {
    let offset = 0
    if (this.skip > 0) {
      // The rest of a frame already counted: drop it without copying.
      offset = Math.min(this.skip, chunk.length)
      this.skip -= offset
      if (offset === chunk.length) return
    }
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = null
    if (!this.upgraded) {
      const end = buf.indexOf(HEADER_END)
      if (end < 0) { this.pending = buf; return }
      const status = buf.toString('latin1', 9, 12)
      if (status !== '101') {
        this.rejectReady(new Error(`upgrade refused: HTTP ${status}`))
        this.socket.destroy()
        return
      }
      this.upgraded = true
      this.resolveReady()
      offset = end + 4
    }
    while (offset < buf.length) {
      if (buf.length - offset < 2) break
      const opcode = buf[offset] & 0x0f
      let length = buf[offset + 1] & 0x7f
      let start = offset + 2
      if (length === 126) {
        if (buf.length - offset < 4) break
        length = buf.readUInt16BE(offset + 2)
        start = offset + 4
      } else if (length === 127) {
        if (buf.length - offset < 10) break
        length = buf.readUInt32BE(offset + 2) * 0x1_0000_0000 + buf.readUInt32BE(offset + 6)
        start = offset + 10
      }
      const end = start + length
      if (end > buf.length) {
        // A large frame split across reads: once its first bytes are in (type and timestamps sit
        // in the first few dozen), count it now and drop the rest as it arrives, without copying.
        // Not a publication or an ack: their fields may lie past the peek, and they are small.
        if (opcode !== OP_TEXT || buf.length - start < PEEK_BYTES || buf[start + 9] === P_CODE || this.subscribing !== null || this.options.onFrame !== undefined) break
        const kind = kindAt(buf, start)
        this.options.onText(kind, this.#timestamp(kind, buf, start, buf.length), true)
        this.skip = end - buf.length
        offset = buf.length
        break
      }
      if (opcode === OP_TEXT) {
        this.#onText(buf, start, end)
      } else if (opcode === OP_PING) {
        if (this.socket.writable) this.socket.write(clientFrame(OP_PONG, buf.subarray(start, end)))
      } else if (opcode === OP_CLOSE) {
        this.close()
      }
      offset = end
    }
    if (offset < buf.length) {
      // Keep only the unread tail (copied, so the big chunk it came from can be freed).
      this.pending = Buffer.from(buf.subarray(offset))
    }
  }
}
