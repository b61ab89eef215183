/**
 * The hardening figures with the DEFAULT limits (the tests use shortened ones):
 *   - memory held by 500 clients that stop reading (maxBufferedBytes 1 MiB),
 *   - time to detect a dead peer (heartbeat 25 s + 10 s: takes up to ~35 s).
 * Run: `npx tsx bench/hardening-figures.ts [memory] [dead-peer]` (both when none given).
 * The drain figure for 1,000 clients comes from test/integration/hardening/sigterm-drain.test.ts.
 */
import type { ConnectionInfo } from '../src/index.js'
import { bareApp, rawUpgrade } from '../test/helpers/realtime-app.js'
import { heldBytes, offerUntilClosed, openStalledClients } from '../test/helpers/stalled-clients.js'

const MiB = 1024 * 1024
const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
const wanted = new Set(process.argv.slice(2))
const all = wanted.size === 0

if (all || wanted.has('memory')) {
  const clients = 500
  const frameBytes = 64 * 1024
  const connections: ConnectionInfo[] = []
  const { port, logs } = await bareApp(t, {
    maxConnectionsPerIp: 1000,
    handshakeBurst: 1000,
    handshakeRatePerSec: 1000,
    onConnection: (connection) => { connections.push(connection) }
  })
  const stalled = await openStalledClients(port, clients)
  const idle = heldBytes()
  const { offered, peak } = await offerUntilClosed(logs, connections, frameBytes, 512)
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
