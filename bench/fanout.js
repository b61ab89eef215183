/**
 * The channel fan-out phase's moving parts: one publisher socket and the two measurements (a
 * burst, a steady rate) over subscribers the load generator already holds.
 *
 * Everything goes through the real protocol: subscribers sent `{"type":"sub","channel":"chat"}`
 * and got their ack; the publisher sends `{"type":"pub","channel":"chat","data":{"text":…},"id":…}`
 * frames, as the demo page does. The chat text starts with the moment the publisher sent it
 * (epoch ms), so a subscriber measures latency from there: queueing behind a burst, the server's
 * parsing and the fan-out all count. The demo signs each message with the visitor of the
 * publisher's session (`{ text, from: { id, name } }`) and keeps the text as sent (trimmed), so
 * the timestamp survives; the baseline and the floor build the same frame.
 */
import { BenchSocket, KIND } from './rfc6455-client.js'
import { cpuSeconds, percentile, sleep } from './harness.js'

/** The demo's chat channel (plugins/realtime.ts): client publishes, history, presence. */
export const CHANNEL = 'chat'
/** Publications in one burst, written by the publisher in one go (the figure). */
export const BURST_COUNT = 100
/** How long a step may wait for every acknowledgement and delivery before it reports what came. */
const DELIVERY_TIMEOUT_MS = 120_000

/**
 * The chat text of one publication: the send time first (read back by bench/rfc6455-client.js),
 * then a fixed-width sequence number, so every publication's frame has the same size.
 */
function chatText (sentAt, seq) {
  return `${sentAt} fan-out ${String(seq).padStart(6, '0')} hello, chat`
}

/** The one socket that publishes; it counts the acks and errors its publications get back. */
export class Publisher {
  /**
   * @param {{ port: number, path: string, cookie: string }} options the demo needs a session
   *   cookie: its chat accepts publications from visitors only
   */
  constructor ({ port, path, cookie }) {
    this.acks = 0
    this.errors = 0
    this.nextId = 1
    this.socket = new BenchSocket({
      host: '127.0.0.1',
      port,
      path,
      localAddress: '127.0.0.1',
      cookie,
      onText: (kind) => {
        if (kind === KIND.ack) this.acks++
        else if (kind === KIND.error) this.errors++
      },
      onClose: () => {}
    })
    this.ready = this.socket.ready
  }

  /** Send one or more publications in one write, all stamped `sentAt`. */
  publish (count, sentAt = Date.now()) {
    const frames = []
    for (let i = 0; i < count; i++) {
      const id = this.nextId++
      frames.push(JSON.stringify({ type: 'pub', channel: CHANNEL, data: { text: chatText(sentAt, id) }, id }))
    }
    this.socket.sendTexts(frames)
  }

  /**
   * One publication every 1/`ratePerSec` s for `durationMs`, on a clock (no drift), each
   * stamped when it is sent.
   * @returns {Promise<number>} how many were sent
   */
  async steady (ratePerSec, durationMs) {
    const total = Math.max(1, Math.round(ratePerSec * durationMs / 1000))
    const started = Date.now()
    for (let i = 0; i < total; i++) {
      const due = started + i * 1000 / ratePerSec
      const wait = due - Date.now()
      if (wait > 0) await sleep(wait)
      this.publish(1)
    }
    return total
  }

  /** Wait until `count` answers (ack or error) have arrived since `since`, or the timeout. */
  async answered (since, count, timeoutMs) {
    const deadline = Date.now() + timeoutMs
    while (this.acks + this.errors - since < count && Date.now() < deadline) await sleep(5)
  }

  close () {
    this.socket.close()
  }
}

/**
 * Publish with `send` and measure until every accepted publication has reached every subscriber:
 * server CPU per delivered publication, share delivered in order, latency.
 * @param {{ server: import('./harness.js').Child, load: import('./load.js').LoadGenerator,
 *   publisher: Publisher, subscribed: number }} run
 * @param {() => Promise<number>} send publishes, resolves with how many it sent
 */
async function measure ({ server, load, publisher, subscribed }, send) {
  await load.reset()
  const answered = publisher.acks + publisher.errors
  const acksBefore = publisher.acks
  const cpu0 = cpuSeconds(server.pid)
  const started = Date.now()
  const published = await send()
  await publisher.answered(answered, published, DELIVERY_TIMEOUT_MS)
  const accepted = publisher.acks - acksBefore
  const expected = accepted * subscribed
  const { report, finished } = await load.waitFor((r) => r.counts.pub >= expected, DELIVERY_TIMEOUT_MS, 20)
  const elapsedMs = Date.now() - started
  const cpu = cpuSeconds(server.pid) - cpu0
  const delivered = report.counts.pub
  return {
    subscribed,
    published,
    accepted,
    expected,
    delivered,
    outOfOrder: report.counts.outOfOrder,
    allInOrder: finished && accepted === published && delivered === expected && report.counts.outOfOrder === 0,
    cpuUsPerDelivery: 1e6 * cpu / Math.max(1, delivered),
    cpuPercent: 100 * cpu / (elapsedMs / 1000),
    deliveredPerSecond: delivered / (elapsedMs / 1000),
    elapsedMs,
    p50Ms: percentile(report.hist, 0.5),
    p99Ms: percentile(report.hist, 0.99)
  }
}

/** {@link BURST_COUNT} publications written at once; latency from that moment. */
export async function measureBurst (run) {
  return await measure(run, async () => {
    run.publisher.publish(BURST_COUNT)
    return BURST_COUNT
  })
}

/** Publications at `ratePerSec` for `durationMs`, each on its own; latency from each one's send. */
export async function measureSteady (run, ratePerSec, durationMs) {
  return { ratePerSec, ...await measure(run, async () => await run.publisher.steady(ratePerSec, durationMs)) }
}
