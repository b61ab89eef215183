/**
 * GET / : the live demo page. The same URL also accepts the WebSocket upgrade, so the tutorial's
 * client (`new WebSocket("ws://localhost:8005")`) works unchanged.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'

export default async function page (fastify: FastifyInstance): Promise<void> {
  fastify.route({
    method: 'GET',
    url: '/',
    wsHandler: fastify.realtime.wsHandler,
    handler: async (request, reply) => {
      let visitorId = request.session.get('visitorId')
      if (visitorId === undefined) {
        visitorId = randomUUID()
        request.session.set('visitorId', visitorId)
      }
      return reply.viewAsync('page.pug', {
        visitorId,
        displayName: request.session.get('displayName') ?? null,
        tickIntervalMs: fastify.config.tickIntervalMs,
        wsPath: '/ws'
      })
    }
  })
}
