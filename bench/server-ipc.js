/**
 * The benchmark's control channel inside a server child process (baseline or ours): it reports
 * readiness and answers the orchestrator's IPC requests. It exists only in bench/: the
 * production server has no such hook.
 */
import { performance } from 'node:perf_hooks'
import { writeHeapSnapshot } from 'node:v8'

const ENVELOPE = '{"type":"broadcast","t":0000000000000,"data":{"s":0000000000000,"p":""}}'.length

/**
 * The data of one benchmark broadcast: `s` is when the burst was issued (the client measures
 * latency from it, so time spent queued behind the burst counts), `p` pads the frame's payload
 * to exactly `bytes`: `{"type":"broadcast","t":…,"data":{"s":…,"p":"xxx…"}}`, as both servers
 * frame it.
 */
export function broadcastData (bytes, burstStartedAt) {
  return { s: burstStartedAt, p: 'x'.repeat(Math.max(0, bytes - ENVELOPE)) }
}

/** The whole text of one benchmark broadcast, as the baseline sends it. */
export function broadcastPayload (bytes, burstStartedAt) {
  return JSON.stringify({ type: 'broadcast', t: Date.now(), data: broadcastData(bytes, burstStartedAt) })
}

/**
 * Answer the orchestrator.
 * @param {{ port: number, broadcast: (count: number, bytes: number, burstStartedAt: number) => number, stats?: () => object, publish?: (channel: string, data: unknown) => Promise<unknown> }} server
 */
export function serveBenchIpc (server) {
  if (typeof process.send !== 'function') throw new Error('start me from bench/run.js (IPC channel needed)')
  process.on('message', (message) => {
    const reply = (value) => process.send({ id: message.id, ...value })
    switch (message.cmd) {
      case 'mem': {
        globalThis.gc?.()
        globalThis.gc?.()
        const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
        reply({ heapUsed, rss, external, arrayBuffers })
        break
      }
      case 'broadcast': {
        // All messages in one macrotask: a burst, as when many publications arrive together.
        const started = performance.now()
        const sent = server.broadcast(message.count, message.bytes, Date.now())
        reply({ loopMs: performance.now() - started, sent })
        break
      }
      case 'snapshot': {
        // Development aid for the lean-connection work: a heap snapshot to diff by constructor.
        globalThis.gc?.()
        reply({ file: writeHeapSnapshot(message.file) })
        break
      }
      case 'stats':
        reply({ stats: server.stats?.() ?? null })
        break
      case 'publish': {
        // In-process publishes, `concurrency` at a time: the yardstick of the HTTP API phase.
        if (server.publish === undefined) {
          reply({ error: 'this server does not publish' })
          break
        }
        const started = performance.now()
        let next = 0
        const worker = async () => { while (next < message.count) { next++; await server.publish(message.channel, { n: next }) } }
        Promise.all(Array.from({ length: message.concurrency }, worker)).then(
          () => reply({ ms: performance.now() - started }),
          (err) => reply({ error: String(err) })
        )
        break
      }
      default:
        reply({ error: `unknown command ${message.cmd}` })
    }
  })
  process.on('disconnect', () => process.exit(0))
  // Exit through process.exit so --cpu-prof can write its profile.
  process.on('SIGTERM', () => process.exit(0))
  process.send({ ready: true, port: server.port })
}
