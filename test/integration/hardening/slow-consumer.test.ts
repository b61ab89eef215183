/**
 * Slow consumers over real sockets: a client that stops reading gets its ticks coalesced (the
 * latest one arrives when it drains, never a backlog), any other message past the budget closes
 * it with 4008, and 500 stalled clients hold bounded server memory.
 */
import t from 'tap'
import type { ConnectionInfo } from '../../../src/index.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { heldBytes, offerUntilClosed, openStalledClients } from '../../helpers/stalled-clients.js'
import { connect, sleep, type Frame } from '../../helpers/ws-client.js'

const MiB = 1024 * 1024

const mib = (bytes: number): string => (bytes / MiB).toFixed(1)

t.test('a stalled client gets its ticks coalesced and the latest one when it drains', async (t) => {
  const { app, ws, metrics } = await bareApp(t, { tickIntervalMs: 40, maxBufferedBytes: 64 * 1024 })
  const client = await connect(`${ws}/ws`)
  const ticksBefore = await client.waitFor('tick', 2)
  client.socket.pause() // stop reading
  // One large frame fills the kernel buffers and leaves megabytes in the server's send buffer.
  app.realtime.broadcast('x'.repeat(16 * MiB), { local: true })
  const lastSeqBefore = Number(ticksBefore.at(-1)?.seq)
  await sleep(600) // ~15 ticks are due meanwhile
  t.ok(metrics.coalesced >= 5, `ticks were coalesced, not queued (${metrics.coalesced})`)
  const coalescedWhileStalled = metrics.coalesced
  client.socket.resume()
  await client.waitFor('broadcast', 1, 10_000)
  const broadcastIndex = client.frames.findIndex((frame) => frame.type === 'broadcast')
  await client.waitFor('tick', ticksBefore.length + 2, 5000)
  const afterDrain = client.frames.slice(broadcastIndex + 1).filter((frame) => frame.type === 'tick')
  const firstAfter = Number(afterDrain[0]?.seq)
  t.ok(firstAfter - lastSeqBefore >= coalescedWhileStalled, `the first tick after the drain is the latest (seq ${lastSeqBefore} → ${firstAfter})`)
  const seqs = afterDrain.map((frame) => Number(frame.seq))
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'ticks stay in order')
  t.equal(new Set(seqs).size, seqs.length, 'no tick twice')
  t.equal(client.closeCode, null, 'ticks alone never close a slow client')
  await client.close()
})

t.test('the held tick is sent when the socket drains, with no later tick to carry it', async (t) => {
  // The producer counts the ticks it makes; once `quiet`, it throws, so the ticker skips every
  // later batch. Whatever tick reaches the client after that can only be the one held for it.
  let produced = 0
  let quiet = false
  const { app, ws, metrics } = await bareApp(t, {
    tickIntervalMs: 40,
    maxBufferedBytes: 64 * 1024,
    tick: () => {
      if (quiet) throw new Error('quiet: no more ticks')
      return ++produced
    }
  })
  const client = await connect(`${ws}/ws`)
  const before = await client.waitFor('tick', 2)
  client.socket.pause() // stop reading
  app.realtime.broadcast('x'.repeat(16 * MiB), { local: true })
  const deadline = Date.now() + 5000
  while (metrics.coalesced < 3 && Date.now() < deadline) await sleep(10)
  t.ok(metrics.coalesced >= 3, `ticks were coalesced while the client stalled (${metrics.coalesced})`)
  quiet = true
  const lastProduced = produced
  await sleep(150) // ticks due now are skipped: nothing new can be held or sent
  t.equal(produced, lastProduced, 'no tick was produced once quiet')
  const lastBefore = Number(before.at(-1)?.seq)
  client.socket.resume()
  await client.waitFor('broadcast', 1, 10_000)
  const broadcastIndex = client.frames.findIndex((frame) => frame.type === 'broadcast')
  const ticksAfter = (): Frame[] => client.frames.slice(broadcastIndex + 1).filter((f) => f.type === 'tick')
  const waitUntil = Date.now() + 5000
  while (ticksAfter().length === 0 && Date.now() < waitUntil) await sleep(5)
  const held = ticksAfter()[0]
  if (held === undefined) {
    t.fail('no tick reached the client after it drained: the held tick was never sent')
    return
  }
  t.equal(held.data, lastProduced, 'the tick sent at the drain is the newest one held, though no tick came after it')
  t.ok(Number(held.seq) > lastBefore, `and newer than the ticks before the stall (seq ${lastBefore} → ${String(held.seq)})`)
  await sleep(150)
  t.equal(ticksAfter().length, 1, 'exactly one tick: the held one, not the backlog')
  await client.close()
})

