/**
 * The hardening figures with the DEFAULT limits (the tests use shortened ones):
 *   - memory held by 500 clients that stop reading (maxBufferedBytes 1 MiB),
 *   - time to detect a dead peer (heartbeat 25 s + 10 s: takes up to ~35 s).
 * Run: `npx tsx bench/hardening-figures.ts [memory] [dead-peer]` (both when none given).
 * The drain figure for 1,000 clients comes from test/integration/hardening/sigterm-drain.test.ts.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { ConnectionInfo } from '../src/index.js'
import { bareApp, rawUpgrade, type RawUpgrade } from '../test/helpers/realtime-app.js'

const MiB = 1024 * 1024
const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
const wanted = new Set(process.argv.slice(2))
const all = wanted.size === 0

/** After a full GC: JS heap plus Buffer memory (unsent frames), and RSS. */
function held (): { held: number, rss: number } {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  gc?.()
  const memory = process.memoryUsage()
  return { held: memory.heapUsed + Math.max(memory.arrayBuffers, memory.external), rss: memory.rss }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

if (all || wanted.has('memory')) {
  const clients = 500
  const frameBytes = 64 * 1024
  const connections: ConnectionInfo[] = []
  const { app, port, logs } = await bareApp(t, {
    maxConnectionsPerIp: 1000,
    handshakeBurst: 1000,
    handshakeRatePerSec: 1000,
    onConnection: (connection) => { connections.push(connection) }
  })
  const stalled: RawUpgrade[] = []
  for (let i = 0; i < clients; i++) {
    const upgrade = await rawUpgrade(port)
    upgrade.socket.pause()
    stalled.push(upgrade)
  }
  const idle = held()
  // A distinct frame per client and round (worst case; a broadcast shares one string).
  const base = 'x'.repeat(frameBytes - 16)
  let peak = { held: 0, rss: 0, buffered: 0 }
  const sample = (): void => {
    const now = held()
    let buffered = 0
    for (const socket of app.websocketServer.clients) buffered += socket.bufferedAmount
    peak = { held: Math.max(peak.held, now.held), rss: Math.max(peak.rss, now.rss), buffered: Math.max(peak.buffered, buffered) }
  }
  let offered = 0
  for (let round = 0; round < 512 && logs.withMessage('slow consumer: closing').length < clients; round++) {
    for (const [i, connection] of connections.entries()) {
      if (connection.send(`${String(i).padStart(6, '0')}:${String(round).padStart(8, '0')}:${base}`)) offered += frameBytes
    }
    if (round % 8 === 7) {
      await sleep(1)
      sample()
    }
  }
  sample()
  const closed = logs.withMessage('slow consumer: closing').length
  console.log(`memory: ${clients} stalled clients, budget 1 MiB (default), ${(offered / MiB).toFixed(0)} MiB handed to their sockets; ${closed} closed with 4008; ` +
    `unsent bytes peak ${(peak.buffered / MiB).toFixed(1)} MiB (bound ${clients} × (1 MiB + 64 KiB) = ${(clients * 1.0625).toFixed(0)} MiB); ` +
    `over the idle sockets: heap+buffers +${((peak.held - idle.held) / MiB).toFixed(1)} MiB, RSS +${((peak.rss - idle.rss) / MiB).toFixed(0)} MiB`)
  for (const upgrade of stalled) upgrade.socket.destroy()
}

if (all || wanted.has('dead-peer')) {
  const { port } = await bareApp(t, {})
  const dead = await rawUpgrade(port)
  const openedAt = Date.now()
  dead.socket.on('data', () => {})
  await new Promise((resolve) => dead.socket.once('close', resolve))
  console.log(`dead peer: terminated ${Date.now() - openedAt} ms after connecting (heartbeat 25000 + 10000 ms)`)
}

for (const teardown of teardowns) await teardown()
