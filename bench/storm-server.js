/**
 * The node under the reconnect storm (bench/storm.js forks it): the library from the build
 * (dist/), registered through its public entries as an application would, on Redis (the history
 * must outlive the node: the storm restarts it), with resume tokens, the event-stream fallback and
 * admission pacing at their defaults. Limits meant for the open internet are set above the
 * storm's own load (every client comes from a few 127.0.0.x addresses). Answers over IPC:
 *   { cmd: 'kill' } → every open connection is cut by the server (no close frame): { killed }
 *   { cmd: 'stats' } → { connections, resources }
 * Environment: PORT, REDIS_URL, CHANNEL_HISTORY, RESUME_SECRET, and ADMISSION_RATE_PER_SEC,
 * ADMISSION_BURST when set.
 */
import Fastify from 'fastify'
import realtime from '../dist/src/index.js'
import { RedisAdapter } from '../dist/src/adapters/redis/index.js'

const env = process.env
const connections = new Set()
const app = Fastify({ logger: false })
await app.register(realtime, {
  tickIntervalMs: 0,
  channels: [{ name: 'storm:*', historySize: Number(env.CHANNEL_HISTORY ?? 5000), historyTtlMs: 600_000 }],
  adapter: new RedisAdapter({ url: env.REDIS_URL, keyPrefix: 'storm:' }),
  resumeSecret: env.RESUME_SECRET,
  maxConnections: 50_000,
  maxConnectionsPerIp: 20_000,
  handshakeRatePerSec: 100_000,
  handshakeBurst: 100_000,
  closeGraceMs: 3000,
  ...(env.ADMISSION_RATE_PER_SEC === undefined ? {} : { admissionRatePerSec: Number(env.ADMISSION_RATE_PER_SEC) }),
  ...(env.ADMISSION_BURST === undefined ? {} : { admissionBurst: Number(env.ADMISSION_BURST) }),
  onConnection: (connection) => { connections.add(connection) }
})
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' })

process.on('message', (message) => {
  const reply = (value) => process.send({ id: message.id, ...value })
  if (message.cmd === 'kill') {
    let killed = 0
    for (const connection of connections) {
      if (connection.isOpen) {
        connection.terminate()
        killed++
      }
    }
    connections.clear()
    reply({ killed })
  } else if (message.cmd === 'stats') {
    for (const connection of connections) if (!connection.isOpen) connections.delete(connection)
    reply({ connections: app.realtime.connections, resources: app.realtime.resources() })
  } else {
    reply({ error: `unknown command ${message.cmd}` })
  }
})
process.on('disconnect', () => process.exit(0))
// A restart of the storm is a real one: drain (every socket gets 1001 and a retry hint), then exit.
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
process.send({ ready: true, port: Number(env.PORT) })
