/**
 * The hardening figures with the DEFAULT limits (the tests use shortened ones):
 *   - memory held by 500 clients that stop reading (maxBufferedBytes 1 MiB),
 *   - time to detect a dead peer (heartbeat 25 s + 10 s: takes up to ~35 s),
 *   - a 1,000 × 2 KB replay (`rewind`) to a client that reads, and to one that stops reading mid-replay
 *     while publications go on (what its socket holds, when it is cut),
 *   - a 100-publication burst in one turn to a subscriber in another process under a 16 KiB budget.
 * Run: `npx tsx bench/hardening-figures.ts [memory] [dead-peer] [replay] [burst]` (all when none given).
 * The drain figure for 1,000 clients comes from test/integration/hardening/sigterm-drain.test.ts.
 */
import type { ConnectionInfo } from '../src/index.js'
import type { WebSocketConnection } from '../src/transports/websocket.js'
import { bareApp, rawUpgrade } from '../test/helpers/realtime-app.js'
import { heldBytes, offerUntilClosed, openStalledClients } from '../test/helpers/stalled-clients.js'
import { startSubscriber } from '../test/helpers/subscriber-process.js'
import { connect } from '../test/helpers/ws-client.js'

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

if (all || wanted.has('replay')) {
  const channels = [{ name: 'feed', historySize: 1000 }]
  const text = (i: number, bytes: number): string => `${i}:`.padEnd(bytes, 'x')
  {
    const { app, ws } = await bareApp(t, { channels })
    for (let i = 1; i <= 1000; i++) await app.realtime.publish('feed', text(i, 2000))
    const client = await connect(`${ws}/ws`)
    await client.waitFor('welcome')
    const started = Date.now()
    client.socket.send(JSON.stringify({ type: 'sub', channel: 'feed', rewind: 1000, id: 1 }))
    let got = 0
    while (got < 1000 && client.closeCode === null && Date.now() - started < 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 5))
      got = client.ofType('pub').length
    }
    const offsets = client.ofType('pub').map((f) => f.offset as number)
    const inOrder = offsets.every((offset, i) => offset === i + 1)
    console.log(`replay: 1,000 × 2 KB rewind, default 1 MiB budget, a client that reads: ${got} of 1000 in ${Date.now() - started} ms, ${inOrder ? 'in order' : 'OUT OF ORDER'}, close ${client.closeCode ?? 'none'}`)
    client.socket.terminate()
  }
  {
    const connections: ConnectionInfo[] = []
    const { app, ws, logs } = await bareApp(t, { channels, onConnection: (c) => { connections.push(c) } })
    for (let i = 1; i <= 1000; i++) await app.realtime.publish('feed', text(i, 16_000))
    const client = await connect(`${ws}/ws`)
    await client.waitFor('welcome')
    const server = connections[0] as WebSocketConnection
    client.socket.on('message', () => { if (client.ofType('pub').length === 20) client.socket.pause() })
    client.socket.send(JSON.stringify({ type: 'sub', channel: 'feed', rewind: 1000, id: 1 }))
    await client.waitFor('pub', 20, 10_000)
    let peak = 0
    let published = 0
    while (logs.withMessage('slow consumer: closing').length === 0 && published < 2000) {
      peak = Math.max(peak, server.socket.bufferedAmount)
      await app.realtime.publish('feed', text(1000 + ++published, 16_000))
      if (published % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    }
    const line = logs.withMessage('slow consumer: closing')[0]
    client.socket.resume()
    const { code } = await client.closed
    console.log(`replay: 1,000 × 16 KB rewind, default 1 MiB budget, a client that stops reading after 20: closed ${code} after ${published} live publications; ` +
      `its socket peaked at ${(peak / 1024).toFixed(0)} KiB (budget 1024 KiB + one 16 KiB frame), ${(Number(line?.queuedBytes) / 1024).toFixed(0)} KiB of live frames queued behind the replay at the cut; it got ${client.ofType('pub').length} of the replay`)
  }
}

if (all || wanted.has('burst')) {
  const { app, ws } = await bareApp(t, { channels: [{ name: 'feed', historySize: 0 }], maxBufferedBytes: 16_384 })
  const subscriber = startSubscriber(t, `${ws}/ws`, { type: 'sub', channel: 'feed', id: 1 })
  await subscriber.waitFor('ack')
  const started = Date.now()
  await Promise.all(Array.from({ length: 100 }, async (_, i) => await app.realtime.publish('feed', `${i + 1}:`.padEnd(600, 'y'))))
  let got = 0
  while (got < 100 && !subscriber.frames.some((f) => f.type === 'close') && Date.now() - started < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    got = subscriber.frames.filter((f) => f.type === 'pub').length
  }
  const close = subscriber.frames.find((f) => f.type === 'close')
  console.log(`burst: 100 × ~630 B publications in one turn, 16 KiB budget, a subscriber in another process: ${got} of 100 in ${Date.now() - started} ms, close ${String(close?.code ?? 'none')}`)
}

for (const teardown of teardowns) await teardown()
