/**
 * The reconnect storm: a bench phase (`npm run bench -- --phases=storm`, part of a full run) and a
 * program of its own (`npm run build && node bench/storm.js [--clients=N] [--workers=N] [--kills=N]
 * [--sigkills=N] [--rate=N] [--admission-rate=N] [--admission-burst=N] [--json]`), which test/redis/storm.test.ts
 * runs at CI size. It needs redis-server (it starts a private one).
 *
 * One node (bench/storm-server.js) on a private Redis holds N clients (bench/storm-worker.js: a
 * third `since` WebSockets, a third bare WebSockets that resume with their token, a third event
 * streams that resume with Last-Event-ID), each subscribed to every storm channel. Publications
 * flow at a steady rate, straight into Redis (so they go on while the node is down). Every
 * client's connection is then cut several times: the node kills every socket (no close frame)
 * `kills` times, then the node is restarted (SIGTERM: a drain with jittered retry hints, then a new
 * process on the same port), then `sigkills` times the node is killed with SIGKILL (no drain, no
 * resume state saved at close) and started again. After each cut the phase waits until every
 * client has recovered. At the end every client must hold every publication of every channel
 * exactly once, in order, or, for a token-only client after a SIGKILL, have been told per channel
 * (`recovered: false`) what it lost: no silent gap.
 *
 * Reported: per cut, the clients cut, p50/p95/max time to recover (from the moment a client saw
 * the cut to the moment it had caught up with every channel), the node's CPU during the storm, the
 * most clients waiting for admission at once; then delivery (complete clients, duplicates, gaps).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { Child, cpuSeconds, sleep } from './harness.js'
import { RedisAdapter } from '../dist/src/adapters/redis/index.js'

const SERVER = fileURLToPath(new URL('./storm-server.js', import.meta.url))
const WORKER = fileURLToPath(new URL('./storm-worker.js', import.meta.url))
const ADDRESSES_PER_WORKER = 16
/** History kept per channel: longer than the longest outage at the storm's rate. */
const CHANNEL_HISTORY = 5000

