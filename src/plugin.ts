/**
 * The one file that wires fastify-realtime into Fastify: it resolves the options, has the node
 * assembled (assemble.ts), and registers what that gives on Fastify: @fastify/websocket, the
 * WebSocket and event-stream routes behind the gate, the HTTP API, the `fastify.realtime`
 * decorator, and the shutdown hooks. It decides nothing itself.
 */
import fp from 'fastify-plugin'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { RealtimeDecorator } from './api/decorator.js'
import { assemble } from './assemble.js'
import { SseEndpoint } from './endpoints/sse-routes.js'
import { WebSocketEndpoint } from './endpoints/websocket-routes.js'
import { PusherEndpoints } from './pusher/pusher-endpoint.js'
import { CloseCode } from './errors.js'
import { resolveOptions, type RealtimePluginOptions } from './options.js'
import { RealtimeSocket } from './transports/realtime-socket.js'
import type { UpgradeListener } from './upgrade/gate.js'
import { trackUpgradeResponses } from './upgrade/release.js'

export type { RealtimeDecorator, RecoveryResources, TargetingResources } from './api/decorator.js'

/** ws's readyState for an open socket. */
const OPEN = 1

/**
 * ws's typings describe its `WebSocket` option as the module's class-and-namespace (with
 * `Server`, `createWebSocketStream`, …); a subclass inherits those statics at runtime, and ws
 * only constructs it.
 */
const REALTIME_SOCKET_CLASS = RealtimeSocket as unknown as NonNullable<WebsocketPluginOptions['options']>['WebSocket']

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-realtime's API on this app. */
    realtime: RealtimeDecorator
  }
}

async function fastifyRealtime (fastify: FastifyInstance, rawOptions: RealtimePluginOptions): Promise<void> {
  const options = resolveOptions(rawOptions)
  // The label Fastify logs request ids under (`requestIdLogLabel`), so connection lines match request lines.
  const parts = await assemble(options, fastify.log, fastify.initialConfig.requestIdLogLabel ?? 'reqId')
  const { node, gate, relay, identity, adapter, intake, resumption, resumeTokens, pusher } = parts

  const ownsWebsocket = !fastify.hasDecorator('websocketServer')
  const releaseUpgrade = trackUpgradeResponses(fastify)
  const ws = new WebSocketEndpoint({ node, gate, resumption, resumeTokens, intake, releaseUpgrade, ownsWebsocket })
  // Pusher's protocol: its own routes, on the same port, behind the same gate.
  const pusherRoutes = pusher === null ? null : new PusherEndpoints({ service: pusher, node, gate, resumption, resumeTokens, intake, releaseUpgrade, ownsWebsocket })
  const sse = options.ssePath === ''
    ? null
    : new SseEndpoint({ node, gate, relay, identity, intake, cursors: adapter, options, path: `${options.prefix}${options.ssePath}`, maxPayloadBytes: options.maxPayloadBytes })
  // Before @fastify/websocket's own onRoute hook, which replaces our routes' handlers with a wrapper.
  fastify.addHook('onRoute', ws.onRoute)
  if (pusherRoutes !== null) fastify.addHook('onRoute', pusherRoutes.onRoute)

  // While Fastify closes: upgrades and stream requests get the documented drain refusal, then the drain.
  const shutDown = async (): Promise<void> => {
    sse?.takeOverRequests(fastify.server, fastify.log)
    await parts.drain()
  }
  if (!ownsWebsocket) {
    // The app registered @fastify/websocket itself: reuse it (a second one would handle every upgrade twice).
    fastify.addHook('preClose', shutDown)
  } else {
    // Listeners are typed `Function[]` by @types/node; they are the server's upgrade listeners.
    const upgradeListeners = (): UpgradeListener[] => fastify.server.listeners('upgrade') as UpgradeListener[]
    const upgradeListenersBefore = new Set(upgradeListeners())
    await fastify.register(websocket, {
      // Larger frames close the socket with 1009 (ws's own default would be 100 MiB). The hub is
      // the one registry of connections, so ws keeps no client Set (and no close listener per
      // socket) of its own; its sockets are RealtimeSockets, which hand their events to their
      // connection without listeners (see realtime-socket.ts).
      options: { maxPayload: options.maxPayloadBytes, clientTracking: false, WebSocket: REALTIME_SOCKET_CLASS },
      // Replaces the default, which closes every socket without a code (1005). The default also
      // stopped routing upgrades; that is done here too, or an upgrade arriving while Fastify
      // closes gets Fastify's 503 on a socket nobody ever closes, and `close()` hangs on it.
      preClose: async () => {
        gate.takeOverUpgrades(fastify.server, upgradeListeners().filter((listener) => !upgradeListenersBefore.has(listener)), fastify.log)
        await shutDown()
      },
      // Socket errors are logged by their connection; this sees them too, and also handler throws.
      errorHandler (error: Error, socket: WebSocket, request: FastifyRequest) {
        if (socket.readyState !== OPEN) return
        request.log.error({ err: error }, 'websocket handler failed')
        socket.close(CloseCode.INTERNAL_ERROR, 'internal error')
      }
    })
  }

  // fastify-plugin shares this scope with the parent (so the decorator is visible there), which
  // also means `prefix` is not applied to it: the routes live in child scopes that take it.
  await fastify.register(ws.register, { prefix: options.prefix, path: options.path })
  if (sse !== null) await fastify.register(sse.register, { prefix: options.prefix, path: options.ssePath })
  if (pusherRoutes !== null && options.pusher !== undefined) await fastify.register(pusherRoutes.register, { prefix: options.prefix, path: options.pusher.path })

  const decorator = parts.decorator(ws.handler)
  fastify.decorate('realtime', decorator)
  if (options.api !== undefined) {
    const { apiRoutes } = await import('./api/routes.js')
    // The HTTP API is a face of the decorator: its routes call these very verbs.
    await fastify.register(apiRoutes, { prefix: `${options.prefix}${options.api.prefix}`, api: options.api, realtime: decorator })
  }
  if (options.pusher !== undefined) {
    const { pusherHttpRoutes } = await import('./pusher/http-routes.js')
    // Pusher's HTTP API, for Pusher's server SDKs: a face of the same verbs.
    const mount = `${options.prefix}${options.pusher.apiPath}`
    await fastify.register(pusherHttpRoutes, { prefix: mount, mount, pusher: options.pusher, realtime: decorator })
  }
  // After the drain (preClose).
  fastify.addHook('onClose', parts.close)
}

/**
 * fastify-realtime: register it once, `app.register(realtime, options)`.
 * It registers @fastify/websocket (unless the app already did) and serves the WebSocket endpoint.
 */
export const realtime = fp(fastifyRealtime, { fastify: '5.x', name: 'fastify-realtime' })
