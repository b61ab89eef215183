/**
 * POST /pusher/auth : the demo's channel authorization endpoint for pusher-js (its
 * `channelAuthorization.endpoint`), as an app built for Pusher has one (Laravel's
 * /broadcasting/auth). It signs with the app's secret, on the server, through the `pusher`
 * server SDK: private channels for any visitor of the page, presence channels as that visitor
 * (their id from the visitor cookie, their display name from the session). Without the demo's
 * Pusher app (PUSHER_APP_*), the route is not there.
 */
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import Pusher from 'pusher'
import { visitorIdOf } from '../plugins/session.js'

/** What pusher-js posts (form-encoded): the socket and the channel to sign for. */
const AuthBody = Type.Object({
  socket_id: Type.String({ pattern: '^\\d+\\.\\d+$', maxLength: 64 }),
  channel_name: Type.String({ pattern: '^(private|presence)-[A-Za-z0-9_\\-=@,.;]{1,160}$' })
})

export default async function pusherAuth (fastify: FastifyInstance): Promise<void> {
  const app = fastify.config.pusherApp
  if (app === undefined) return
  // The SDK only signs here (no request leaves): the cluster is required by its constructor.
  const signer = new Pusher({ appId: app.id, key: app.key, secret: app.secret, cluster: 'local' })
  fastify.post<{ Body: Static<typeof AuthBody> }>('/pusher/auth', { schema: { body: AuthBody } }, async (request, reply) => {
    const visitorId = visitorIdOf(request)
    if (visitorId === undefined) return await reply.code(403).send({ error: 'load the page first' })
    const { socket_id: socketId, channel_name: channel } = request.body
    reply.header('cache-control', 'no-store')
    if (!channel.startsWith('presence-')) return signer.authorizeChannel(socketId, channel)
    const name = request.session.get('displayName')
    return signer.authorizeChannel(socketId, channel, { user_id: visitorId, user_info: { name: name ?? null } })
  })
}
