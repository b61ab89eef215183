/**
 * SIGTERM on the plain node entry (`node dist/src/app/server.js`) with 1,000 open clients: every one
 * gets close 1001 with a retry hint, new upgrades get 503 meanwhile, and the process exits 0
 * within the close grace time. Needs the build (`npm test` builds before tap).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { rawUpgrade, refusedUpgrade } from '../../helpers/realtime-app.js'
import { connect, RecordingClient } from '../../helpers/ws-client.js'

const CLIENTS = 1000
const CLOSE_GRACE_MS = 5000
const entry = join(import.meta.dirname, '..', '..', '..', 'dist', 'src', 'app', 'server.js')

/** Start `node dist/src/app/server.js` on a free port. */
async function startServer (t: Test, closeGraceMs: number): Promise<{ child: ChildProcessByStdio<null, Readable, Readable>, port: number, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, stderr: () => string }> {
  t.ok(existsSync(entry), 'dist/src/app/server.js is built (run npm run build)')
  const child = spawn(process.execPath, [entry], {
    cwd: join(import.meta.dirname, '..', '..', '..'),
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SESSION_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
      CLOSE_GRACE_MS: String(closeGraceMs),
      TICK_INTERVAL_MS: '1000',
      MAX_CONNECTIONS_PER_IP: String(CLIENTS + 10),
      HANDSHAKE_RATE_PER_SEC: '10000',
      HANDSHAKE_BURST: '10000'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // The child listens on port 0; its JSON log says which port it got.
  const lines = createInterface({ input: child.stdout })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${stderr}`)), 15_000)
    lines.on('line', (line) => {
      const match = /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/.exec(line)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
  })
  return { child, port, exited, stderr: () => stderr }
}

t.test(`SIGTERM with ${CLIENTS} open clients: every one gets 1001, exit 0 within the grace time`, async (t) => {
  const { child, port, exited, stderr } = await startServer(t, CLOSE_GRACE_MS)
  const url = `ws://127.0.0.1:${port}/ws`

  const clients: RecordingClient[] = []
  for (let i = 0; i < CLIENTS; i += 100) {
    const batch = Array.from({ length: Math.min(100, CLIENTS - i) }, () => new RecordingClient(i % 200 === 0 ? url : `ws://127.0.0.1:${port}/`))
    await Promise.all(batch.map(async (client) => await client.opened))
    clients.push(...batch)
  }
  t.equal(clients.length, CLIENTS, `${CLIENTS} clients open`)
  // One more client stops reading before the signal: it cannot answer its close frame until it
  // resumes, so the drain, and the listener with it, is still open when the late upgrade comes.
  const holder = await connect(url)
  await holder.waitFor('welcome')
  holder.socket.pause()

  const signalledAt = Date.now()
  child.kill('SIGTERM')
  // Once the drain has begun, a new upgrade is refused by the drain with 503 FRT_DRAINING.
  await Promise.race(clients.map(async (client) => await client.closed))
  const late = await refusedUpgrade(port).catch((err: Error) => ({ status: 0, head: err.message, body: '' }))
  holder.socket.resume()
  const closes = await Promise.all(clients.map(async (client) => await client.closed))
  const allClosedMs = Date.now() - signalledAt
  const { code, signal } = await exited
  const exitMs = Date.now() - signalledAt
  t.comment(`drain of ${CLIENTS} clients: all closed ${allClosedMs} ms after SIGTERM, process exited after ${exitMs} ms (grace ${CLOSE_GRACE_MS} ms)`)
  const codes = new Map<number, number>()
  for (const close of closes) codes.set(close.code, (codes.get(close.code) ?? 0) + 1)
  t.same([...codes], [[1001, CLIENTS]], 'every client got 1001')
  const reasons = closes.filter((close) => /^restart; retry=\d+$/.test(close.reason))
  t.equal(reasons.length, CLIENTS, 'every reason carries a retry hint')
  const retries = new Set(closes.map((close) => close.reason))
  t.ok(retries.size > 100, `the retry hints are jittered (${retries.size} distinct)`)
  t.equal(late.status, 503, `an upgrade during the drain gets 503 (${late.head.split('\r\n')[0] ?? ''})`)
  t.match(late.head, /\r\nretry-after: \d+/i, 'with Retry-After')
  t.match(JSON.parse(late.body || '{}'), { statusCode: 503, code: 'FRT_DRAINING' }, 'and the drain\'s error code')
  t.equal((await holder.closed).code, 1001, 'the client that held the drain open got 1001 too')
  t.equal(code, 0, `exit code 0 ${stderr().slice(0, 500)}`)
  t.equal(signal, null)
  t.ok(exitMs < CLOSE_GRACE_MS, `exited within the grace time (${exitMs} ms)`)
})

t.test('SIGTERM with clients that never answer the close: cut at the grace time, exit 0', async (t) => {
  const graceMs = 1500
  const { child, port, exited, stderr } = await startServer(t, graceMs)
  const good = await connect(`ws://127.0.0.1:${port}/ws`)
  const stuck = await Promise.all(Array.from({ length: 20 }, async () => await rawUpgrade(port)))
  for (const upgrade of stuck) upgrade.socket.pause() // never reads, so never answers the close frame
  t.teardown(() => { for (const upgrade of stuck) upgrade.socket.destroy() })
  const stuckClosed = Promise.all(stuck.map(async (upgrade) => await new Promise<number>((resolve) => upgrade.socket.once('close', () => resolve(Date.now())))))
  for (const upgrade of stuck) upgrade.socket.resume()
  for (const upgrade of stuck) upgrade.socket.on('data', () => {}) // reads now, but still never answers
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  t.equal((await good.closed).code, 1001)
  const cutAt = await stuckClosed
  const { code } = await exited
  const exitMs = Date.now() - signalledAt
  const lastCutMs = Math.max(...cutAt) - signalledAt
  t.comment(`20 unresponsive clients cut after ${lastCutMs} ms; exit after ${exitMs} ms (grace ${graceMs} ms)`)
  t.ok(lastCutMs >= graceMs - 100, 'they had the grace time')
  t.ok(exitMs < graceMs + 1500, `then the process exited promptly (${exitMs} ms)`)
  t.equal(code, 0, `exit code 0 ${stderr().slice(0, 500)}`)
})
