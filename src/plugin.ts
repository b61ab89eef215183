/**
 * The one file that wires fastify-realtime into Fastify: option validation, @fastify/websocket,
 * the WebSocket route, the `fastify.realtime` decorator and the shutdown hook.
 */
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { clientIp } from './client-ip.js'
import { CloseCode } from './errors.js'
import { resolveOptions, type RealtimePluginOptions } from './options.js'
import { RealtimeNode, type RealtimeStats } from './realtime-node.js'
import type { ReadinessProbe, ReadinessReport } from './readiness.js'
import { trackUpgradeResponses } from './upgrade-release.js'

/** ws's readyState for an open socket. */
const OPEN = 1

/** The `fastify.realtime` decorator. */
export interface RealtimeDecorator {
  /** Connections open on this node. */
  readonly connections: number
  /** Send `data` as a `broadcast` frame to every open connection on this node. @returns sockets reached */
  broadcast: (data: unknown) => number
  /** Counters of this node. */
  stats: () => RealtimeStats
  /** Whether this node should get new clients: every readiness check's answer (`draining`, …). */
  readiness: () => ReadinessReport
  /**
   * Add a readiness check (an adapter's connection, a connection limit, an app's database…).
   * @returns a function that removes it
   */
  addReadinessCheck: (name: string, probe: ReadinessProbe) => () => void
  /**
   * The WebSocket handler, for accepting sockets on another route too, e.g.
   * `fastify.get('/', { handler: page, wsHandler: fastify.realtime.wsHandler })`.
   */
  readonly wsHandler: (socket: WebSocket, request: FastifyRequest) => void
  /** Drain now: close every socket with 1001 and wait for them (also runs on `fastify.close()`). */
  drain: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-realtime's API on this app. */
    realtime: RealtimeDecorator
  }
}

async function fastifyRealtime (fastify: FastifyInstance, rawOptions: RealtimePluginOptions): Promise<void> {
  const options = resolveOptions(rawOptions)
  const node = new RealtimeNode(options, fastify.log)

  const drain = async (): Promise<void> => { await node.drain() }
  const ownsWebsocket = !fastify.hasDecorator('websocketServer')
  if (!ownsWebsocket) {
    // The app registered @fastify/websocket itself: reuse it (a second one would handle every upgrade twice).
    fastify.addHook('preClose', drain)
  } else {
    await fastify.register(websocket, {
      options: { maxPayload: options.maxPayloadBytes },
      // Replaces the default, which closes every socket without a code (1005).
      preClose: drain,
      // Socket errors are logged by their connection; this sees them too, and also handler throws.
      errorHandler (error: Error, socket: WebSocket, request: FastifyRequest) {
        if (socket.readyState !== OPEN) return
        request.log.error({ err: error }, 'websocket handler failed')
        socket.close(CloseCode.INTERNAL_ERROR, 'internal error')
      }
    })
  }

  const releaseUpgrade = trackUpgradeResponses(fastify)
  const wsHandler = (socket: WebSocket, request: FastifyRequest): void => {
    // Our errorHandler's listener only repeats the connection's own error log (see upgrade-release.ts).
    const inherited = ownsWebsocket ? socket.listeners('error') : []
    node.accept(socket, { ip: clientIp(request), visitor: options.identify(request), log: request.log, stream: request.raw.socket })
    // Nothing reads the request after this: let the socket stop retaining it.
    releaseUpgrade(request, socket, inherited)
  }

  // fastify-plugin shares this scope with the parent (so the decorator is visible there), which
  // also means `prefix` is not applied to it: the route lives in a child scope that takes it.
  await fastify.register(async (routes) => {
    routes.get(options.path, { websocket: true }, wsHandler)
  }, { prefix: options.prefix })

  fastify.decorate('realtime', {
    get connections () { return node.hub.size },
    broadcast: (data: unknown) => node.broadcast(data),
    stats: () => node.stats(),
    readiness: () => node.readiness.report(),
    addReadinessCheck: (name: string, probe: ReadinessProbe) => node.readiness.add(name, probe),
    wsHandler,
    drain
  } satisfies RealtimeDecorator)

  fastify.addHook('onClose', async () => { node.ticker?.stop() })
}

/**
 * fastify-realtime: register it once, `app.register(realtime, options)`.
 * It registers @fastify/websocket (unless the app already did) and serves the WebSocket endpoint.
 */
export const realtime = fp(fastifyRealtime, { fastify: '5.x', name: 'fastify-realtime' })
