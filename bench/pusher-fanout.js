/**
 * The Pusher fan-out comparison (`npm run bench -- --phases=pusher`): one node serving both
 * protocols (bench/pusher-server.js), N subscribers speaking Pusher's protocol on `/app/<key>`
 * against N speaking ours on `/ws`, on the same channel, under the same publications (made
 * in-process, so neither publisher's protocol is measured), in the same run, on the same server
 * process. The two dialects take turns (ours, Pusher, then Pusher, ours: neither always goes
 * first on a warmer or colder machine), each with a fresh load generator; at each turn an
 * unmeasured burst (warm-up), measured bursts of 100 publications (as many, one after the other,
 * as make about a million deliveries), then a steady rate. Reported per turn: server CPU per delivered publication,
 * delivered rate, p50/p99 latency from the publication's send time, in sequence on every socket;
 * then Pusher / ours per round (the target: ≤ 1.1×).
 *
 * The subscribers are raw-frame sockets (bench/rfc6455-client.js reading bench/stamped-frames.js),
 * not pusher-js: a pusher-js client would measure its own cost, not the server's.
 */
import { fileURLToPath } from 'node:url'
import { Child, cpuSeconds, percentile, sleep } from './harness.js'
import { LoadGenerator } from './load.js'
import { dialectPath } from './stamped-frames.js'

const SERVER = fileURLToPath(new URL('./pusher-server.js', import.meta.url))
/** Public on both sides: anyone subscribes, only the server publishes. */
const CHANNEL = 'bench-fanout'
const BURST_COUNT = 100
const DELIVERY_TIMEOUT_MS = 120_000
/** Deliveries per second of the steady rate (as the fan-out phase: a steady state, not a backlog). */
const STEADY_DELIVERIES_PER_SEC = 50_000

/**
 * Deliveries a measured burst step aims at: enough bursts of 100 back to back (each once the one
 * before was delivered) that the server's CPU, read from /proc in 10 ms ticks, is counted to ~2%.
 */
const BURST_DELIVERIES = 1_000_000

/** What the comparison runs; `quick` scales it down. */
export const PUSHER_FANOUT_PLAN = { steps: [1000, 5000], rounds: 2, steadyWindowMs: 10_000, workers: 3, settleMs: 2000 }

/**
 * Publish with `send` (resolves with how many) and wait until each reached every subscriber.
 * @param {{ server: Child, load: LoadGenerator, subscribed: number }} run
 */
async function measure ({ server, load, subscribed }, send) {
  await load.reset()
  const cpu0 = cpuSeconds(server.pid)
  const started = Date.now()
  const published = await send()
  const expected = published * subscribed
  const { report, finished } = await load.waitFor((r) => r.counts.pub >= expected, DELIVERY_TIMEOUT_MS, 20)
  const elapsedMs = Date.now() - started
  const cpu = cpuSeconds(server.pid) - cpu0
  const delivered = report.counts.pub
  return {
    subscribed,
    published,
    expected,
    delivered,
    outOfOrder: report.counts.outOfOrder,
    allInOrder: finished && delivered === expected && report.counts.outOfOrder === 0,
    cpuUsPerDelivery: 1e6 * cpu / Math.max(1, delivered),
    cpuPercent: 100 * cpu / (elapsedMs / 1000),
    deliveredPerSecond: delivered / (elapsedMs / 1000),
    p50Ms: percentile(report.hist, 0.5),
    p99Ms: percentile(report.hist, 0.99)
  }
}

/** `count` bursts of {@link BURST_COUNT}, each written once the one before reached every subscriber. */
async function bursts (run, count) {
  return await measure(run, async () => {
    for (let i = 0; i < count; i++) {
      await run.server.request('burst', { channel: CHANNEL, count: BURST_COUNT })
      if (i < count - 1) await run.load.waitFor((r) => r.counts.pub >= (i + 1) * BURST_COUNT * run.subscribed, DELIVERY_TIMEOUT_MS, 10)
    }
    return count * BURST_COUNT
  })
}

/** One publication every 1/`ratePerSec` s for `durationMs`, on a clock. */
async function steady (server, ratePerSec, durationMs) {
  const total = Math.max(1, Math.round(ratePerSec * durationMs / 1000))
  const started = Date.now()
  for (let i = 0; i < total; i++) {
    const wait = started + i * 1000 / ratePerSec - Date.now()
    if (wait > 0) await sleep(wait)
    await server.request('publish', { channel: CHANNEL })
  }
  return total
}

