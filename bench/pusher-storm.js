/**
 * The Pusher reconnect storm (`npm run bench -- --phases=pusher`, after the fan-out comparison):
 * one node serving both protocols (bench/pusher-server.js) with its admission pacing at the
 * defaults (1000 newcomers/s, a burst of 200, at most 10 s in line) and then at a lower rate
 * (see PUSHER_STORM_PLAN), N clients of one dialect
 * (bench/pusher-storm-worker.js) subscribed to one channel while the node publishes 5/s on it.
 * Two cuts, each waited out until every client is back (subscribed again):
 *   - `kill`: the node cuts every socket (no close frame). Pusher clients all come back after
 *     exactly one second (pusher-js's fixed retry): one synchronized wave;
 *   - `restart`: SIGTERM (a drain: Pusher clients get 4200 and reconnect at once, into a node that
 *     is gone, then every second until the new process listens on the same port).
 * Then the same with our own protocol's clients (the library client's jittered backoff and the
 * drain's retry hints), on a fresh node, in the same run. Reported per cut: clients back, time to
 * come back (p50/p95/max), connection attempts, upgrades refused (by HTTP status), the most
 * newcomers waiting in line at once, the node's CPU, and the latency of the publications the
 * clients received meanwhile (the node stays healthy when that stays low).
 */
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Child, cpuSeconds, sleep } from './harness.js'

const SERVER = fileURLToPath(new URL('./pusher-server.js', import.meta.url))
const WORKER = fileURLToPath(new URL('./pusher-storm-worker.js', import.meta.url))
const CHANNEL = 'bench-storm'
const ADDRESSES_PER_WORKER = 16
const PUBLISH_PER_SEC = 5

/**
 * What the storm runs; `quick` scales it down. `admission`: each storm runs at the node's default
 * pacing (null) and at a lower one: a load generator of Node `ws` clients on this 2-core machine
 * reconnects fewer than the default 1000 a second, so only a lower rate shows the pacing at work.
 */
export const PUSHER_STORM_PLAN = { clients: 3000, workers: 2, rounds: 2, gapMs: 1500, deadlineMs: 60_000, admission: [null, { ratePerSec: 250, burst: 50 }] }

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

