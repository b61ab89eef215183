/**
 * A load-generator process (forked by bench/run.js). It holds up to a few thousand benchmark
 * sockets, spread over several 127.0.0.x source addresses so the 28k ephemeral ports of one
 * address pair never run out, counts what arrives and keeps a latency histogram (server timestamp
 * in the payload → receive time, 1 ms buckets). Driven over IPC:
 *   { cmd: 'connect', total, host, port, path, cookies, firstAddress, dialect? } → { ok, connected, failed }
 *     (with `dialect`, `ours` or `pusher`, the sockets read the Pusher phases' stamped publications
 *     in that dialect, bench/stamped-frames.js: in order means in sequence)
 *   { cmd: 'subscribe', channel, deadlineMs } → { subscribed, failed } (every socket not yet subscribed
 *     sends a `sub` and waits for its ack; `subscribed` counts this worker's subscribed sockets)
 *   { cmd: 'reset' } → counters and histogram zeroed
 *   { cmd: 'report' } → { counts, hist (sparse [ms, n] pairs), open, unexpectedCloses }
 *   { cmd: 'close' } → close every socket, then exit
 */
import { BenchSocket, KIND } from './rfc6455-client.js'
import { classify, FRAME, readStamp, subscribeText } from './stamped-frames.js'

const ADDRESSES_PER_WORKER = 8
const CONNECT_CONCURRENCY = 100
const HIST_MAX_MS = 60_000

/** @type {BenchSocket[]} */
const sockets = []
/** Sockets whose subscribe was acknowledged. */
const subscribed = new Set()
/** `outOfOrder`: publications that did not carry the offset due next on their socket. */
const counts = { welcome: 0, tick: 0, broadcast: 0, pub: 0, outOfOrder: 0, ack: 0, presence: 0, error: 0, other: 0 }
let hist = new Uint32Array(HIST_MAX_MS + 1)
let unexpectedCloses = 0

/** Count one frame; ticks, broadcasts and publications also go into the latency histogram. */
function onText (kind, t, inOrder) {
  if (kind === KIND.tick) counts.tick++
  else if (kind === KIND.broadcast) counts.broadcast++
  else if (kind === KIND.pub) {
    counts.pub++
    if (!inOrder) counts.outOfOrder++
  } else {
    countOther(kind)
    return
  }
  if (t > 0) {
    const ms = Date.now() - t
    hist[ms < 0 ? 0 : ms > HIST_MAX_MS ? HIST_MAX_MS : ms]++
  }
}

function countOther (kind) {
  if (kind === KIND.welcome) counts.welcome++
  else if (kind === KIND.ack) counts.ack++
  else if (kind === KIND.presence) counts.presence++
  else if (kind === KIND.error) counts.error++
  else counts.other++
}

/** Latency of one delivered publication, from the send time it carries. */
function countLatency (t) {
  if (t <= 0) return
  const ms = Date.now() - t
  hist[ms < 0 ? 0 : ms > HIST_MAX_MS ? HIST_MAX_MS : ms]++
}

/**
 * One frame of a dialect socket: answers its waiting subscribe, counts publications (in order:
 * the sequence number after the last this socket saw).
 * @param {{ dialect: string, subscribing: { resolve: () => void, reject: (err: Error) => void }|null, nextSeq: number }} state
 */
function onStampedFrame (state, buf, start, end) {
  const frame = classify(state.dialect, buf, start, end)
  if (frame === FRAME.pub) {
    const { t, seq } = readStamp(buf, start, end)
    counts.pub++
    if (state.nextSeq >= 0 && seq !== state.nextSeq) counts.outOfOrder++
    state.nextSeq = seq + 1
    countLatency(t)
  } else if (frame === FRAME.ack || frame === FRAME.error) {
    counts[frame === FRAME.ack ? 'ack' : 'error']++
    const waiting = state.subscribing
    state.subscribing = null
    if (waiting === null) return
    if (frame === FRAME.ack) waiting.resolve()
    else waiting.reject(new Error(`subscribe refused: ${buf.toString('utf8', start, end)}`))
  } else {
    counts.other++
  }
}

