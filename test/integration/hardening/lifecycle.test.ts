/**
 * 2,000 connect/abort cycles over real sockets, aborting at every stage (mid-handshake, right
 * after the 101, after the welcome, by clean close), leave nothing behind: no connection, gate
 * slot, ticker or heartbeat entry, armed timer, or listener.
 */
import { randomBytes } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { bareApp } from '../../helpers/realtime-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

const CYCLES = 2000
const CONCURRENCY = 25

/** Active timers in this process (the ticker's and heartbeat's wheels are unref'd, still counted). */
function timerCount (): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
}

async function oneCycle (port: number, ws: string, i: number): Promise<void> {
  switch (i % 4) {
    case 0: { // abort mid-handshake: half a request, or a whole one without waiting for the 101
      const socket = tcpConnect({ port, host: '127.0.0.1' })
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
      const request = 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
      socket.write(i % 8 === 0 ? request.slice(0, 40) : request)
      await sleep(i % 3)
      socket.destroy()
      return
    }
    case 1: { // terminate (no close frame) right after the open
      const socket = new WebSocket(`${ws}/ws`)
      await new Promise<void>((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
      socket.terminate()
      return
    }
    case 2: { // terminate after the welcome
      const client = await connect(`${ws}/ws`)
      await client.waitFor('welcome')
      client.socket.terminate()
      await client.closed
      return
    }
    default: { // a clean close
      const client = await connect(`${ws}/ws`)
      await client.close()
    }
  }
}

t.test(`${CYCLES} connect/abort cycles leave no timers, listeners or map entries`, async (t) => {
  const { app, port, ws } = await bareApp(t, {
    tickIntervalMs: 20,
    heartbeatIntervalMs: 50,
    heartbeatTimeoutMs: 50,
    handshakeRatePerSec: 100_000,
    handshakeBurst: 100_000,
    maxConnectionsPerIp: CONCURRENCY * 2
  })
  const server = app.server
  const before = {
    timers: timerCount(),
    serverListeners: server.eventNames().map((name) => `${String(name)}:${server.listenerCount(name)}`).join(',')
  }
  const started = Date.now()
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < CYCLES) await oneCycle(port, ws, next++)
  }))
  const elapsedMs = Date.now() - started
  // Let the server see every close.
  const deadline = Date.now() + 10_000
  while ((app.realtime.connections > 0 || app.realtime.resources().slots > 0) && Date.now() < deadline) await sleep(20)
  const resources = app.realtime.resources()
  t.comment(`${CYCLES} cycles in ${elapsedMs} ms; left: ${JSON.stringify(resources)}, timers ${timerCount()} (before ${before.timers})`)
  t.equal(resources.connections, 0, 'hub empty')
  t.equal(resources.tickerScheduled, 0, 'ticker wheel empty')
  t.equal(resources.heartbeatScheduled, 0, 'heartbeat wheel empty')
  t.equal(resources.awaitingPong, 0, 'no pong awaited')
  t.equal(resources.timersArmed, false, 'ticker and heartbeat timers cleared')
  t.equal(resources.slots, 0, 'no gate slot held')
  t.equal(resources.slotIps, 0, 'per-IP map empty')
  t.equal(resources.handshakesInFlight, 0, 'no handshake socket followed any more')
  t.equal(app.websocketServer.clients, undefined, 'ws keeps no client set of its own: the hub is the one registry')
  t.ok(timerCount() <= before.timers, `no timer left behind (${timerCount()} ≤ ${before.timers})`)
  const listenersAfter = server.eventNames().map((name) => `${String(name)}:${server.listenerCount(name)}`).join(',')
  t.equal(listenersAfter, before.serverListeners, 'no listener added to the HTTP server')
  const stats = app.realtime.stats()
  t.ok(stats.connectionsTotal >= CYCLES * 3 / 4, `the sockets really were accepted (${stats.connectionsTotal})`)
  await sleep(1100)
  t.equal(app.realtime.resources().rateLimitedIps, 0, 'handshake buckets are forgotten once full again')
})
