/**
 * The one file that wires fastify-realtime into Fastify: option validation, @fastify/websocket,
 * the WebSocket route, the Server-Sent Events fallback's routes, identity (tokens, sessions,
 * `auth` frames), resume tokens, per-user targeting, RPC, the `fastify.realtime` decorator and the
 * shutdown hook.
 */
import fp from 'fastify-plugin'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { WebSocket } from 'ws'
import type { LifecycleEvent, RealtimeAdapter } from './adapters/adapter.js'
import { MemoryAdapter } from './adapters/memory.js'
import { ChannelService } from './channels/channel-service.js'
import { ConnectionAuth, type AuthResources } from './auth/connection-auth.js'
import { IdentityResolver, type Identity } from './auth/identity.js'
import { TokenVerifier } from './auth/tokens.js'
import { clientIp } from './upgrade/client-ip.js'
import { ClientErrorCode, CloseCode, InvalidOptionError } from './errors.js'
import { RpcService } from './rpc/rpc-service.js'
import { UserIndex } from './users/user-index.js'
import { UserService } from './users/user-service.js'
import { resolveOptions, type RealtimePluginOptions } from './options.js'
import { RealtimeSocket } from './transports/realtime-socket.js'
import { SseEndpoint } from './endpoints/sse-routes.js'
import { SseRelay } from './transports/sse-relay.js'
import { SseConnection } from './transports/sse.js'
import { WebSocketConnection } from './transports/websocket.js'
import { ResumeStore } from './recovery/resume-store.js'
import { ResumeTokens } from './recovery/resume-tokens.js'
import type { ChannelListEntry } from './wire/channel-list.js'
import type { WelcomeMessage } from './wire/server-messages.js'
import { RealtimeNode, type NodeResources, type RealtimeStats } from './node/realtime-node.js'
import type { Connection } from './node/connection.js'
import { UpgradeGate, type UpgradeGateState, type UpgradeListener } from './upgrade/gate.js'
import type { ReadinessProbe, ReadinessReport } from './node/readiness.js'
import { trackUpgradeResponses } from './upgrade/release.js'
import { NodeReports } from './api/node-reports.js'
import { startWebhooks } from './api/start-webhooks.js'
import { createRealtimeApi, type RealtimeApi } from './api/server-api.js'
import { Cluster } from './cluster/cluster.js'
import { UpgradeResumption } from './upgrade/resume.js'
import { ResumeFrames } from './recovery/resume-frames.js'

/** ws's readyState for an open socket. */
const OPEN = 1

/**
 * The `fastify.realtime` decorator: the server's verbs ({@link RealtimeApi}, the same object the
 * HTTP API's routes call, each reaching every node), and what belongs to this node alone.
 */
export interface RealtimeDecorator extends RealtimeApi {
  /** Connections open on this node. */
  readonly connections: number
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
  /**
   * The upgrade gate (origin, rate, caps, session, draining) as an `onRequest` hook. Routes whose
   * `wsHandler` is {@link wsHandler} get it automatically; add it yourself to other upgrade routes.
   */
  readonly upgradeGate: onRequestHookHandler
  /** What this node holds right now (connections, scheduled sockets, gate slots, deadlines); for leak checks. */
  resources: () => NodeResources & UpgradeGateState & AuthResources & TargetingResources & RecoveryResources
}

/** What the recovery features hold right now; every count returns to 0 when all is done. */
export interface RecoveryResources {
  /** Event streams open on this node. */
  streams: number
  /** POSTs relayed to another node, waiting for its answer. */
  relayedPosts: number
  /** Resume states and stream cursors being written to the adapter. */
  savesInFlight: number
}

