/**
 * Lets go of the upgrade request once its socket is in service.
 *
 * @fastify/websocket routes an upgrade through Fastify with a `ServerResponse` assigned to the
 * socket (`assignSocket`) and never detaches it. The socket then keeps that response alive for
 * its whole life, and through the response's listeners Fastify's reply, request, headers, session
 * and cookie objects: about 3 KB of heap per idle socket that nothing reads after the 101.
 * Detaching the response (Node's `detachSocket`, the inverse of `assignSocket`) frees most of it.
 * The rest is held by the `error` listener @fastify/websocket puts on each socket, a closure over
 * the request and reply that calls the registration's `errorHandler`. When this plugin registered
 * @fastify/websocket itself, that handler is ours and only repeats what the connection's own
 * `error` listener logs, so that listener is removed too; an app that registered
 * @fastify/websocket with its own `errorHandler` keeps it (and pays for it).
 *
 * An upgrade refused with an HTTP answer has its socket closed once the answer is written.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'

/** Lets go of one upgrade's request; see {@link trackUpgradeResponses}. */
export type ReleaseUpgrade = (request: FastifyRequest, socket: WebSocket, inheritedErrorListeners: ReturnType<WebSocket['listeners']>) => void

/**
 * Remember the response of every WebSocket upgrade routed through `fastify`.
 * @returns `release(request, socket, inherited)`: detach that request's response from its socket and
 *   remove the `error` listeners that were on the socket before the connection added its own
 */
export function trackUpgradeResponses (fastify: FastifyInstance): ReleaseUpgrade {
  // Weak: an upgrade refused by a hook never reaches release(), and must not be kept either.
  const responses = new WeakMap<IncomingMessage, ServerResponse>()
  fastify.addHook('onRequest', (request, reply, done) => {
    // Read from the Upgrade header, not `request.ws`: this hook may run before @fastify/websocket's
    // own onRequest hook sets that flag (it does when the plugin tracks before registering it).
    if (request.headers.upgrade?.toLowerCase() === 'websocket') responses.set(request.raw, reply.raw)
    done()
  })
  // An upgrade answered with anything but a 101 (refused by a hook, a 404) is over: the socket
  // left the HTTP server's parser and can serve nothing else. @fastify/websocket closes it only
  // when its own onRequest hook ran first, so one refused by an earlier app hook stayed open
  // until the client gave up. Closed here once the answer is written, whoever refused it.
  // (An upgrade taken into service is hijacked: it never gets here.)
  fastify.addHook('onResponse', (request, reply, done) => {
    if (request.headers.upgrade?.toLowerCase() === 'websocket') {
      responses.delete(request.raw)
      const stream = reply.raw.socket ?? request.raw.socket
      if (stream !== null && !stream.destroyed) stream.end(() => { stream.destroy() })
    }
    done()
  })
  return (request, socket, inheritedErrorListeners) => {
    for (const listener of inheritedErrorListeners) socket.off('error', listener as (error: Error) => void)
    const response = responses.get(request.raw)
    if (response === undefined) return
    responses.delete(request.raw)
    const stream = response.socket
    if (stream !== null) response.detachSocket(stream)
  }
}
