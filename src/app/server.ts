/**
 * Plain `node` entry: `node dist/src/app/server.js`. Builds the demo app, listens, and shuts down
 * gracefully on SIGTERM/SIGINT (sockets get 1001, the process exits 0).
 */
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { bootConfig as config, options } from './app.js'
import { exitOnBootFailure } from './boot-failure.js'

const server = Fastify(options)

closeWithGrace({ delay: config.realtime.closeGraceMs + 2000, logger: server.log }, async ({ signal, err }) => {
  if (err) server.log.error({ err }, 'shutting down after an error')
  else server.log.info({ signal }, 'shutting down')
  await server.close()
})

try {
  await server.register(app, { config })
  await server.listen({ port: config.port, host: config.host })
} catch (err) {
  exitOnBootFailure(server.log, err)
}