function onClose (clean) {
  if (!clean) unexpectedCloses++
}

async function connect ({ total, host, port, path, cookies, firstAddress, deadlineMs, dialect }) {
  let failed = 0
  let next = sockets.length
  const deadline = Date.now() + deadlineMs
  const open = async () => {
    // An overloaded server may accept slowly: stop opening new sockets at the deadline, so a run
    // always ends; the step then reports how many it got.
    while (next < total && Date.now() < deadline) {
      const index = next++
      const stamped = dialect === undefined ? undefined : { dialect, subscribing: null, nextSeq: -1 }
      const socket = new BenchSocket({
        host,
        port,
        path,
        localAddress: `127.0.0.${firstAddress + (index % ADDRESSES_PER_WORKER)}`,
        cookie: cookies.length > 0 ? cookies[index % cookies.length] : '',
        onText,
        onClose,
        ...(stamped === undefined ? {} : { onFrame: (buf, start, end) => onStampedFrame(stamped, buf, start, end) })
      })
      socket.stamped = stamped
      const timer = setTimeout(() => socket.socket.destroy(new Error('no 101 within 15 s')), 15_000)
      try {
        await socket.ready
        sockets.push(socket)
      } catch (err) {
        failed++
        if (failed <= 3) process.stderr.write(`connect failed: ${err.message}\n`)
      } finally {
        clearTimeout(timer)
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, open))
  return { connected: sockets.length, failed }
}

/**
 * Subscribe every socket not yet subscribed, all at once, each waiting for its ack until the
 * deadline (a socket still waiting then counts as failed).
 */
async function subscribe ({ channel, deadlineMs }) {
  const pending = sockets.filter((socket) => !subscribed.has(socket) && socket.subscribing === null && !socket.stamped?.subscribing)
  let failed = 0
  let timer
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, deadlineMs) })
  await Promise.all(pending.map(async (socket, i) => {
    const acked = subscribeOne(socket, channel, i + 1).then(() => { subscribed.add(socket) }, (err) => {
      failed++
      if (failed <= 3) process.stderr.write(`${err.message}\n`)
    })
    await Promise.race([acked, deadline])
  }))
  clearTimeout(timer)
  failed += pending.filter((socket) => !subscribed.has(socket) && (socket.subscribing !== null || socket.stamped?.subscribing)).length
  return { subscribed: subscribed.size, failed }
}

/** Subscribe one socket in its dialect (a dialect socket) or through BenchSocket (ours, read by kind). */
function subscribeOne (socket, channel, id) {
  const state = socket.stamped
  if (state === undefined) return socket.subscribe(channel, id)
  return new Promise((resolve, reject) => {
    state.subscribing = { resolve, reject }
    socket.sendTexts([subscribeText(state.dialect, channel, id)])
  })
}

function report () {
  const sparse = []
  for (let ms = 0; ms <= HIST_MAX_MS; ms++) if (hist[ms] > 0) sparse.push([ms, hist[ms]])
  const open = sockets.filter((socket) => !socket.socket.destroyed).length
  return { counts: { ...counts }, hist: sparse, open, unexpectedCloses }
}

process.on('message', (message) => {
  const reply = (value) => process.send({ id: message.id, ...value })
  switch (message.cmd) {
    case 'connect':
      connect(message).then((result) => reply(result), (err) => reply({ error: err.message }))
      break
    case 'subscribe':
      subscribe(message).then((result) => reply(result), (err) => reply({ error: err.message }))
      break
    case 'reset':
      for (const key of Object.keys(counts)) counts[key] = 0
      hist = new Uint32Array(HIST_MAX_MS + 1)
      reply({})
      break
    case 'report':
      reply(report())
      break
    case 'close':
      for (const socket of sockets) socket.close()
      setTimeout(() => process.exit(0), 500).unref()
      reply({})
      break
    default:
      reply({ error: `unknown command ${message.cmd}` })
  }
})
process.on('disconnect', () => process.exit(0))
