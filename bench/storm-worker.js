/**
 * A reconnect-storm load process (forked by bench/storm.js): it holds its share of the storm's
 * clients and checks, per client and channel, that every publication arrives exactly once and in
 * order across every cut. Three kinds of client, one third each:
 *   - `since`: a WebSocket that resubscribes each channel with the `since` it keeps (as
 *     fastify-realtime/client does);
 *   - `resume`: a bare WebSocket that only keeps the resume token of its welcome and, after a
 *     reconnect, sends it as its first message (`{"type":"resume","token":…}`); after a crash of
 *     the node (SIGKILL) its channels come back `recovered: false` (told), and it goes on from
 *     the position the ack names (what it was told it missed is counted, not as a gap);
 *   - `sse`: an event stream that reconnects with its last event id as `Last-Event-ID`, after the
 *     stream's `retry:` (as a browser's EventSource does).
 * After a cut a client has recovered once every channel reached the offset its reconnect's `ack`
 * named (the top of the stream when it came back): its recovery time runs from the moment it saw
 * the cut. Driven over IPC:
 *   { cmd: 'start', port, count, channels, firstAddress, addresses } → { started, failed }
 *   { cmd: 'status' } → { open, recovering, caughtUp }
 *   { cmd: 'recoveries' } → { recoveries: ms of each recovery since the last call }
 *   { cmd: 'report', finals } → per kind: clients, complete, duplicates, gaps (silent), behind,
 *     notRecovered (channels answered recovered: false), toldMissed (publications those answers
 *     said were lost), resumeRefused
 *   { cmd: 'close' } → every client closed, then exit
 */
import { request as httpRequest } from 'node:http'
import WebSocket from 'ws'

const KINDS = ['since', 'resume', 'sse']
/** First reconnect delay after a cut without a hint (as the browser client: half of 500 ms plus a random half). */
const MIN_RETRY_MS = 500
const MAX_RETRY_MS = 5000

/** @type {Client[]} */
const clients = []
let target = { port: 0, channels: [] }

class Client {
  constructor (id, kind, localAddress) {
    this.id = id
    this.kind = kind
    this.localAddress = localAddress
    /** Per channel: { epoch, last, start, duplicates, gaps, top } */
    this.streams = new Map(target.channels.map((channel) => [channel, { epoch: '', last: -1, start: -1, duplicates: 0, gaps: 0, top: -1, toldMissed: 0 }]))
    this.open = false
    this.closed = false
    this.cutAt = null
    this.notRecovered = 0
    this.resumeRefused = 0
    this.attempt = 0
    this.token = null
    this.lastEventId = ''
    this.retryMs = null
    this.transport = null
    this.subscribed = new Promise((resolve) => { this.onSubscribed = resolve })
  }

  connect () {
    if (this.closed) return
    if (this.kind === 'sse') this.#connectStream()
    else this.#connectSocket()
  }

  close () {
    this.closed = true
    this.transport?.close()
  }

