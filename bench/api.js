/**
 * `npm run bench:api [-- --quick]`: the HTTP API under load, against the in-process publish of
 * the same server in the same run. Our server (the demo app from dist/, production mode, API_KEYS
 * set) is forked once; then, for each concurrency, N publications go to one channel:
 *   1. in-process: `fastify.realtime.publish` called N times inside the server (IPC command),
 *      `concurrency` at a time, the yardstick;
 *   2. through HTTP: N `POST /api/publish` requests over keep-alive connections (undici Pool),
 *      `concurrency` in flight, each authenticated, rate-limited (limit raised above the load),
 *      validated and answered.
 * Reported: publications per second and server CPU per publication of each, and their ratios
 * (HTTP / in-process). Server CPU is read from /proc, so the load generator's cost is not counted.
 */
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { Child, cpuSeconds, sleep } from './harness.js'

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))
const quick = process.argv.includes('--quick')
const COUNT = quick ? 2000 : 20_000
/** The in-process path is ~20× faster: ten times as many, so its CPU reading (10 ms ticks) means something. */
const LOCAL_COUNT = COUNT * 10
const CONCURRENCY = [1, 32]
const KEY = randomBytes(32).toString('hex')
/** A server-only channel of the demo with a short history: the publish path without fan-out. */
const CHANNEL = 'announcements'

function log (line) {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
}

async function startServer () {
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    TICK_INTERVAL_MS: '0',
    API_KEYS: `bench:${KEY}:*`,
    // The rate limit stays on, set above the benchmark's load.
    API_RATE_LIMIT_PER_MINUTE: '1000000'
  }
  const server = new Child(`${BENCH_DIR}our-server.js`, { env, cwd: BENCH_DIR, execArgv: ['--expose-gc'] })
  const { port } = await server.ready
  return { server, port }
}

/** In-process publishes: how long `count` take, and the server's CPU for them. */
async function inProcess (server, count, concurrency) {
  const cpuBefore = cpuSeconds(server.pid)
  const { ms } = await server.request('publish', { channel: CHANNEL, count, concurrency })
  return { ms, cpuSeconds: cpuSeconds(server.pid) - cpuBefore }
}

/** HTTP publishes over keep-alive connections, `concurrency` in flight. */
async function overHttp (server, port, count, concurrency) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, pipelining: 1 })
  const send = async (n) => {
    const { statusCode, body } = await pool.request({
      method: 'POST',
      path: '/api/publish',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: CHANNEL, data: { n } })
    })
    await body.dump()
    if (statusCode !== 200) throw new Error(`POST /api/publish answered ${statusCode}`)
  }
  // Warm the connections and the route before measuring.
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => await send(-i)))
  const cpuBefore = cpuSeconds(server.pid)
  const started = performance.now()
  let next = 0
  const worker = async () => { while (next < count) await send(next++) }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const ms = performance.now() - started
  const cpu = cpuSeconds(server.pid) - cpuBefore
  await pool.close()
  return { ms, cpuSeconds: cpu }
}

const fmt = (value, digits = 1) => value.toFixed(digits)

async function main () {
  log(`fastify-realtime HTTP API bench (${quick ? 'quick' : 'full'}) on ${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}`)
  const { server, port } = await startServer()
  const rows = []
  try {
    // One untimed round of each, so both paths are compiled hot before the timed ones.
    await inProcess(server, 1000, 8)
    await overHttp(server, port, 1000, 8)
    for (const concurrency of CONCURRENCY) {
      await sleep(500)
      const local = await inProcess(server, LOCAL_COUNT, concurrency)
      await sleep(500)
      const http = await overHttp(server, port, COUNT, concurrency)
      const row = {
        concurrency,
        localRate: LOCAL_COUNT / (local.ms / 1000),
        httpRate: COUNT / (http.ms / 1000),
        localCpuUs: local.cpuSeconds * 1e6 / LOCAL_COUNT,
        httpCpuUs: http.cpuSeconds * 1e6 / COUNT
      }
      rows.push(row)
      log(`concurrency ${concurrency}: in-process ${fmt(row.localRate, 0)}/s (${fmt(row.localCpuUs)} µs CPU each), HTTP ${fmt(row.httpRate, 0)}/s (${fmt(row.httpCpuUs)} µs CPU each)`)
    }
  } finally {
    await server.stop()
  }
  const lines = [
    `HTTP API vs in-process publish (${LOCAL_COUNT} in-process, ${COUNT} through HTTP), \`npm run bench:api${quick ? ' -- --quick' : ''}\`, ${new Date().toISOString()}, ${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}, loopback`,
    '',
    '| in flight | in-process publications/s | HTTP publications/s | HTTP / in-process | in-process CPU µs each | HTTP CPU µs each | HTTP / in-process CPU |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((row) => `| ${row.concurrency} | ${fmt(row.localRate, 0)} | ${fmt(row.httpRate, 0)} | ${fmt(row.httpRate / row.localRate, 2)}× | ${fmt(row.localCpuUs)} | ${fmt(row.httpCpuUs)} | ${fmt(row.httpCpuUs / row.localCpuUs, 2)}× |`)
  ]
  process.stdout.write(`\n${lines.join('\n')}\n`)
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`)
  process.exitCode = 1
})
