/**
 * GET / : the live demo page. The same URL also accepts the WebSocket upgrade, so the tutorial's
 * client (`new WebSocket("ws://localhost:8005")`) works unchanged.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { ensureVisitor } from '../plugins/session.js'

/** One-shot flash messages of a type (shown once, then gone from the session). */
function takeFlash (reply: FastifyReply, type: string): string[] {
  const messages: unknown = reply.flash(type)
  return Array.isArray(messages) ? messages.filter((message): message is string => typeof message === 'string') : []
}

export default async function page (fastify: FastifyInstance): Promise<void> {
  fastify.route({
    method: 'GET',
    url: '/',
    wsHandler: fastify.realtime.wsHandler,
    handler: async (request, reply) => {
      // In its own signed cookie, not in the session: a page load stores nothing on the server.
      const visitorId = ensureVisitor(request, reply)
      const hasFlash = request.session.get('flash') !== undefined
      return reply.viewAsync('page.pug', {
        visitorId,
        displayName: request.session.get('displayName') ?? null,
        tickIntervalMs: fastify.config.realtime.tickIntervalMs,
        wsPath: '/ws',
        // With JWT_SECRET the page also authenticates with tokens from GET /token, refreshed before they expire.
        tokens: fastify.config.realtime.jwtSecret !== undefined,
        // With PUSHER_APP_*: the Pusher panel, given the app's public key only (never its secret).
        pusherKey: fastify.config.pusherApp?.key ?? null,
        flash: hasFlash ? { info: takeFlash(reply, 'info'), error: takeFlash(reply, 'error') } : { info: [], error: [] }
      })
    }
  })
}
