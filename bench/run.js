/**
 * `npm run bench [-- --quick] [-- --only=baseline|ours|floor] [-- --phases=memory,broadcast,ticks,fanout,storm,pusher]`:
 * the project's own load benchmark. The `pusher` phase (Pusher's protocol against ours on one
 * node: fan-out and a reconnect storm) runs only when named: `--phases=pusher`.
 *
 * Runs the same load against two servers, one after the other (never together, so they never
 * share the CPU): the baseline (plain `ws`, one setInterval per socket, bench/baseline-server.js)
 * and ours (the real demo app from dist/, bench/our-server.js). Server CPU is read from the
 * server child's /proc/<pid>/stat, so the load generator's cost is not counted. Prints a table
 * of ratios (ours / baseline) and writes bench/results/latest.json, summary.md and chart.svg.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Child, cpuSeconds, cpuTimes, percentile, rssBytes, sleep } from './harness.js'
import { LoadGenerator } from './load.js'
import { CHANNEL, measureBurst, measureSteady, Publisher } from './fanout.js'
import { buildFanoutFloorRows, buildFanoutRows, buildFloorRows, buildRows, renderMarkdown, renderPusher, renderStorm } from './report.js'
import { runStorm, STORM_PLAN } from './storm.js'
import { renderChart } from './chart.js'
import { PUSHER_FANOUT_PLAN, runPusherFanout } from './pusher-fanout.js'
import { PUSHER_STORM_PLAN, runPusherStorm } from './pusher-storm.js'

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url))

const args = new Set(process.argv.slice(2))
const quick = args.has('--quick')
const only = [...args].find((arg) => arg.startsWith('--only='))?.slice('--only='.length)
const ALL_PHASES = ['memory', 'broadcast', 'ticks', 'fanout', 'storm']
/** Phases that run only when named (they compare within themselves, not against the baseline). */
const OPT_IN_PHASES = ['pusher']
/**
 * Development aid: run only some phases, e.g. --phases=ticks,broadcast. summary.md and the chart
 * are written only by a run of every phase; a run with the fan-out phase prints its table.
 */
const phases = new Set(([...args].find((arg) => arg.startsWith('--phases='))?.slice('--phases='.length) ?? ALL_PHASES.join(',')).split(','))
for (const phase of phases) if (!ALL_PHASES.includes(phase) && !OPT_IN_PHASES.includes(phase)) throw new Error(`--phases: unknown phase "${phase}" (known: ${[...ALL_PHASES, ...OPT_IN_PHASES].join(', ')})`)

/** What each run measures; --quick is a ~1-minute subset. */
const PLAN = quick
  ? { memorySteps: [1000], memorySamples: 1, soakMs: 0, broadcastSteps: [1000], tickSteps: [1000], tickWindowMs: 5000, fanoutSteps: [1000], steadyWindowMs: 5000, workers: 2, settleMs: 1500, heartbeat: { intervalMs: 1000, timeoutMs: 1000 }, storm: { ...STORM_PLAN, clients: 1000, workers: 2, kills: 1 }, pusher: { fanout: { ...PUSHER_FANOUT_PLAN, steps: [1000], rounds: 2, steadyWindowMs: 3000, workers: 2, settleMs: 1000 }, storm: { ...PUSHER_STORM_PLAN, clients: 1000, rounds: 2 } } }
  : { memorySteps: [1000, 5000, 10000, 19800], memorySamples: 3, soakMs: 120_000, broadcastSteps: [1000, 5000, 10000], tickSteps: [1000, 5000, 10000], tickWindowMs: 15_000, fanoutSteps: [1000, 5000, 10000], steadyWindowMs: 10_000, workers: 3, settleMs: 3000, heartbeat: null, storm: STORM_PLAN, pusher: { fanout: PUSHER_FANOUT_PLAN, storm: PUSHER_STORM_PLAN } }
/**
 * Our heartbeat: the app's defaults (25 s interval, 10 s timeout) in a full run; a quick run
 * pings every second so that its memory step, too, is measured after a heartbeat round.
 */
const HEARTBEAT = PLAN.heartbeat ?? { intervalMs: 25_000, timeoutMs: 10_000 }
/**
 * How long idle sockets settle before memory is read: past one heartbeat round (interval +
 * timeout), because a socket's first pong makes ws keep a read buffer for the rest of its life
 * (about 150 bytes); measured before that, a socket would look cheaper than it stays.
 */