t.test('a non-tick message past the budget closes with 4008 slow consumer', async (t) => {
  const { app, ws, logs } = await bareApp(t, { maxBufferedBytes: 64 * 1024 })
  const healthy = await connect(`${ws}/ws`)
  const slow = await connect(`${ws}/ws`)
  await slow.waitFor('welcome')
  slow.socket.pause()
  t.teardown(() => { slow.socket.resume() })
  app.realtime.broadcast('x'.repeat(16 * MiB), { local: true }) // fits: nothing was waiting
  await healthy.waitFor('broadcast', 1, 10_000) // a reader drains it
  app.realtime.broadcast('small', { local: true }) // the slow one is still far past its budget
  await logs.waitFor('slow consumer: closing')
  await healthy.waitFor('broadcast', 2, 10_000)
  t.equal(healthy.closeCode, null, 'a client that reads is unaffected')
  slow.socket.resume()
  const { code, reason } = await slow.closed
  t.equal(code, 4008)
  t.equal(reason, 'slow consumer')
  t.equal(slow.ofType('broadcast').length, 1, 'it got what fitted, then the close; not the message past the budget')
  await healthy.close()
})

t.test('500 clients that stop reading hold bounded server memory', async (t) => {
  const budget = 64 * 1024
  const frameBytes = 64 * 1024
  const clients = 500
  const connections: ConnectionInfo[] = []
  const { app, port, logs } = await bareApp(t, {
    maxBufferedBytes: budget,
    maxConnectionsPerIp: 1000,
    handshakeBurst: 1000,
    handshakeRatePerSec: 1000,
    onConnection: (connection) => { connections.push(connection) }
  })
  const stalled = await openStalledClients(port, clients)
  t.teardown(() => { for (const upgrade of stalled) upgrade.socket.destroy() })
  const connected = heldBytes()
  // Offer each client up to 8 MiB (4 GB in all): more than the kernel's socket buffers take, so
  // every client reaches its budget. Without a budget, the server would hold all of it.
  const { offered, peak } = await offerUntilClosed(logs, connections, frameBytes, 128)
  const closedSlow = logs.withMessage('slow consumer: closing').length
  const heldGrowth = peak.held - connected.held
  const rssGrowth = peak.rss - connected.rss
  const bound = clients * (budget + frameBytes)
  t.comment(`500 stalled clients, budget ${budget / 1024} KiB, ${mib(offered)} MiB handed to their sockets: ` +
    `unsent bytes (sum of bufferedAmount) peak ${mib(peak.buffered)} MiB (bound ${clients} × (budget + one ${frameBytes / 1024} KiB frame) = ${mib(bound)} MiB); ` +
    `memory over the idle sockets: heap+buffers +${mib(heldGrowth)} MiB, RSS +${mib(rssGrowth)} MiB (${(rssGrowth / clients / 1024).toFixed(0)} KiB per client)`)
  t.equal(closedSlow, clients, 'every stalled client reached its budget and was closed with 4008')
  t.ok(peak.buffered <= bound, `unsent bytes stay within the budgets (${mib(peak.buffered)} MiB)`)
  // The unsent frames exist as a JS string and a native copy for the pending write: allow 3×.
  t.ok(heldGrowth < bound * 3 + 32 * MiB, `server memory held by stalled clients stays bounded (${mib(heldGrowth)} MiB)`)
  t.ok(rssGrowth < bound * 3 + 64 * MiB, `RSS stays bounded (+${mib(rssGrowth)} MiB)`)
  for (const upgrade of stalled) upgrade.socket.destroy()
  stalled.length = 0
  const started = Date.now()
  while (app.realtime.connections > 0 && Date.now() - started < 10_000) await sleep(20)
  t.equal(app.realtime.connections, 0, 'all gone once their TCP sockets close')
  connections.length = 0
  const released = heldBytes()
  t.comment(`after the clients went: heap+buffers ${mib(released.held - connected.held)} MiB compared with the idle sockets`)
})