  /** The connection ended (cut, drained, refused): reconnect after the server's hint or a backoff. */
  ended (hintMs) {
    this.open = false
    this.transport = null
    if (this.closed) return
    this.cutAt ??= Date.now()
    for (const stream of this.streams.values()) stream.top = -1
    const base = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** this.attempt++)
    const delay = hintMs ?? Math.round(base / 2 + Math.random() * base / 2)
    setTimeout(() => this.connect(), delay)
  }

  frame (text) {
    const frame = JSON.parse(text)
    if (frame.type === 'pub') this.#publication(frame)
    else if (frame.type === 'ack' && typeof frame.channel === 'string' && frame.recovered !== undefined) this.#acked(frame)
    else if (frame.type === 'welcome') this.#welcome(frame)
    else if ((frame.type === 'ack' && frame.resumed === false) || (frame.type === 'error' && /^resume_/.test(frame.code))) {
      // Nothing to resume (it should not happen in the storm): resubscribe by hand, counted.
      this.resumeRefused++
      this.#subscribeAll()
    }
  }

  #welcome (frame) {
    this.open = true
    this.attempt = 0
    if (this.kind === 'resume') this.token = frame.resume
  }

  #acked (ack) {
    const stream = this.streams.get(ack.channel)
    if (stream === undefined) return
    if (stream.start === -1) {
      stream.start = ack.offset
      stream.last = ack.offset
      stream.epoch = ack.epoch
    } else if (ack.recovered !== true) {
      // Told: what lies between its last publication and the ack is lost, and it knows it.
      this.notRecovered++
      if (ack.epoch === stream.epoch && ack.offset > stream.last) {
        stream.toldMissed += ack.offset - stream.last
        stream.last = ack.offset
      }
    }
    stream.top = ack.offset
    if ([...this.streams.values()].every((s) => s.start !== -1)) this.onSubscribed()
    this.#checkCaughtUp()
  }

  #publication (pub) {
    const stream = this.streams.get(pub.channel)
    if (stream === undefined || stream.start === -1) return
    if (pub.epoch !== stream.epoch || pub.offset <= stream.last) {
      stream.duplicates++
      return
    }
    if (pub.offset !== stream.last + 1) stream.gaps += pub.offset - stream.last - 1
    stream.last = pub.offset
    this.#checkCaughtUp()
  }

  #checkCaughtUp () {
    if (this.cutAt === null) return
    for (const stream of this.streams.values()) if (stream.top === -1 || stream.last < stream.top) return
    recovered.push(Date.now() - this.cutAt)
    this.cutAt = null
  }

  #subscribeAll () {
    for (const [channel, stream] of this.streams) {
      const since = stream.start === -1 ? undefined : { epoch: stream.epoch, offset: stream.last }
      this.transport?.send(JSON.stringify(since === undefined ? { type: 'sub', channel } : { type: 'sub', channel, since }))
    }
  }

  #connectSocket () {
    const token = this.kind === 'resume' ? this.token : null
    const socket = new WebSocket(`ws://127.0.0.1:${target.port}/ws`, { localAddress: this.localAddress })
    this.transport = socket
    let hint = null
    socket.on('open', () => {
      // A bare client that resumes sends its token, nothing else: the token brings everything back.
      if (token !== null) socket.send(JSON.stringify({ type: 'resume', token }))
      else this.#subscribeAll()
    })
    socket.on('message', (data) => this.frame(data.toString()))
    socket.on('close', (code, reason) => {
      const retry = /retry=(\d+)/.exec(reason.toString())
      if (code === 1001 && retry !== null) hint = Number(retry[1])
      this.ended(hint)
    })
    socket.on('error', () => {})
  }

  #connectStream () {
    const path = this.lastEventId === '' ? `/sse?channels=${target.channels.join(',')}` : '/sse'
    const headers = { accept: 'text/event-stream', ...(this.lastEventId === '' ? {} : { 'last-event-id': this.lastEventId }) }
    let done = false
    const finish = () => {
      if (done) return
      done = true
      this.ended(this.retryMs)
    }
    const request = httpRequest({ host: '127.0.0.1', port: target.port, path, headers, localAddress: this.localAddress }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        response.on('end', finish)
        return
      }
      response.setEncoding('utf8')
      let buffer = ''
      let id = null
      let data = []
      let event = ''
      response.on('data', (chunk) => {
        buffer += chunk
        for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
          const line = buffer.slice(0, end)
          buffer = buffer.slice(end + 1)
          if (line === '') {
            if (id !== null) this.lastEventId = id
            if (data.length > 0 && event === '') this.frame(data.join('\n'))
            id = null
            data = []
            event = ''
          } else if (line.startsWith('data: ')) data.push(line.slice(6))
          else if (line.startsWith('id: ')) id = line.slice(4)
          else if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('retry: ')) this.retryMs = Number(line.slice(7))
        }
      })
      response.on('end', finish)
      response.on('close', finish)
      response.on('error', finish)
    })
    request.on('error', finish)
    this.transport = { close: () => request.destroy(), send: () => {} }
    request.end()
  }
}

/** Recovery times since the last `recoveries` request, in ms. */
let recovered = []

process.on('message', async (message) => {
  const reply = (value) => process.send({ id: message.id, ...value })
  if (message.cmd === 'start') {
    target = { port: message.port, channels: message.channels }
    const started = []
    for (let i = 0; i < message.count; i++) {
      const client = new Client(clients.length, KINDS[(message.kindOffset + i) % KINDS.length], `127.0.0.${message.firstAddress + (i % message.addresses)}`)
      clients.push(client)
      started.push(client)
      client.connect()
      // A gentle ramp: the storm is the reconnects, not the first connects.
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const timeout = new Promise((resolve) => setTimeout(resolve, 60_000))
    await Promise.race([Promise.all(started.map((client) => client.subscribed)), timeout])
    reply({ started: started.length, subscribed: started.filter((client) => [...client.streams.values()].every((s) => s.start !== -1)).length })
  } else if (message.cmd === 'status') {
    reply({ open: clients.filter((c) => c.open).length, recovering: clients.filter((c) => c.cutAt !== null).length, clients: clients.length })
  } else if (message.cmd === 'report') {
    const byKind = {}
    for (const kind of KINDS) byKind[kind] = { clients: 0, complete: 0, duplicates: 0, gaps: 0, behind: 0, notRecovered: 0, toldMissed: 0, resumeRefused: 0 }
    for (const client of clients) {
      const summary = byKind[client.kind]
      summary.clients++
      let complete = true
      for (const [channel, stream] of client.streams) {
        const final = message.finals[channel]
        summary.duplicates += stream.duplicates
        summary.gaps += stream.gaps
        summary.toldMissed += stream.toldMissed
        if (stream.epoch !== final.epoch || stream.last !== final.offset) {
          summary.behind++
          complete = false
        }
        if (stream.duplicates > 0 || stream.gaps > 0) complete = false
      }
      if (complete) summary.complete++
      summary.notRecovered += client.notRecovered
      summary.resumeRefused += client.resumeRefused
    }
    reply({ byKind })
  } else if (message.cmd === 'recoveries') {
    reply({ recoveries: recovered })
    recovered = []
  } else if (message.cmd === 'close') {
    for (const client of clients) client.close()
    reply({ closed: clients.length })
    setTimeout(() => process.exit(0), 100)
  }
})