/** What a storm runs; `quick` and the test scale it down. */
export const STORM_PLAN = { clients: 3000, workers: 3, channels: 2, ratePerSec: 10, kills: 2, sigkills: 1, warmupMs: 2000, gapMs: 2000, recoveryDeadlineMs: 60_000 }

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startRedis () {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'rt-storm-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise((resolve, reject) => {
    let output = ''
    child.once('error', (err) => reject(new Error(`redis-server could not be run: ${err.message}`)))
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A percentile of a list of milliseconds. */
function percentile (values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

/**
 * Run one storm.
 * @param {typeof STORM_PLAN} plan
 * @param {(line: string) => void} log
 */
export async function runStorm (plan, log) {
  const redis = await startRedis()
  const port = await freePort()
  const channels = Array.from({ length: plan.channels }, (_, i) => `storm:${i}`)
  const env = {
    PATH: process.env.PATH,
    PORT: String(port),
    REDIS_URL: redis.url,
    CHANNEL_HISTORY: String(CHANNEL_HISTORY),
    RESUME_SECRET: randomBytes(32).toString('hex'),
    ...(plan.admissionRatePerSec === undefined ? {} : { ADMISSION_RATE_PER_SEC: String(plan.admissionRatePerSec) }),
    ...(plan.admissionBurst === undefined ? {} : { ADMISSION_BURST: String(plan.admissionBurst) })
  }
  const startNode = async () => {
    const node = new Child(SERVER, { env })
    await node.ready
    return node
  }
  let node = await startNode()
  const publisher = new RedisAdapter({ url: redis.url, keyPrefix: 'storm:' })
  await publisher.init({ onPublication: () => {}, onPresence: () => {} })
  const workers = Array.from({ length: plan.workers }, () => new Child(WORKER))
  const per = Math.ceil(plan.clients / plan.workers)
  const publishing = { on: true }
  let published = 0
  const cuts = []
  try {
    const started = await Promise.all(workers.map((worker, i) => worker.request('start', {
      port, channels, count: Math.min(per, plan.clients - i * per), kindOffset: i * per, firstAddress: 2 + i * ADDRESSES_PER_WORKER, addresses: ADDRESSES_PER_WORKER
    })))
    const subscribed = started.reduce((sum, r) => sum + r.subscribed, 0)
    log(`storm: ${subscribed}/${plan.clients} clients subscribed to ${channels.length} channels`)
    const publishLoop = (async () => {
      const begun = Date.now()
      for (let n = 0; publishing.on; n++) {
        const due = begun + n * 1000 / plan.ratePerSec
        if (due > Date.now()) await sleep(due - Date.now())
        await Promise.all(channels.map((channel) => publisher.publish(channel, { n, t: Date.now() }, { historySize: CHANNEL_HISTORY, historyTtlMs: 600_000 })))
        published++
      }
    })()
    await sleep(plan.warmupMs)

    const status = async () => {
      const all = await Promise.all(workers.map((worker) => worker.request('status')))
      return { open: all.reduce((s, r) => s + r.open, 0), recovering: all.reduce((s, r) => s + r.recovering, 0) }
    }
    /** Cut every client with `cut`, then wait until every one of them has recovered. */
    const storm = async (label, cut) => {
      const before = await status()
      const started = Date.now()
      let cpu = 0
      let pid = node.pid
      let cpuFrom = cpuSeconds(pid)
      const cutResult = await cut()
      if (node.pid !== pid) {
        // A restart: the old process's CPU until it exited is gone with it; count the new one from its start.
        pid = node.pid
        cpuFrom = 0
      }
      let maxWaiting = 0
      let now = await status()
      while ((now.recovering > 0 || now.open < before.open) && Date.now() - started < plan.recoveryDeadlineMs) {
        await sleep(100)
        const stats = await node.request('stats').catch(() => null)
        maxWaiting = Math.max(maxWaiting, stats?.resources.admissionWaiting ?? 0)
        now = await status()
      }
      const elapsedMs = Date.now() - started
      cpu = cpuSeconds(pid) - cpuFrom
      const recoveries = (await Promise.all(workers.map((worker) => worker.request('recoveries')))).flatMap((r) => r.recoveries)
      const result = {
        label,
        cut: cutResult,
        recovered: recoveries.length,
        stillRecovering: now.recovering,
        open: now.open,
        p50Ms: percentile(recoveries, 0.5),
        p95Ms: percentile(recoveries, 0.95),
        maxMs: percentile(recoveries, 1),
        elapsedMs,
        cpuPercent: 100 * cpu / (elapsedMs / 1000),
        maxAdmissionWaiting: maxWaiting
      }
      cuts.push(result)
      log(`storm ${label}: ${result.recovered} recovered (${result.stillRecovering} still recovering, ${result.open} open) in ${elapsedMs} ms; time to recover p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, max ${result.maxMs} ms; node CPU ${result.cpuPercent.toFixed(0)}%; at most ${maxWaiting} waiting for admission`)
      await sleep(plan.gapMs)
    }
    for (let k = 1; k <= plan.kills; k++) {
      await storm(`kill ${k}`, async () => (await node.request('kill')).killed)
    }
    await storm('node restart', async () => {
      await node.stop(10_000)
      node = await startNode()
      return 'restarted'
    })
    for (let k = 1; k <= (plan.sigkills ?? 0); k++) {
      // A crash: no drain, nothing saved at close; what the node saved while its clients were open is all there is.
      await storm(`node SIGKILL ${k}`, async () => {
        const exited = new Promise((resolve) => node.process.once('exit', resolve))
        node.process.kill('SIGKILL')
        await exited
        node = await startNode()
        return 'killed'
      })
    }

    publishing.on = false
    await publishLoop
    const finals = {}
    for (const channel of channels) finals[channel] = (await publisher.recent(channel, 0)).position
    let report
    for (let waited = 0; ; waited += 500) {
      report = (await Promise.all(workers.map((worker) => worker.request('report', { finals })))).map((r) => r.byKind)
      const behind = report.reduce((sum, byKind) => sum + Object.values(byKind).reduce((s, k) => s + k.behind, 0), 0)
      if (behind === 0 || waited >= 15_000) break
      await sleep(500)
    }
    const delivery = {}
    for (const byKind of report) {
      for (const [kind, summary] of Object.entries(byKind)) {
        const total = delivery[kind] ??= { clients: 0, complete: 0, duplicates: 0, gaps: 0, behind: 0, notRecovered: 0, toldMissed: 0, resumeRefused: 0 }
        for (const key of Object.keys(total)) total[key] += summary[key]
      }
    }
    const expectedPerChannel = Object.values(finals)[0]?.offset ?? 0
    log(`storm delivery: ${published} publications on each of ${channels.length} channels; ${Object.entries(delivery).map(([kind, d]) => `${kind}: ${d.complete}/${d.clients} complete, ${d.duplicates} duplicates, ${d.gaps} missed, ${d.behind} behind, ${d.notRecovered} channels told not recovered (${d.toldMissed} publications told lost), ${d.resumeRefused} resumes refused`).join('; ')}`)
    const stats = await node.request('stats')
    return { plan, clients: plan.clients, channels: channels.length, publishedPerChannel: expectedPerChannel, cuts, delivery, nodeResources: stats.resources }
  } finally {
    publishing.on = false
    await Promise.all(workers.map((worker) => worker.request('close').catch(() => {})))
    await node.stop().catch(() => {})
    await publisher.close()
    await redis.stop()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const number = (name, fallback) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
  const plan = {
    ...STORM_PLAN,
    clients: number('clients', STORM_PLAN.clients),
    workers: number('workers', STORM_PLAN.workers),
    kills: number('kills', STORM_PLAN.kills),
    sigkills: number('sigkills', STORM_PLAN.sigkills),
    ratePerSec: number('rate', STORM_PLAN.ratePerSec),
    ...(args.some((arg) => arg.startsWith('--admission-rate=')) ? { admissionRatePerSec: number('admission-rate', 0) } : {}),
    ...(args.some((arg) => arg.startsWith('--admission-burst=')) ? { admissionBurst: number('admission-burst', 0) } : {})
  }
  const json = args.includes('--json')
  const log = (line) => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`) }
  runStorm(plan, log).then((result) => {
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`)
  }, (err) => {
    process.stderr.write(`storm failed: ${err.stack ?? err}\n`)
    process.exitCode = 1
  })
}
