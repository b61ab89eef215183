/**
 * Heartbeats over real sockets: a peer that completed the handshake but never answers pings (raw
 * TCP) is terminated within one interval plus one timeout, and its ticker stops with it; a live
 * `ws` client (which answers pings) is left alone.
 */
import t from 'tap'
import { bareApp, rawUpgrade } from '../../helpers/realtime-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

/** Poll until `ready` holds; a timeout is a failure. */
async function until (ready: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!ready()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}

const INTERVAL_MS = 300
const TIMEOUT_MS = 200

t.test('a raw TCP client that never answers pings is terminated in time; its ticker stops', async (t) => {
  const { port, app, logs, metrics } = await bareApp(t, { heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS, tickIntervalMs: 50 })
  const live = await connect(`ws://127.0.0.1:${port}/ws`)
  const dead = await rawUpgrade(port)
  t.equal(dead.status, 101)
  const openedAt = Date.now()
  let ticksSeen = 0
  dead.socket.on('data', (chunk: Buffer) => { if (chunk.includes('"tick"')) ticksSeen++ })
  let closedAt = 0
  dead.socket.once('close', () => { closedAt = Date.now() })
  await until(() => closedAt !== 0, 'the silent peer cut')
  const detectedMs = closedAt - openedAt
  t.comment(`dead peer detected after ${detectedMs} ms (interval ${INTERVAL_MS} + timeout ${TIMEOUT_MS})`)
  // Worst case one interval + one timeout plus a wheel slot of each: test/unit/heartbeat.test.ts
  // pins that on a fake clock. Here, over real sockets on a loaded machine, the bound only needs
  // to tell "in time" from "never" (the socket would stay open without heartbeats).
  t.ok(detectedMs <= INTERVAL_MS + TIMEOUT_MS + 3000, `within interval + timeout, give or take a loaded machine (${detectedMs} ms)`)
  t.ok(detectedMs >= TIMEOUT_MS, 'not before a ping could have been answered')
  t.ok(ticksSeen > 0, 'it was ticking before')
  const line = await logs.waitFor('heartbeat timeout: terminating')
  t.ok(typeof line.waitedMs === 'number' && line.waitedMs >= TIMEOUT_MS - 50, `waited ${String(line.waitedMs)} ms for the pong`)
  await logs.waitFor('client disconnected', (entry) => entry.connId === line.connId)
  const resources = app.realtime.resources()
  t.equal(resources.connections, 1, 'only the live client is left')
  t.equal(resources.tickerScheduled, 1, 'the dead one is off the ticker')
  t.equal(resources.heartbeatScheduled, 1)
  t.equal(resources.slots, 1, 'its gate slot is released')
  // The live client answered pings and is still here after more of them (counted, not slept for).
  const rttsBefore = metrics.rtts.length
  await until(() => metrics.rtts.length >= rttsBefore + 2, 'two more pong round trips')
  t.equal(live.closeCode, null, 'a client that answers pings stays')
  t.ok(metrics.rtts.length >= 2, `pong round trips measured (${metrics.rtts.length})`)
  await live.close()
  await until(() => app.realtime.resources().connections === 0, 'the live client gone on the server')
  const after = app.realtime.resources()
  t.same({ connections: after.connections, ticker: after.tickerScheduled, heartbeat: after.heartbeatScheduled, awaitingPong: after.awaitingPong, timersArmed: after.timersArmed },
    { connections: 0, ticker: 0, heartbeat: 0, awaitingPong: 0, timersArmed: false }, 'no timer left armed with no sockets')
})

t.test('heartbeatIntervalMs 0 turns heartbeats off', async (t) => {
  const { port, app } = await bareApp(t, { heartbeatIntervalMs: 0 })
  const dead = await rawUpgrade(port)
  await sleep(300)
  t.equal(app.realtime.resources().connections, 1, 'nobody is cut')
  t.equal(app.realtime.resources().heartbeatScheduled, 0)
  dead.socket.destroy()
})
