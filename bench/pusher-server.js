/**
 * The node of the Pusher phases (bench/pusher.js forks it): the library from the build (dist/),
 * registered through its public entry as an application would, speaking both protocols on one
 * port: ours on `/ws`, Pusher's on `/app/<key>` (the `pusher` option with one app). Publications
 * are made in-process (`realtime.publish`), so both protocols' subscribers get the very same ones;
 * their data is a string `<sent at, epoch ms> <sequence, 8 digits> <padding>` that both framings
 * carry as it is (ours: `"data":"…"` in a `pub` frame; Pusher's: `"data":"…"` in an event).
 * Limits meant for the open internet are set above the load (every client comes from a few
 * 127.0.0.x addresses); admission pacing is the node's default unless ADMISSION_RATE_PER_SEC /
 * ADMISSION_BURST are set (the fan-out phase raises them, the storm keeps them). Answers over IPC:
 *   { cmd: 'burst', channel, count } → `count` publications in one macrotask: { published }
 *   { cmd: 'publish', channel } → one publication: { published: 1 }
 *   { cmd: 'kill' } → every open connection cut by the server (no close frame): { killed }
 *   { cmd: 'stats' } → { connections, resources }
 */
import Fastify from 'fastify'
import realtime from '../dist/src/index.js'
import { PUSHER_APP } from './stamped-frames.js'

/** Bytes of publication data, padding included (the size of a small chat message). */
const DATA_BYTES = 64

const env = process.env
let seq = 0
const connections = new Set()

/** One publication's data: when it was sent, its sequence number, padding to {@link DATA_BYTES}. */
function stamped () {
  const head = `${Date.now()} ${String(++seq).padStart(8, '0')} `
  return head + 'x'.repeat(Math.max(0, DATA_BYTES - head.length))
}

if (typeof process.send !== 'function') throw new Error('start me from bench/pusher.js (IPC channel needed)')
{
  const app = Fastify({ logger: false })
  await app.register(realtime, {
    tickIntervalMs: 0,
    pusher: { apps: [PUSHER_APP] },
    maxConnections: 50_000,
    maxConnectionsPerIp: 20_000,
    handshakeRatePerSec: 100_000,
    handshakeBurst: 100_000,
    closeGraceMs: 1000,
    ...(env.ADMISSION_RATE_PER_SEC === undefined ? {} : { admissionRatePerSec: Number(env.ADMISSION_RATE_PER_SEC) }),
    ...(env.ADMISSION_BURST === undefined ? {} : { admissionBurst: Number(env.ADMISSION_BURST) }),
    onConnection: (connection) => { connections.add(connection) }
  })
  await app.listen({ port: Number(env.PORT ?? 0), host: '127.0.0.1' })

  process.on('message', (message) => {
    const reply = (value) => process.send({ id: message.id, ...value })
    switch (message.cmd) {
      case 'burst':
      case 'publish': {
        const count = message.cmd === 'burst' ? message.count : 1
        const sent = []
        for (let i = 0; i < count; i++) sent.push(app.realtime.publish(message.channel, stamped()))
        Promise.all(sent).then(() => reply({ published: count }), (err) => reply({ error: String(err) }))
        break
      }
      case 'kill': {
        let killed = 0
        for (const connection of connections) {
          if (connection.isOpen) {
            connection.terminate()
            killed++
          }
        }
        connections.clear()
        reply({ killed })
        break
      }
      case 'stats':
        for (const connection of connections) if (!connection.isOpen) connections.delete(connection)
        reply({ connections: app.realtime.connections, resources: app.realtime.resources() })
        break
      default:
        reply({ error: `unknown command ${message.cmd}` })
    }
  })
  process.on('disconnect', () => process.exit(0))
  // A restart is a real one: drain (ours get 1001, Pusher clients 4200), then exit.
  process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  process.send({ ready: true, port: app.server.address().port })
}