const MEMORY_SETTLE_MS = HEARTBEAT.intervalMs + HEARTBEAT.timeoutMs + 1000
/**
 * How long the warm-up sockets of an extra memory sample settle before the "before" reading:
 * they only need their first pong's read buffer counted, and 200 of them hold ~30 KB in all.
 */
const SAMPLE_WARMUP_SETTLE_MS = 5000
/** Development aid: --profile writes a V8 CPU profile of each server run to results/profiles/. */
const profile = args.has('--profile')
/**
 * Development aid: --floor-slot-ms=N sets the floor server's slot length (default 5, as our
 * ticker's): longer slots write bigger bursts, cheaper per tick in the kernel and slower.
 */
const floorSlotMs = Number([...args].find((arg) => arg.startsWith('--floor-slot-ms='))?.slice('--floor-slot-ms='.length) ?? 5)
if (!Number.isInteger(floorSlotMs) || floorSlotMs < 1) throw new Error('--floor-slot-ms must be a positive integer')
/** Development aid: --sockets=N runs every phase at N sockets only. */
const socketsArg = [...args].find((arg) => arg.startsWith('--sockets='))
if (socketsArg !== undefined) {
  const n = Number(socketsArg.slice('--sockets='.length))
  if (!Number.isInteger(n) || n < 1 || n > 19_800) throw new Error('--sockets must be an integer from 1 to 19800')
  Object.assign(PLAN, { memorySteps: [n], broadcastSteps: [n], tickSteps: [n], fanoutSteps: [n], workers: Math.max(PLAN.workers, Math.ceil(n / 9000)) })
}
const BROADCAST_COUNT = 100
const BROADCAST_SIZES = [64, 1024]
const IDLE_TICK_MS = 3000
const FAST_TICK_MS = 100
const SESSIONS = 20
/** Sockets connected before the memory baseline is taken (see memoryPhase). */
const WARMUP_SOCKETS = 200
/**
 * The fan-out phase's steady rate, as deliveries per second (publications/s × subscribers):
 * 50/s to 1k subscribers, 10/s to 5k, 5/s to 10k. Held constant so every server (the plain-ws
 * loop costs ~7 µs per delivery here) keeps up with room to spare on 2 cores beside the load
 * generator, and the window measures a steady state, not a backlog; 100/s to 10k subscribers
 * would be a million writes a second, past what even the floor can do.
 */
const STEADY_DELIVERIES_PER_SEC = 50_000
/** Above this, a steady "rate" to few subscribers (--sockets=N) would be a burst in all but name. */
const MAX_STEADY_RATE = 500

/**
 * The environment of our server: the demo app as `node dist/src/app/server.js` runs it in production.
 * Features with their own settings (heartbeat, limits, send budget) run with the app's defaults;
 * a per-IP connection limit must allow the generator's share per source address
 * (about 1,000 sockets per 127.0.0.x at 19.8k).
 */
function ourEnv (tickIntervalMs, phase) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    TICK_INTERVAL_MS: String(tickIntervalMs),
    CLOSE_GRACE_MS: '1000',
    HEARTBEAT_INTERVAL_MS: String(HEARTBEAT.intervalMs),
    HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT.timeoutMs),
    // Limits stay on, set above the load: ~825 sockets per source address, 19.8k in all,
    // opened as fast as the generator can.
    MAX_CONNECTIONS_PER_IP: '2000',
    MAX_CONNECTIONS: '25000',
    HANDSHAKE_RATE_PER_SEC: '5000',
    HANDSHAKE_BURST: '5000',
    // Admission pacing (a reconnect storm's newcomers in line) likewise: the storm phase runs its
    // own node with the defaults.
    ADMISSION_RATE_PER_SEC: '5000',
    ADMISSION_BURST: '5000',
    // The fan-out phase's publisher sends 100 publications at once, then up to 500/s: the
    // per-connection message limit (default 20/s, burst 40) is raised above that for this phase
    // only; every other phase runs with the default.
    ...(phase === 'fanout' ? { MESSAGE_RATE_PER_SEC: '1000', MESSAGE_BURST: '1000' } : {})
  }
}

