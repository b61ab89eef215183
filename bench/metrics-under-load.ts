/**
 * A real scrape under load: start the demo server as a child process on 127.0.0.1 (with
 * METRICS_PORT, so /metrics is on its own listener), open a few thousand WebSocket clients, let
 * them receive ticks (a tenth of them reply, as the seed's client does), scrape /metrics and
 * /ready, close some sockets with codes, scrape again, then SIGTERM the server and count the
 * 1001s. Prints the realtime_* lines and the process metrics that matter under load.
 *
 *   node --import tsx bench/metrics-under-load.ts [clients=3000] [holdMs=6000]
 *
 * Loopback only; stops by itself (hard limit 180 s).
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'

const CLIENTS = Number(process.argv[2] ?? 3000)
const HOLD_MS = Number(process.argv[3] ?? 6000)
const HOST = '127.0.0.1'
const BATCH = 250
const HARD_LIMIT_MS = 180_000

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

const port = await freePort()
const metricsPort = await freePort()
const base = `http://${HOST}:${port}`
const metricsUrl = `http://${HOST}:${metricsPort}/metrics`

const child = spawn(process.execPath, ['--import', 'tsx', 'src/app/server.ts'], {
  env: {
    ...process.env,
    NODE_ENV: 'development',
    // Autoload of plugins/ and routes/ from TypeScript source, under tsx.
    FASTIFY_AUTOLOAD_TYPESCRIPT: '1',
    HOST,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    METRICS_HOST: HOST,
    TICK_INTERVAL_MS: '1000',
    LOG_LEVEL: 'warn',
    CLOSE_GRACE_MS: '5000',
    SESSION_SECRET: 'metrics-under-load-secret-0123456789abcdef'
  },
  stdio: ['ignore', 'inherit', 'inherit']
})
let childExited = false
const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { childExited = true; resolve(code) }))
const hardLimit = setTimeout(() => {
  console.error(`hard limit of ${HARD_LIMIT_MS} ms reached; stopping`)
  child.kill('SIGKILL')
  process.exit(1)
}, HARD_LIMIT_MS)
hardLimit.unref()

for (let i = 0; ; i++) {
  const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false)
  if (ok) break
  if (i > 300 || childExited) throw new Error('server did not come up')
  await sleep(100)
}

let ticks = 0
let welcomes = 0
const closeCodes = new Map<number, number>()
const sockets: WebSocket[] = []
function open (index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${HOST}:${port}/ws`)
    sockets.push(socket)
    socket.on('message', (data) => {
      const text = data.toString()
      if (text.startsWith('{"type":"tick"')) {
        ticks++
        if (index % 10 === 0) socket.send('reply from a seed client')
      } else if (text.startsWith('{"type":"welcome"')) welcomes++
    })
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('close', (code) => closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1))
  })
}

const openStarted = Date.now()
for (let i = 0; i < CLIENTS; i += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, CLIENTS - i) }, (_, j) => open(i + j)))
}
const openMs = Date.now() - openStarted
console.log(`opened ${CLIENTS} sockets in ${openMs} ms; holding ${HOLD_MS} ms`)
await sleep(HOLD_MS)

const interesting = (line: string): boolean =>
  (line.startsWith('realtime_') && !line.includes('_bucket{')) ||
  /^(nodejs_eventloop_lag_(seconds|p50_seconds|p99_seconds|max_seconds)|nodejs_heap_size_used_bytes|process_resident_memory_bytes|nodejs_active_handles_total|process_open_fds|nodejs_gc_duration_seconds_(count|sum)) /.test(line) ||
  /^nodejs_gc_duration_seconds_(count|sum)\{/.test(line)

async function scrapeAndPrint (title: string): Promise<void> {
  const started = Date.now()
  const response = await fetch(metricsUrl)
  const text = await response.text()
  console.log(`\n--- ${title}: GET ${metricsUrl} -> ${response.status} ${response.headers.get('content-type')} (${text.length} bytes in ${Date.now() - started} ms)`)
  for (const line of text.split('\n')) if (interesting(line)) console.log(line)
}

await scrapeAndPrint(`scrape with ${CLIENTS} sockets open`)
const ready = await fetch(`${base}/ready`)
console.log(`\nGET /ready -> ${ready.status} ${await ready.text()}`)
console.log(`clients saw ${welcomes} welcomes and ${ticks} ticks`)

// Some clients leave: 300 cleanly with 1000, 200 with an app code, 100 vanish (no close frame).
const leaving = sockets.splice(0, 600)
leaving.slice(0, 300).forEach((socket) => socket.close(1000))
leaving.slice(300, 500).forEach((socket) => socket.close(4001, 'bye'))
leaving.slice(500).forEach((socket) => socket.terminate())
await sleep(1500)
await scrapeAndPrint('scrape after 600 clients left')

const drainStarted = Date.now()
child.kill('SIGTERM')
// Poll /ready until it stops answering 200: how soon a balancer sees this node leave.
let readyDuringDrain = 'still 200 when the server exited'
for (;;) {
  if (childExited) break
  const answer = await fetch(`${base}/ready`).then((r) => String(r.status), (err: Error) => (err.cause as NodeJS.ErrnoException | undefined)?.code ?? err.message)
  if (answer !== '200') {
    readyDuringDrain = `${answer} after ${Date.now() - drainStarted} ms`
    break
  }
  await sleep(10)
}
const code = await exited
await sleep(200)
console.log(`\nSIGTERM: /ready -> ${readyDuringDrain}; server exited ${code} after ${Date.now() - drainStarted} ms; client close codes: ${JSON.stringify(Object.fromEntries(closeCodes))}`)
for (const socket of sockets) socket.terminate()
clearTimeout(hardLimit)
