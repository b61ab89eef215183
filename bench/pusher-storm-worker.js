/**
 * A reconnect-storm load process of the Pusher phase (forked by bench/pusher-storm.js): it holds
 * its share of the storm's clients, all of one dialect, each subscribed to one channel, and
 * reconnects them as their client library would:
 *   - `pusher`: as pusher-js does: at once after a 4200–4299 close (a drain), after a fixed
 *     second after anything else it retries (4100–4199, an abnormal close, a refused upgrade, a
 *     refused TCP connect), never after 4000–4099; no jitter, so a cut makes one synchronized wave;
 *   - `ours`: as fastify-realtime/client does: the server's `retry=` hint of a 1001 close, else
 *     a jittered backoff (half of 500 ms plus a random half, doubling to 5 s).
 * A client is back once its subscription is acknowledged again; its time to come back runs from
 * the moment it saw the cut. Publications (`"<epoch ms> <seq> …"`, bench/pusher-server.js) are
 * counted with their latency from the send time: the node's health during the storm. Over IPC:
 *   { cmd: 'start', port, dialect, count, channel, firstAddress, addresses } → { started, subscribed }
 *   { cmd: 'status' } → { open, subscribed, recovering, clients }
 *   { cmd: 'take' } → since the last take: { recoveries (ms each), attempts, refused (by HTTP status),
 *     connectErrors, closes (by code), latencies (ms of each publication received), stopped }
 *   { cmd: 'close' } → every client closed, then exit
 */
import WebSocket from 'ws'
import { PUSHER_APP } from './stamped-frames.js'

const FIXED_RETRY_MS = 1000
const MIN_RETRY_MS = 500
const MAX_RETRY_MS = 5000

/** @type {Client[]} */
const clients = []
let target = { port: 0, dialect: 'pusher', channel: '' }
let taken = freshTake()

function freshTake () {
  return { recoveries: [], attempts: 0, refused: {}, connectErrors: 0, closes: {}, latencies: [], stopped: 0 }
}

class Client {
  constructor (localAddress) {
    this.localAddress = localAddress
    this.socket = null
    this.subscribed = false
    this.closed = false
    this.cutAt = null
    this.attempt = 0
    this.first = new Promise((resolve) => { this.onFirst = resolve })
  }

  connect () {
    if (this.closed) return
    taken.attempts++
    const path = target.dialect === 'pusher' ? `/app/${PUSHER_APP.key}?protocol=7&client=js&version=8.4.0` : '/ws'
    const socket = new WebSocket(`ws://127.0.0.1:${target.port}${path}`, { localAddress: this.localAddress })
    this.socket = socket
    let ended = false
    let opened = false
    const end = (delayMs) => {
      if (ended) return
      ended = true
      this.socket = null
      this.subscribed = false
      if (this.closed) return
      this.cutAt ??= Date.now()
      if (delayMs === null) {
        taken.stopped++
        return
      }
      setTimeout(() => this.connect(), delayMs)
    }
    socket.on('open', () => {
      opened = true
      if (target.dialect === 'ours') socket.send(JSON.stringify({ type: 'sub', channel: target.channel, id: 1 }))
    })
    socket.on('message', (data) => this.#frame(socket, JSON.parse(data.toString())))
    socket.on('unexpected-response', (request, response) => {
      taken.refused[response.statusCode] = (taken.refused[response.statusCode] ?? 0) + 1
      const hint = Number(response.headers['retry-after'])
      response.resume()
      request.destroy()
      end(this.#retryDelay(null, Number.isFinite(hint) ? hint * 1000 : null))
    })
    socket.on('error', (err) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') taken.connectErrors++
    })
    socket.on('close', (code, reason) => {
      // Only the closes of upgraded sockets: a refused upgrade was counted by its status.
      if (opened) taken.closes[code] = (taken.closes[code] ?? 0) + 1
      const hint = /retry=(\d+)/.exec(reason.toString())
      end(this.#retryDelay(code, code === 1001 && hint !== null ? Number(hint[1]) : null))
    })
  }

  /** How long to wait before the next attempt (null: never), as the dialect's client library. */
  #retryDelay (code, hintMs) {
    if (target.dialect === 'pusher') {
      if (code !== null && code >= 4000 && code < 4100) return null
      if (code !== null && code >= 4200 && code < 4300) return 0
      return FIXED_RETRY_MS
    }
    if (hintMs !== null) return hintMs
    const base = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** this.attempt++)
    return Math.round(base / 2 + Math.random() * base / 2)
  }

  #frame (socket, frame) {
    if (target.dialect === 'pusher') {
      if (frame.event === 'pusher:connection_established') socket.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: target.channel } }))
      else if (frame.event === 'pusher_internal:subscription_succeeded') this.#back()
      else if (frame.event === 'message') this.#publication(frame.data)
    } else if (frame.type === 'ack' && frame.channel === target.channel) this.#back()
    else if (frame.type === 'pub') this.#publication(frame.data)
  }

  #back () {
    this.subscribed = true
    this.attempt = 0
    this.onFirst()
    if (this.cutAt !== null) {
      taken.recoveries.push(Date.now() - this.cutAt)
      this.cutAt = null
    }
  }

  #publication (data) {
    const t = Number.parseInt(String(data), 10)
    if (t > 0) taken.latencies.push(Date.now() - t)
  }

  close () {
    this.closed = true
    this.socket?.terminate()
  }
}

process.on('message', async (message) => {
  const reply = (value) => process.send({ id: message.id, ...value })
  if (message.cmd === 'start') {
    target = { port: message.port, dialect: message.dialect, channel: message.channel }
    for (let i = 0; i < message.count; i++) {
      const client = new Client(`127.0.0.${message.firstAddress + (i % message.addresses)}`)
      clients.push(client)
      client.connect()
      // A gentle ramp: the storm is the reconnects, not the first connects.
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const timeout = new Promise((resolve) => setTimeout(resolve, 60_000))
    await Promise.race([Promise.all(clients.map((client) => client.first)), timeout])
    taken = freshTake()
    reply({ started: clients.length, subscribed: clients.filter((client) => client.subscribed).length })
  } else if (message.cmd === 'status') {
    reply({ open: clients.filter((c) => c.socket !== null).length, subscribed: clients.filter((c) => c.subscribed).length, recovering: clients.filter((c) => c.cutAt !== null).length, clients: clients.length })
  } else if (message.cmd === 'take') {
    reply(taken)
    taken = freshTake()
  } else if (message.cmd === 'close') {
    for (const client of clients) client.close()
    reply({ closed: clients.length })
    setTimeout(() => process.exit(0), 100)
  }
})
process.on('disconnect', () => process.exit(0))