/** Per-user targeting and RPC state, for leak checks. */
export interface TargetingResources {
  /** Users with a connection on this node. */
  users: number
  /** RPC calls waiting for their handler. */
  rpcInFlight: number
}

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
  const node = new RealtimeNode(options, fastify.log, fastify.initialConfig.requestIdLogLabel ?? 'reqId')
  // The one place the adapter is chosen: the application's, or the embedded memory default.
  const adapter: RealtimeAdapter = options.adapter ?? new MemoryAdapter()
  node.readiness.add('adapter', () => ({ ok: adapter.connected !== false, detail: `${adapter.name}${adapter.connected === false ? ' disconnected' : ''}` }))
  // Tokens (connection and channel): one verifier, or none when no key source is configured.
  const tokens = TokenVerifier.fromOptions(options, fastify.log)
  if (tokens === null && options.channels.hasPrivate) throw new InvalidOptionError('channels', 'a private channel needs channel tokens: set jwtSecret, jwtPublicKey or jwksUrl')
  const identity = new IdentityResolver(options.identify, tokens)
  const users = new UserIndex()
  // What other nodes ask of this one arrives as control messages; this node's one id names it to them.
  const cluster = new Cluster(fastify.log, adapter.nodeId)
  const { nodeId, router: control, requests } = cluster
  const webhooks = options.webhooks === undefined ? null : startWebhooks(options.webhooks, adapter, options.metrics, fastify.log)
  // Cross-node work of the transports: POSTs relayed to their stream's node, resume takeovers.
  const relay = new SseRelay(nodeId, requests)
  const resumeStore = new ResumeStore({
    adapter: { stateSet: async (key, value, ttlMs) => { await adapter.stateSet(key, value, ttlMs) }, stateGet: async (key) => await adapter.stateGet(key), stateClaim: async (key, value, ttlMs) => await adapter.stateClaim(key, value, ttlMs) },
    cluster: requests,
    ttlMs: options.resumeTtlMs,
    pendingChannels: (connection) => channels.pendingChannels(connection),
    find: (id) => node.hub.get(id),
    onError: (err, connection) => { connection.log.warn({ err }, 'resume state not saved') }
  })
  if (options.resumeSecret === undefined && adapter.name !== 'memory') {
    fastify.log.warn('fastify-realtime: no resumeSecret set: resume tokens only resume on the node that issued them; give every node the same resumeSecret')
  }
  const resumeTokens = new ResumeTokens(options.resumeSecret)
  const channels = new ChannelService({
    registry: options.channels,
    adapter,
    maxSubscriptionsPerConnection: options.maxSubscriptionsPerConnection,
    maxRecoveryReplay: options.maxRecoveryReplay,
    presenceTtlMs: options.presenceTtlMs,
    idempotencyTtlMs: options.idempotencyTtlMs,
    metrics: options.metrics,
    log: fastify.log,
    grants: tokens,
    control,
    ...(webhooks === null ? {} : { onLifecycle: (event: LifecycleEvent) => { webhooks.handle(event) } })
  })
  // Before the channels' own close listener: what a connection leaves behind includes the
  // subscribes it had in flight, which that listener drops.
  node.onConnectionClose((connection) => {
    if (connection instanceof SseConnection) {
      relay.remove(connection)
      resumeStore.track(connection.refreshCursor())
    } else {
      resumeStore.save(connection)
    }
  })
  channels.attach(node)
  // What changes rarely (visitor, channel set) is saved while a WebSocket is open, so a crash of
  // this node still leaves it behind (resume-store.ts), and refreshed before its TTL runs out.
  node.onChannelSetChange = (connection) => { if (!(connection instanceof SseConnection)) resumeStore.changed(connection) }
  const liveRefresh = setInterval(() => {
    resumeStore.refreshOpen([...node.hub].filter((connection) => !(connection instanceof SseConnection)))
  }, Math.max(500, Math.floor(options.resumeTtlMs / 2))).unref()
  const nodeReports = new NodeReports(requests, () => {
    const stats = node.stats()
    return { nodeId, connections: stats.connections, channels: channels.localCounts(), startedAt: stats.startedAt, uptimeMs: stats.uptimeMs, draining: stats.draining }
  })
  const targeting = new UserService({ control, hub: node.hub, channels, index: users, subscribeAtConnect: options.subscribe, metrics: options.metrics })
  // The server's verbs, once: the decorator's and the HTTP API's.
  const verbs = createRealtimeApi({ channels, users: targeting, control, broadcastHere: (data) => node.broadcast(data), nodes: async () => await nodeReports.all() })
  const auth = new ConnectionAuth({
    tokens,
    requireAuth: options.requireAuth,
    authTimeoutMs: options.authTimeoutMs,
    refreshLeadMs: options.tokenRefreshLeadMs,
    send: (connection, message) => node.sendTo(connection, message),
    hold: (connection) => { node.hold(connection) },
    release: (connection) => { node.release(connection) },
    onIdentified: (connection) => {
      resumeStore.changed(connection)
      users.add(connection)
      targeting.atConnect(connection, undefined).catch(() => {}) // it logs its own failures
    },
    log: fastify.log
  })
  if (auth.enabled) node.handle('auth', (connection, message) => { auth.handle(connection, message) })
  if (options.requireAuth) node.guard((connection, message) => auth.guard(connection, message))
  const rpc = new RpcService({ registry: options.rpc, timeoutMs: options.rpcTimeoutMs, maxInFlightPerConnection: options.maxRpcInFlight, send: (connection, message) => node.sendTo(connection, message), log: fastify.log })
  if (options.rpc.size > 0) node.handle('rpc', (connection, message) => { rpc.handle(connection, message) })
  const resumeFrames = new ResumeFrames({
    tokens: resumeTokens,
    store: resumeStore,
    send: (connection, message) => { node.sendTo(connection, message) },
    hold: (connection) => { node.hold(connection) },
    release: (connection) => { node.release(connection) },
    identified: async (connection, who, positions) => {
      resumeStore.changed(connection)
      users.add(connection)
      auth.start(connection, who)
      await targeting.atConnect(connection, undefined, positions)
    },
    restore: async (connection, entries, rewind) => { await channels.restore(connection, entries, rewind) }
  })
  // Only a WebSocket resumes with a token (an event stream has its Last-Event-ID).
  node.handle('resume', (connection, message) => {
    if (connection instanceof SseConnection) node.sendTo(connection, { type: 'error', code: ClientErrorCode.UNSUPPORTED, message: 'An event stream resumes with its Last-Event-ID, not a "resume" message.', ...(message.id === undefined ? {} : { id: message.id }) })
    else resumeFrames.handle(connection, message)
  })
  node.onConnectionClose((connection) => {
    auth.remove(connection)
    users.remove(connection)
    rpc.dropConnection(connection)
  })
  await channels.start()
  cluster.start()

  const gate = new UpgradeGate({ options, identity, metrics: options.metrics, draining: () => node.draining })
  const drain = async (): Promise<void> => {
    auth.stop()
    clearInterval(liveRefresh)
    resumeStore.stopLive()
    gate.cancelWaiting()
    // Refreshed now, while the positions are final (a closing socket is sent nothing more), in
    // case the grace runs out before the sockets close; their close saves them once more.
    for (const connection of node.hub) if (!(connection instanceof SseConnection)) resumeStore.save(connection)
    await node.drain()
    await resumeStore.flush()
  }
  // A connection holds its gate slot until it closes.
  node.onConnectionClose((connection) => { if (connection.holdsGateSlot) gate.release(connection.ip) })
  // A node at its connection cap would refuse a new client (503): tell the balancer first.
  node.readiness.add('capacity', () => gate.state().slots >= options.maxConnections
    ? { ok: false, detail: `at the connection limit (${options.maxConnections})` }
    : { ok: true })
  const ownsWebsocket = !fastify.hasDecorator('websocketServer')
  /**
   * Take a connection made for an admitted opening request into service, whatever its transport:
   * the node (welcome, ticks, heartbeat), the user index, its token deadlines, the channel hooks'
   * request, and the server-side subscriptions at connect (an anonymous socket that must
   * authenticate gets them once it has). The identity is the one the gate resolved (`gate.identityOf`).
   */
  /**
   * Take a connection of any transport into service, and bring back the channels it asked for:
   * the server's own (the `subscribe` option) first, each from the position the request names for
   * it, then the rest of the list, as the connection's own subscriptions.
   */
  const acceptConnection = (connection: Connection, request: FastifyRequest, who: Identity, welcome: Pick<WelcomeMessage, 'resume' | 'stream'>, restore: { entries: readonly ChannelListEntry[], rewind: number }): void => {
    node.accept(connection, welcome)
    users.add(connection)
    auth.start(connection, who)
    channels.bindRequest(connection, request)
    const positions = new Map(restore.entries.flatMap(({ channel, since }) => since === undefined ? [] : [[channel, since] as const]))
    const serverChannels = options.requireAuth && connection.visitor === null ? Promise.resolve() : targeting.atConnect(connection, request, positions)
    if (restore.entries.length === 0) return
    // After the server's own: restore skips what the connection already has.
    serverChannels
      .then(async () => { await channels.restore(connection, restore.entries, restore.rewind) })
      .catch((err: unknown) => { connection.log.error({ err }, 'restoring the connection\'s channels failed') })
  }

  const releaseUpgrade = trackUpgradeResponses(fastify)
  const resumption = new UpgradeResumption({ identityOf: (request) => gate.identityOf(request), maxSubscriptionsPerConnection: options.maxSubscriptionsPerConnection })
  const wsHandler = (socket: WebSocket, request: FastifyRequest): void => {
    // Our errorHandler's listener only repeats the connection's own error log (see upgrade-release.ts).
    const inherited = ownsWebsocket ? socket.listeners('error') : []
    // What the upgrade asks for (its `channels`) was read before the 101; a token comes in a `resume` frame.
    const resumed = resumption.take(request)
    const who = resumed.identity
    // request.raw.socket is the TCP socket ws took over: raw frames go to it, and its `drain` releases coalesced ticks.
    // The connection wires the socket's events as it is made: before any await, so nothing is missed.
    const connection = new WebSocketConnection(socket, request.raw.socket, node.connectionShared, { ip: clientIp(request), visitor: who.visitor, requestId: request.id }, true)
    connection.holdsGateSlot = gate.adopt(request.raw.socket)
    acceptConnection(connection, request, who, { resume: resumeTokens.issue(connection.id) }, { entries: resumed.channels, rewind: resumed.rewind })
    // A connection with an identity or channels from the start leaves them behind even if this node crashes.
    if (who.visitor !== null) resumeStore.changed(connection)
    // Nothing reads the request after this: let the socket stop retaining it.
    releaseUpgrade(request, socket, inherited)
  }

  // Any route that serves upgrades with our handler gets the gate, our own `/ws` and the app's
  // (the demo's `/`), in either form: `{ wsHandler: fastify.realtime.wsHandler }` beside a page
  // handler, or `{ websocket: true }` with it as the route's handler. Added before
  // @fastify/websocket's own onRoute hook, which replaces such a route's handler with a wrapper.
  fastify.addHook('onRoute', (route) => {
    const servesOurSockets = route.wsHandler === wsHandler || (route.websocket === true && (route.handler as unknown) === wsHandler)
    if (!servesOurSockets) return
    const existing = route.onRequest
    route.onRequest = [gate.onRequest, ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing])]
    // What the upgrade asks for is read before the 101 (a `?resume=` is refused there), once the gate admitted it.
    const handlers = route.preHandler
    route.preHandler = [...(handlers === undefined ? [] : Array.isArray(handlers) ? handlers : [handlers]), resumption.preHandler]
  })

  // Set once the event stream's routes exist: while Fastify closes, they answer the documented drain refusal.
  let sse: SseEndpoint | null = null
  const takeOverStreams = (): void => { sse?.takeOverRequests(fastify.server, fastify.log) }
  if (!ownsWebsocket) {
    // The app registered @fastify/websocket itself: reuse it (a second one would handle every upgrade twice).
    fastify.addHook('preClose', async () => {
      takeOverStreams()
      await drain()
    })
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
        takeOverStreams()
        await drain()
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
  // also means `prefix` is not applied to it: the route lives in a child scope that takes it.
  await fastify.register(async (routes) => {
    routes.get(options.path, { websocket: true }, wsHandler)
  }, { prefix: options.prefix })

  if (options.ssePath !== '') {
    const endpoint = new SseEndpoint({ node, gate, relay, identity, cursors: adapter, options, path: `${options.prefix}${options.ssePath}`, accept: acceptConnection })
    sse = endpoint
    await fastify.register(async (routes) => {
      // A stream's POST carries one client message as it would travel on a WebSocket: its text.
      routes.removeAllContentTypeParsers()
      routes.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
      routes.get(options.ssePath, { onRequest: gate.onStreamRequest, onSend: endpoint.onSend }, endpoint.stream)
      // Larger than maxPayloadBytes: 413, as a WebSocket message that size closes with 1009.
      routes.post(options.ssePath, { bodyLimit: options.maxPayloadBytes }, endpoint.post)
    }, { prefix: options.prefix })
  }

  const decorator: RealtimeDecorator = {
    ...verbs,
    get connections () { return node.hub.size },
    stats: () => node.stats(),
    readiness: () => node.readiness.report(),
    addReadinessCheck: (name: string, probe: ReadinessProbe) => node.readiness.add(name, probe),
    wsHandler,
    drain,
    upgradeGate: gate.onRequest,
    resources: () => ({ ...node.resources(), ...gate.state(), ...auth.resources(), users: users.size, rpcInFlight: rpc.inFlight, streams: relay.size, relayedPosts: relay.waiting, savesInFlight: resumeStore.saving })
  }
  fastify.decorate('realtime', decorator)

  if (options.api !== undefined) {
    const { apiRoutes } = await import('./api/routes.js')
    // The HTTP API is a face of the decorator: its routes call these very verbs.
    await fastify.register(apiRoutes, { prefix: `${options.prefix}${options.api.prefix}`, api: options.api, realtime: decorator })
  }

  fastify.addHook('onClose', async () => {
    clearInterval(liveRefresh)
    webhooks?.close()
    node.ticker?.stop()
    node.heartbeat?.stop()
    auth.stop()
    rpc.stop()
    await cluster.stop()
    // After the drain (preClose): the closing connections have left their channels.
    await channels.close()
  })
}

/**
 * fastify-realtime: register it once, `app.register(realtime, options)`.
 * It registers @fastify/websocket (unless the app already did) and serves the WebSocket endpoint.
 */
export const realtime = fp(fastifyRealtime, { fastify: '5.x', name: 'fastify-realtime' })
