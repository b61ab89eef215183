/**
 * Our server under benchmark: the real demo app from the build (dist/), configured by the
 * environment exactly as `node dist/src/app/server.js` is (sessions, ticker, logger, limits), plus the
 * benchmark's IPC control channel (bench/server-ipc.js), which the production entry does not have.
 * Forked by bench/run.js with `--expose-gc`, stdout to /dev/null (the logs still get formatted).
 */
import Fastify from 'fastify'
import app, { bootConfig as config, options } from '../dist/src/app/app.js'
import { broadcastData, serveBenchIpc } from './server-ipc.js'

const server = Fastify(options)
/** The app's own scope (where `realtime` is decorated), captured for the broadcast hook. */
let appScope = null
await server.register(async function benchedApp (instance, opts) {
  await app(instance, opts)
  appScope = instance
}, { config })
await server.listen({ port: 0, host: '127.0.0.1' })

serveBenchIpc({
  port: server.server.address().port,
  broadcast: (count, bytes, burstStartedAt) => {
    let sent = 0
    for (let i = 0; i < count; i++) sent += appScope.realtime.broadcast(broadcastData(bytes, burstStartedAt), { local: true })
    return sent
  },
  stats: () => appScope.realtime.stats(),
  publish: async (channel, data) => await appScope.realtime.publish(channel, data)
})
