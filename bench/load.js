/**
 * The load generator: a few worker processes (bench/load-worker.js), each holding its share of
 * the sockets, so no process passes the 20,000 open-files limit and parsing is spread out.
 */
import { fileURLToPath } from 'node:url'
import { Child, mergeHists, sleep } from './harness.js'

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url))
/** Sockets per worker at most (the open-files limit is 20,000 per process). */
const MAX_PER_WORKER = 9000
const ADDRESSES_PER_WORKER = 8
/** How long one connect step may take before it gives up opening more sockets. */
const CONNECT_DEADLINE_MS = 90_000
/** How long the sockets of one step may wait for their subscribe acks. */
const SUBSCRIBE_DEADLINE_MS = 60_000

/** Drives sockets at one server. */
export class LoadGenerator {
  /**
   * @param {{ port: number, path: string, cookies: string[], workers: number, dialect?: 'ours'|'pusher' }} options
   *   `dialect`: the sockets read the Pusher phases' stamped publications (bench/stamped-frames.js)
   */
  constructor (options) {
    this.options = options
    this.workers = Array.from({ length: options.workers }, () => new Child(WORKER))
  }

  /**
   * Open sockets until `total` are connected, split evenly over the workers.
   * @returns {Promise<{ connected: number, failed: number, ms: number }>}
   */
  async connectTo (total) {
    const started = Date.now()
    const per = Math.ceil(total / this.workers.length)
    if (per > MAX_PER_WORKER) throw new Error(`${total} sockets need more than ${this.workers.length} workers`)
    const results = await Promise.all(this.workers.map((worker, i) => worker.request('connect', {
      total: Math.min(per, Math.max(0, total - i * per)),
      host: '127.0.0.1',
      port: this.options.port,
      path: this.options.path,
      cookies: this.options.cookies,
      firstAddress: 2 + i * ADDRESSES_PER_WORKER,
      deadlineMs: CONNECT_DEADLINE_MS,
      ...(this.options.dialect === undefined ? {} : { dialect: this.options.dialect })
    })))
    return {
      connected: results.reduce((sum, r) => sum + r.connected, 0),
      failed: results.reduce((sum, r) => sum + r.failed, 0),
      ms: Date.now() - started
    }
  }

  /**
   * Subscribe every connected socket not yet subscribed to `channel`, through the protocol.
   * @returns {Promise<{ subscribed: number, failed: number, ms: number }>} `subscribed`: all subscribed sockets so far
   */
  async subscribeAll (channel) {
    const started = Date.now()
    const results = await Promise.all(this.workers.map((worker) => worker.request('subscribe', { channel, deadlineMs: SUBSCRIBE_DEADLINE_MS })))
    return {
      subscribed: results.reduce((sum, r) => sum + r.subscribed, 0),
      failed: results.reduce((sum, r) => sum + r.failed, 0),
      ms: Date.now() - started
    }
  }

  /** Zero every counter and histogram. */
  async reset () {
    await Promise.all(this.workers.map((worker) => worker.request('reset')))
  }

  /** Counters and latency histogram merged over the workers. */
  async report () {
    const reports = await Promise.all(this.workers.map((worker) => worker.request('report')))
    const counts = { welcome: 0, tick: 0, broadcast: 0, pub: 0, outOfOrder: 0, ack: 0, presence: 0, error: 0, other: 0 }
    for (const r of reports) for (const key of Object.keys(counts)) counts[key] += r.counts[key]
    return {
      counts,
      hist: mergeHists(reports.map((r) => r.hist)),
      open: reports.reduce((sum, r) => sum + r.open, 0),
      unexpectedCloses: reports.reduce((sum, r) => sum + r.unexpectedCloses, 0)
    }
  }

  /**
   * Poll until `done(report)` or the timeout.
   * @returns the last report and whether it finished
   */
  async waitFor (done, timeoutMs, pollMs = 50) {
    const started = Date.now()
    for (;;) {
      const report = await this.report()
      if (done(report)) return { report, finished: true, ms: Date.now() - started }
      if (Date.now() - started > timeoutMs) return { report, finished: false, ms: Date.now() - started }
      await sleep(pollMs)
    }
  }

  /** Close every socket and stop the workers. */
  async close () {
    await Promise.allSettled(this.workers.map((worker) => worker.request('close', {}, 5000)))
    await Promise.allSettled(this.workers.map((worker) => worker.stop()))
  }
}