const SERVERS = {
  baseline: {
    script: fileURLToPath(new URL('./baseline-server.js', import.meta.url)),
    env: (tickMs) => ({ PATH: process.env.PATH, TICK_MS: String(tickMs) }),
    path: '/',
    sessions: false
  },
  ours: {
    script: fileURLToPath(new URL('./our-server.js', import.meta.url)),
    env: ourEnv,
    path: '/ws',
    sessions: true
  },
  // Tick phase and the fan-out phase's steady rate: the cost no server can go below (bench/floor-server.js).
  floor: {
    script: fileURLToPath(new URL('./floor-server.js', import.meta.url)),
    env: (tickMs, phase) => ({ PATH: process.env.PATH, TICK_MS: String(tickMs), SLOT_MS: String(floorSlotMs), FANOUT: phase === 'fanout' ? '1' : '0' }),
    path: '/',
    sessions: false
  }
}

function log (line) {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
}

/** Get `count` session cookies from the demo page (each page view starts a visitor session). */
async function sessionCookies (port, count) {
  const cookies = []
  for (let i = 0; i < count; i++) {
    const cookie = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume()
        const setCookie = res.headers['set-cookie']?.[0]
        if (!setCookie) reject(new Error(`GET / gave no session cookie (HTTP ${res.statusCode})`))
        else resolve(setCookie.split(';')[0])
      }).on('error', reject)
    })
    cookies.push(cookie)
  }
  return cookies
}

/**
 * Start one server and a load generator for it.
 * @param {string} kind baseline | ours | floor
 * @param {number} tickMs tick interval (0: no ticks)
 * @param {string} [phase] the phase it serves, when that changes its environment
 */