/** One dialect's turn at `sockets` subscribers: connect, subscribe, burst, steady rate, close. */
async function turn (server, port, dialect, sockets, plan, log) {
  const load = new LoadGenerator({ port, path: dialectPath(dialect), cookies: [], workers: plan.workers, dialect })
  try {
    const connect = await load.connectTo(sockets)
    const { subscribed, failed } = await load.subscribeAll(CHANNEL)
    if (subscribed < sockets) log(`pusher fan-out: ${dialect} ${connect.connected}/${sockets} connected, ${subscribed} subscribed (${failed} failed)`)
    await sleep(plan.settleMs)
    const run = { server, load, subscribed }
    // Warm-up, not measured: the first bursts of a dialect also compile its send path.
    await bursts(run, 2)
    await sleep(500)
    const count = Math.max(1, Math.round(BURST_DELIVERIES / (BURST_COUNT * subscribed)))
    const burst = { bursts: count, ...await bursts(run, count) }
    await sleep(500)
    const ratePerSec = Math.min(500, Math.max(1, Math.round(STEADY_DELIVERIES_PER_SEC / sockets)))
    const steadyResult = { ratePerSec, ...await measure(run, async () => await steady(server, ratePerSec, plan.steadyWindowMs)) }
    for (const [label, m] of [[`${burst.bursts} bursts of 100`, burst], [`${ratePerSec}/s for ${plan.steadyWindowMs / 1000} s`, steadyResult]]) {
      log(`pusher fan-out ${dialect} ${label} @${sockets}: ${m.delivered}/${m.expected} delivered${m.allInOrder ? ', all in sequence' : `, ${m.outOfOrder} out of sequence`}, ${m.cpuUsPerDelivery.toFixed(2)} µs CPU per delivery, ${(m.deliveredPerSecond / 1000).toFixed(0)}k/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms`)
    }
    return { dialect, sockets, burst, steady: steadyResult }
  } finally {
    await load.close()
  }
}

/**
 * Run the comparison.
 * @param {typeof PUSHER_FANOUT_PLAN} plan
 * @param {(line: string) => void} log
 */
export async function runPusherFanout (plan, log) {
  // Limits above the load (the fan-out measures delivery, not the gate): connects as fast as the generator can.
  const server = new Child(SERVER, { env: { PATH: process.env.PATH, ADMISSION_RATE_PER_SEC: '100000', ADMISSION_BURST: '100000' }, execArgv: ['--expose-gc'] })
  const { port } = await server.ready
  const turns = []
  try {
    for (const sockets of plan.steps) {
      for (let round = 1; round <= plan.rounds; round++) {
        const order = round % 2 === 1 ? ['ours', 'pusher'] : ['pusher', 'ours']
        for (const dialect of order) turns.push({ round, ...await turn(server, port, dialect, sockets, plan, log) })
      }
    }
  } finally {
    await server.stop()
  }
  return { plan, turns, ratios: pusherRatios(turns) }
}

/**
 * Pusher / ours per step, round and measure: CPU per delivery, delivered rate (inverted: ours / Pusher,
 * so that above 1 is Pusher's cost either way) and p99.
 */
export function pusherRatios (turns) {
  const ratios = []
  for (const t of turns.filter((x) => x.dialect === 'pusher')) {
    const mine = turns.find((x) => x.dialect === 'ours' && x.sockets === t.sockets && x.round === t.round)
    if (mine === undefined) continue
    for (const kind of ['burst', 'steady']) {
      const p = t[kind]
      const o = mine[kind]
      ratios.push({
        sockets: t.sockets,
        round: t.round,
        kind: kind === 'burst' ? `${p.bursts} bursts of 100` : `${p.ratePerSec}/s`,
        cpu: p.cpuUsPerDelivery / o.cpuUsPerDelivery,
        rate: o.deliveredPerSecond / p.deliveredPerSecond,
        p99: o.p99Ms > 0 ? p.p99Ms / o.p99Ms : null,
        pusher: p,
        ours: o
      })
    }
  }
  return ratios
}