function percentile (values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

/** Sum the workers' `take`s. */
function merge (takes) {
  const all = { recoveries: [], attempts: 0, refused: {}, connectErrors: 0, closes: {}, latencies: [], stopped: 0 }
  for (const t of takes) {
    // Not push(...list): a storm's latencies can be hundreds of thousands, past the call stack.
    for (const ms of t.recoveries) all.recoveries.push(ms)
    for (const ms of t.latencies) all.latencies.push(ms)
    all.attempts += t.attempts
    all.connectErrors += t.connectErrors
    all.stopped += t.stopped
    for (const [status, n] of Object.entries(t.refused)) all.refused[status] = (all.refused[status] ?? 0) + n
    for (const [code, n] of Object.entries(t.closes)) all.closes[code] = (all.closes[code] ?? 0) + n
  }
  return all
}

/** One dialect's storm on a fresh node: every client connected, then the cuts. */
async function stormOf (dialect, round, admission, plan, log) {
  const port = await freePort()
  const env = { PATH: process.env.PATH, PORT: String(port), ...(admission === null ? {} : { ADMISSION_RATE_PER_SEC: String(admission.ratePerSec), ADMISSION_BURST: String(admission.burst) }) }
  const pacing = admission === null ? 'default pacing' : `${admission.ratePerSec}/s, burst ${admission.burst}`
  const startNode = async () => {
    const node = new Child(SERVER, { env })
    await node.ready
    return node
  }
  let node = await startNode()
  const workers = Array.from({ length: plan.workers }, () => new Child(WORKER))
  const per = Math.ceil(plan.clients / plan.workers)
  const publishing = { on: true }
  const cuts = []
  let publishLoop = Promise.resolve()
  try {
    const started = await Promise.all(workers.map((worker, i) => worker.request('start', {
      port, dialect, channel: CHANNEL, count: Math.min(per, plan.clients - i * per), firstAddress: 2 + i * ADDRESSES_PER_WORKER, addresses: ADDRESSES_PER_WORKER
    })))
    const subscribed = started.reduce((sum, r) => sum + r.subscribed, 0)
    publishLoop = (async () => {
      const begun = Date.now()
      for (let n = 0; publishing.on; n++) {
        const due = begun + n * 1000 / PUBLISH_PER_SEC
        if (due > Date.now()) await sleep(due - Date.now())
        // While the node restarts there is nobody to publish: those publications are skipped.
        await node.request('publish', { channel: CHANNEL }, 2000).catch(() => {})
      }
    })()
    const status = async () => {
      const all = await Promise.all(workers.map((worker) => worker.request('status')))
      return { subscribed: all.reduce((s, r) => s + r.subscribed, 0), recovering: all.reduce((s, r) => s + r.recovering, 0) }
    }
    const storm = async (label, cut) => {
      await Promise.all(workers.map((worker) => worker.request('take')))
      const startedAt = Date.now()
      let pid = node.pid
      let cpuFrom = cpuSeconds(pid)
      await cut()
      if (node.pid !== pid) {
        pid = node.pid
        cpuFrom = 0
      }
      let maxWaiting = 0
      let now = await status()
      // Wait for the cut to be seen, then for every client to be back.
      while (Date.now() - startedAt < plan.deadlineMs && (now.recovering > 0 || now.subscribed < subscribed || Date.now() - startedAt < 200)) {
        await sleep(100)
        const stats = await node.request('stats', {}, 2000).catch(() => null)
        maxWaiting = Math.max(maxWaiting, stats?.resources.admissionWaiting ?? 0)
        now = await status()
      }
      const elapsedMs = Date.now() - startedAt
      const cpu = cpuSeconds(pid) - cpuFrom
      const t = merge(await Promise.all(workers.map((worker) => worker.request('take'))))
      const result = {
        dialect,
        round,
        admission: pacing,
        label,
        clients: subscribed,
        back: t.recoveries.length,
        stillOut: now.recovering,
        stopped: t.stopped,
        p50Ms: percentile(t.recoveries, 0.5),
        p95Ms: percentile(t.recoveries, 0.95),
        maxMs: percentile(t.recoveries, 1),
        elapsedMs,
        attempts: t.attempts,
        refused: t.refused,
        connectErrors: t.connectErrors,
        closes: t.closes,
        maxAdmissionWaiting: maxWaiting,
        cpuPercent: 100 * cpu / (elapsedMs / 1000),
        publications: t.latencies.length,
        pubP50Ms: percentile(t.latencies, 0.5),
        pubP99Ms: percentile(t.latencies, 0.99)
      }
      cuts.push(result)
      const refused = Object.entries(result.refused).map(([s, n]) => `${n}× HTTP ${s}`).join(', ') || 'none'
      log(`pusher storm ${dialect} ${label} (${pacing}, round ${round}): ${result.back}/${subscribed} back (${result.stillOut} still out, ${result.stopped} stopped) in ${elapsedMs} ms; p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, max ${result.maxMs} ms; ${result.attempts} attempts, refused: ${refused}, ${result.connectErrors} TCP refused; closes ${JSON.stringify(result.closes)}; at most ${maxWaiting} in line; node CPU ${result.cpuPercent.toFixed(0)}%; publications meanwhile p50 ${result.pubP50Ms} ms, p99 ${result.pubP99Ms} ms`)
      await sleep(plan.gapMs)
    }
    await storm('kill', async () => { await node.request('kill') })
    await storm('restart', async () => {
      await node.stop(10_000)
      node = await startNode()
    })
  } finally {
    publishing.on = false
    await publishLoop
    await Promise.all(workers.map((worker) => worker.request('close', {}, 5000).catch(() => {})))
    await Promise.all(workers.map((worker) => worker.stop().catch(() => {})))
    await node.stop().catch(() => {})
  }
  return cuts
}

/**
 * Run the storm: Pusher's clients, then ours, `rounds` times.
 * @param {typeof PUSHER_STORM_PLAN} plan
 * @param {(line: string) => void} log
 */
export async function runPusherStorm (plan, log) {
  const cuts = []
  for (let round = 1; round <= plan.rounds; round++) {
    for (const admission of plan.admission) {
      for (const dialect of ['pusher', 'ours']) cuts.push(...await stormOf(dialect, round, admission, plan, log))
    }
  }
  return { plan, cuts }
}