async function startServer (kind, tickMs, phase) {
  const spec = SERVERS[kind]
  const execArgv = ['--expose-gc', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}profiles`] : [])]
  const server = new Child(spec.script, { env: spec.env(tickMs, phase), execArgv, cwd: BENCH_DIR })
  const { port } = await server.ready
  const cookies = spec.sessions ? await sessionCookies(port, SESSIONS) : []
  const load = new LoadGenerator({ port, path: spec.path, cookies, workers: PLAN.workers })
  return { server, load, port, cookies }
}

async function stopAll ({ server, load }) {
  await load.close()
  await server.stop()
}

async function memory (server) {
  const usage = await server.request('mem')
  return { heapUsed: usage.heapUsed, rss: rssBytes(server.pid) }
}

/** Per-socket growth of RSS and heap from `before` to `after`, over `added` sockets. */
function perSocket (before, after, added) {
  return { rssPerSocket: (after.rss - before.rss) / added, heapPerSocket: (after.heapUsed - before.heapUsed) / added }
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Memory per idle socket (ticks every 3 s) at each step, then the soak at the largest, then
 * more samples of the largest step, each on a fresh server.
 *
 * Why several samples: V8 decides during the connect burst how many old-generation pages to
 * commit, and a full GC frees objects but keeps partly used pages. The same server, same load,
 * left between 12 and 48 MiB of committed but free old space at 19.8k sockets from one run to
 * the next (RSS per socket 0.87×–1.21× of the baseline's). The median of fresh servers is the
 * figure; the summary also gives the range.
 */
async function memoryPhase (kind) {
  const run = await startServer(kind, IDLE_TICK_MS)
  const { server, load } = run
  const result = { steps: [], soak: null }
  try {
    // Warm-up: the first sockets also pay for one-off work (code compiled on the connect path,
    // heap and buffer pools growing); measuring from after them counts what each socket costs.
    const warm = await load.connectTo(WARMUP_SOCKETS)
    await sleep(MEMORY_SETTLE_MS)
    const before = await memory(server)
    for (const sockets of PLAN.memorySteps) {
      const connect = await load.connectTo(sockets)
      await sleep(MEMORY_SETTLE_MS)
      const after = await memory(server)
      const step = {
        sockets,
        connected: connect.connected,
        failed: connect.failed,
        connectMs: connect.ms,
        ...perSocket(before, after, connect.connected - warm.connected)
      }
      result.steps.push(step)
      log(`${kind} memory @${sockets}: ${(step.rssPerSocket / 1024).toFixed(2)} KB RSS, ${(step.heapPerSocket / 1024).toFixed(2)} KB heap per socket (${connect.connected} connected, ${connect.failed} failed, ${connect.ms} ms)`)
    }
    if (PLAN.soakMs > 0) result.soak = await soak(kind, run)
  } finally {
    await stopAll(run)
  }
  const largest = result.steps[result.steps.length - 1]
  const samples = [{ rssPerSocket: largest.rssPerSocket, heapPerSocket: largest.heapPerSocket }]
  while (samples.length < PLAN.memorySamples) samples.push(await memorySample(kind, largest.sockets, samples.length + 1))
  largest.rssSamples = samples.map((sample) => sample.rssPerSocket)
  largest.heapSamples = samples.map((sample) => sample.heapPerSocket)
  largest.rssPerSocket = median(largest.rssSamples)
  largest.heapPerSocket = median(largest.heapSamples)
  return result
}

/** One more memory reading of `sockets` idle sockets, on a fresh server. */
async function memorySample (kind, sockets, index) {
  const run = await startServer(kind, IDLE_TICK_MS)
  try {
    const warm = await run.load.connectTo(WARMUP_SOCKETS)
    await sleep(SAMPLE_WARMUP_SETTLE_MS)
    const before = await memory(run.server)
    const connect = await run.load.connectTo(sockets)
    await sleep(MEMORY_SETTLE_MS)
    const sample = perSocket(before, await memory(run.server), connect.connected - warm.connected)
    log(`${kind} memory @${sockets}, sample ${index} (fresh server): ${(sample.rssPerSocket / 1024).toFixed(2)} KB RSS, ${(sample.heapPerSocket / 1024).toFixed(2)} KB heap per socket (${connect.connected} connected)`)
    return sample
  } finally {
    await stopAll(run)
  }
}

/** The largest step's sockets held for PLAN.soakMs: drops, ticks, memory growth. */
async function soak (kind, { server, load }) {
  const sockets = PLAN.memorySteps[PLAN.memorySteps.length - 1]
  const start = await memory(server)
  await load.reset()
  const cpu0 = cpuSeconds(server.pid)
  const samples = []
  for (let elapsed = 0; elapsed < PLAN.soakMs; elapsed += 30_000) {
    await sleep(Math.min(30_000, PLAN.soakMs - elapsed))
    samples.push(await memory(server))
  }
  const end = samples[samples.length - 1]
  const report = await load.report()
  const expectedTicks = Math.floor(sockets * PLAN.soakMs / IDLE_TICK_MS)
  const result = {
    sockets,
    durationMs: PLAN.soakMs,
    open: report.open,
    unexpectedCloses: report.unexpectedCloses,
    ticks: report.counts.tick,
    expectedTicks,
    cpuPercent: 100 * (cpuSeconds(server.pid) - cpu0) / (PLAN.soakMs / 1000),
    heapGrowthBytes: end.heapUsed - start.heapUsed,
    rssGrowthBytes: end.rss - start.rss,
    heapSamples: samples.map((sample) => sample.heapUsed)
  }
  log(`${kind} soak @${sockets} for ${PLAN.soakMs / 1000} s: ${report.open} open, ${report.unexpectedCloses} dropped, ticks ${report.counts.tick}/${expectedTicks}, heap ${(result.heapGrowthBytes / 1048576).toFixed(2)} MiB, RSS ${(result.rssGrowthBytes / 1048576).toFixed(2)} MiB`)
  return result
}

/** Broadcast bursts: 100 messages of each size to every socket, at each step. */
async function broadcastPhase (kind) {
  const run = await startServer(kind, IDLE_TICK_MS)
  const { server, load } = run
  const steps = []
  try {
    for (const sockets of PLAN.broadcastSteps) {
      const { connected } = await load.connectTo(sockets)
      await sleep(PLAN.settleMs)
      for (const bytes of BROADCAST_SIZES) {
        await load.reset()
        const expected = BROADCAST_COUNT * connected
        const cpu0 = cpuSeconds(server.pid)
        const started = Date.now()
        const { loopMs, sent } = await server.request('broadcast', { count: BROADCAST_COUNT, bytes })
        const { report, finished } = await load.waitFor((r) => r.counts.broadcast >= expected, 120_000, 20)
        const elapsedMs = Date.now() - started
        const cpu = cpuSeconds(server.pid) - cpu0
        const step = {
          sockets,
          bytes,
          sent,
          delivered: report.counts.broadcast,
          expected,
          allDelivered: finished,
          cpuUsPerMessage: 1e6 * cpu / Math.max(1, report.counts.broadcast),
          loopUsPerMessage: 1000 * loopMs / Math.max(1, sent),
          deliveredPerSecond: report.counts.broadcast / (elapsedMs / 1000),
          p50Ms: percentile(report.hist, 0.5),
          p99Ms: percentile(report.hist, 0.99)
        }
        steps.push(step)
        log(`${kind} broadcast ${BROADCAST_COUNT}×${bytes} B @${sockets}: ${step.delivered}/${expected} delivered, ${step.cpuUsPerMessage.toFixed(2)} µs CPU and ${step.loopUsPerMessage.toFixed(2)} µs send loop per message, p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms`)
        await sleep(500)
      }
    }
  } finally {
    await stopAll(run)
  }
  return steps
}

/** Ticks at 10 Hz to every socket: server CPU per delivered tick and latency. */
async function tickPhase (kind) {
  const run = await startServer(kind, FAST_TICK_MS)
  const { server, load } = run
  const steps = []
  try {
    for (const sockets of PLAN.tickSteps) {
      const { connected } = await load.connectTo(sockets)
      await sleep(Math.max(2000, PLAN.settleMs))
      await load.reset()
      const cpu0 = cpuTimes(server.pid)
      const started = Date.now()
      await sleep(PLAN.tickWindowMs)
      const report = await load.report()
      const seconds = (Date.now() - started) / 1000
      const cpu1 = cpuTimes(server.pid)
      const systemCpu = cpu1.system - cpu0.system
      const cpu = cpu1.user - cpu0.user + systemCpu
      const expected = connected * seconds * (1000 / FAST_TICK_MS)
      const step = {
        sockets,
        connected,
        ticks: report.counts.tick,
        deliveredRatio: report.counts.tick / expected,
        ticksPerSecond: report.counts.tick / seconds,
        cpuPercent: 100 * cpu / seconds,
        cpuUsPerTick: 1e6 * cpu / Math.max(1, report.counts.tick),
        systemShare: cpu > 0 ? systemCpu / cpu : 0,
        p50Ms: percentile(report.hist, 0.5),
        p99Ms: percentile(report.hist, 0.99)
      }
      steps.push(step)
      log(`${kind} ticks @${sockets}×10 Hz: ${Math.round(step.ticksPerSecond)} ticks/s (${(100 * step.deliveredRatio).toFixed(1)}% of due), server ${step.cpuPercent.toFixed(1)}% CPU (${Math.round(100 * step.systemShare)}% in the kernel), ${step.cpuUsPerTick.toFixed(2)} µs per tick, p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms`)
    }
  } finally {
    await stopAll(run)
  }
  return steps
}

/** Publications per second of the steady rate to `sockets` subscribers (see STEADY_DELIVERIES_PER_SEC). */
function steadyRate (sockets) {
  return Math.min(MAX_STEADY_RATE, Math.max(1, Math.round(STEADY_DELIVERIES_PER_SEC / sockets)))
}

/** One line per fan-out measurement. */
function logFanout (kind, label, step) {
  const order = step.allInOrder ? 'all in order' : `${step.outOfOrder} out of order, ${step.accepted}/${step.published} accepted`
  log(`${kind} fan-out ${label} @${step.sockets}: ${step.delivered}/${step.expected} delivered (${order}), ${step.cpuUsPerDelivery.toFixed(2)} µs CPU per delivered publication, server ${step.cpuPercent.toFixed(1)}% CPU, p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms`)
}

/**
 * Channel fan-out: N sockets subscribe to the demo's `chat` channel through the protocol, one
 * publisher socket (with a visitor session: the demo's chat takes publications from visitors
 * only) publishes; server CPU per delivered publication, every publication delivered in order
 * on every socket, latency from the publisher's send. At each step: a burst of 100, then a
 * steady rate. The floor runs the steady rate only: a burst can be written for less than one
 * write per publication per socket, so it is no floor for that.
 *
 * Ticks are off for all three servers: the CPU measured is what the publications cost, not a
 * ticker's (each server ticks differently, and a 3 s tick to 10k sockets would add several
 * percent to a steady window). Our heartbeat stays at the app's default, as in the other phases.
 */
async function fanoutPhase (kind) {
  const run = await startServer(kind, 0, 'fanout')
  const { server, load } = run
  const publisher = new Publisher({ port: run.port, path: SERVERS[kind].path, cookie: run.cookies[0] ?? '' })
  const result = { burst: [], steady: [] }
  try {
    await publisher.ready
    for (const sockets of PLAN.fanoutSteps) {
      const connect = await load.connectTo(sockets)
      const { subscribed, failed, ms } = await load.subscribeAll(CHANNEL)
      log(`${kind} fan-out @${sockets}: ${connect.connected} connected, ${subscribed} subscribed to "${CHANNEL}" (${failed} failed, ${ms} ms)`)
      await sleep(PLAN.settleMs)
      const measured = { server, load, publisher, subscribed }
      if (kind !== 'floor') {
        const burst = { sockets, ...await measureBurst(measured) }
        result.burst.push(burst)
        logFanout(kind, 'burst', burst)
        await sleep(500)
      }
      const steady = { sockets, ...await measureSteady(measured, steadyRate(sockets), PLAN.steadyWindowMs) }
      result.steady.push(steady)
      logFanout(kind, `${steady.ratePerSec}/s for ${PLAN.steadyWindowMs / 1000} s`, steady)
    }
  } finally {
    publisher.close()
    await stopAll(run)
  }
  return result
}

/**
 * The Pusher phase: its own node (both protocols), its own comparison (Pusher / ours in the same
 * run), its own files: results/pusher[-quick].json and .md.
 */
async function pusherPhase (machine) {
  const fanout = await runPusherFanout(PLAN.pusher.fanout, log)
  const storm = await runPusherStorm(PLAN.pusher.storm, log)
  const summary = { date: new Date().toISOString(), mode: quick ? 'quick' : 'full', command: `npm run bench -- ${process.argv.slice(2).join(' ')}`, machine, plan: PLAN.pusher, fanout, storm }
  const markdown = renderPusher(summary, fanout, storm)
  process.stdout.write(`\n${markdown}\n`)
  mkdirSync(RESULTS_DIR, { recursive: true })
  const name = `pusher${quick ? '-quick' : ''}`
  writeFileSync(`${RESULTS_DIR}${name}.json`, JSON.stringify(summary, null, 2))
  writeFileSync(`${RESULTS_DIR}${name}.md`, markdown)
  log(`wrote ${RESULTS_DIR}${name}.json, ${name}.md`)
}

async function main () {
  const kinds = only ? [only] : ['baseline', 'ours', 'floor']
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform }
  log(`fastify-realtime bench (${quick ? 'quick' : 'full'}) on ${machine.cpus}× ${machine.cpuModel}, Node ${machine.node}`)
  if (phases.has('pusher')) await pusherPhase(machine)
  // The other phases compare against the baseline: with only the Pusher phase named, none runs.
  if (ALL_PHASES.every((phase) => !phases.has(phase))) return
  const results = {}
  for (const kind of kinds) {
    const full = kind !== 'floor'
    results[kind] = {
      memory: full && phases.has('memory') ? await memoryPhase(kind) : null,
      broadcast: full && phases.has('broadcast') ? await broadcastPhase(kind) : null,
      ticks: phases.has('ticks') ? await tickPhase(kind) : null,
      fanout: phases.has('fanout') ? await fanoutPhase(kind) : null,
      // The reconnect storm measures our own recovery (the baseline has none to compare with).
      storm: kind === 'ours' && phases.has('storm') ? await runStorm(PLAN.storm, log) : null
    }
  }
  const summary = { date: new Date().toISOString(), mode: quick ? 'quick' : 'full', command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, machine, plan: PLAN, results }
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(`${RESULTS_DIR}latest${quick ? '-quick' : ''}.json`, JSON.stringify(summary, null, 2))
  const fanoutFloorRows = results.floor?.fanout ? buildFanoutFloorRows(results.baseline?.fanout, results.ours?.fanout, results.floor.fanout) : []
  if (results.baseline && results.ours && ALL_PHASES.every((phase) => phases.has(phase))) {
    const rows = buildRows(results.baseline, results.ours)
    const markdown = renderMarkdown(summary, rows, results.floor?.ticks ? buildFloorRows(results.baseline, results.ours, results.floor) : [], fanoutFloorRows)
    process.stdout.write(`\n${markdown}\n`)
    writeFileSync(`${RESULTS_DIR}summary${quick ? '-quick' : ''}.md`, markdown)
    writeFileSync(`${RESULTS_DIR}chart${quick ? '-quick' : ''}.svg`, renderChart(summary, rows))
    log(`wrote ${RESULTS_DIR}latest${quick ? '-quick' : ''}.json, summary${quick ? '-quick' : ''}.md, chart${quick ? '-quick' : ''}.svg`)
  } else if (results.baseline?.fanout && results.ours?.fanout) {
    // A partial run prints the fan-out table; summary.md and the chart stay the last full run's.
    const rows = buildFanoutRows(results.baseline.fanout, results.ours.fanout)
    process.stdout.write(`\n${renderMarkdown(summary, rows, [], fanoutFloorRows)}\n`)
  } else if (results.ours?.storm) {
    process.stdout.write(`\n${renderStorm(results.ours.storm)}\n`)
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`)
  process.exitCode = 1
})
