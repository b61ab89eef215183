/**
 * One node's object graph, built once from the resolved options, top to bottom: the adapter (the
 * application's, or the embedded memory default), tokens and identity, the cluster, webhooks,
 * channels, recovery, users, the server's verbs, auth, RPC, the upgrade gate, and the intake every
 * endpoint hands its connections to. Nothing here decides about a connection or a request: the
 * parts do. plugin.ts registers what this returns on Fastify (routes, hooks, the decorator).
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { RealtimeAdapter } from './adapters/adapter.js'
import type { LifecycleEvent } from './adapters/state.js'
import { MemoryAdapter } from './adapters/memory.js'
import type { RealtimeDecorator } from './api/decorator.js'
import { NodeReports } from './api/node-reports.js'
import { createRealtimeApi } from './api/server-api.js'
import { startWebhooks } from './api/start-webhooks.js'
import { startPusherWebhooks } from './pusher/webhooks.js'
import { ConnectionAuth } from './auth/connection-auth.js'
import { IdentityResolver } from './auth/identity.js'
import { TokenVerifier } from './auth/tokens.js'
import { ChannelService } from './channels/channel-service.js'
import { Cluster } from './cluster/cluster.js'
import { ConnectionIntake } from './endpoints/intake.js'
import { connectedCheck } from './node/readiness.js'
import { RealtimeNode } from './node/realtime-node.js'
import type { ResolvedOptions } from './options.js'
import { ResumeFrames } from './recovery/resume-frames.js'
import { ResumeStore } from './recovery/resume-store.js'
import { ResumeTokens } from './recovery/resume-tokens.js'
import { RpcService } from './rpc/rpc-service.js'
import { SseRelay } from './transports/sse-relay.js'
import { UpgradeGate } from './upgrade/gate.js'
import { UpgradeResumption } from './upgrade/resume.js'
import { UserIndex } from './users/user-index.js'
import { UserService } from './users/user-service.js'
import { pusherChannelPolicies } from './pusher/channel-policies.js'
import { PusherService } from './pusher/pusher-service.js'

/** One node, assembled: what plugin.ts registers, and the node's drain and close. */
export interface Assembly {
  readonly node: RealtimeNode
  readonly adapter: RealtimeAdapter
  readonly identity: IdentityResolver
  readonly gate: UpgradeGate
  readonly relay: SseRelay
  readonly intake: ConnectionIntake
  readonly resumption: UpgradeResumption
  readonly resumeTokens: ResumeTokens
  /** Pusher's protocol (the `pusher` option), or null when it is off. */
  readonly pusher: PusherService | null
  /** The `fastify.realtime` decorator, with the WebSocket endpoint's handler. */
  decorator: (wsHandler: (socket: WebSocket, request: FastifyRequest) => void) => RealtimeDecorator
  /**
   * Stop taking new work and close every connection (1001), leaving behind what each client comes
   * back with; settles once they are gone and what they left is written.
   */
  drain: () => Promise<void>
  /** After the drain: stop every timer and leave the cluster and the adapter. */
  close: () => Promise<void>
}

/**
 * Build one node from the resolved options (see the module comment).
 * @param requestIdLabel - Fastify's `requestIdLogLabel`, so connection lines match request lines
 */
export async function assemble (options: ResolvedOptions, log: FastifyBaseLogger, requestIdLabel: string): Promise<Assembly> {
  const node = new RealtimeNode(options, log, requestIdLabel)
  // The one place the adapter is chosen: the application's, or the embedded memory default.
  const adapter: RealtimeAdapter = options.adapter ?? new MemoryAdapter()
  node.readiness.add('adapter', connectedCheck(adapter))
  const tokens = TokenVerifier.fromOptions(options, log)
  const identity = new IdentityResolver(options.identify, tokens)
  const cluster = new Cluster(log, adapter.nodeId)
  const webhooks = options.webhooks === undefined ? null : startWebhooks(options.webhooks, adapter, options.metrics, log)
  const pusherOptions = options.pusher ?? null
  // With Pusher on, its channels need no declaration: Pusher's rules by prefix, where none matches.
  const registry = pusherOptions === null ? options.channels : options.channels.withFallback(pusherChannelPolicies(pusherOptions.apps))
  const pusherWebhooks = pusherOptions === null ? null : startPusherWebhooks(pusherOptions, adapter, options.metrics, log)
  // Each format's webhooks get every lifecycle event (and debounce it under keys of their own).
  const lifecycleListeners = [webhooks, pusherWebhooks].flatMap((running) => running === null ? [] : [running.notify])
  const channels = new ChannelService({
    registry,
    adapter,
    maxSubscriptionsPerConnection: options.maxSubscriptionsPerConnection,
    maxRecoveryReplay: options.maxRecoveryReplay,
    presenceTtlMs: options.presenceTtlMs,
    idempotencyTtlMs: options.idempotencyTtlMs,
    metrics: options.metrics,
    log,
    grants: tokens,
    control: cluster.router,
    ...(lifecycleListeners.length === 0 ? {} : { onLifecycle: (event: LifecycleEvent) => { for (const notify of lifecycleListeners) notify(event) } })
  })

  // Recovery: what a connection leaves behind (left before the channels' own close listener
  // drops the subscribes it had in flight, which its resume state includes).
  const resumeStore = new ResumeStore({
    adapter,
    cluster: cluster.requests,
    ttlMs: options.resumeTtlMs,
    pendingChannels: (connection) => channels.pendingChannels(connection),
    find: (id) => node.hub.get(id),
    onError: (err, connection) => { connection.log.warn({ err }, 'resume state not saved') },
    live: adapter.inProcess !== true
  })
  node.onConnectionClose((connection) => { connection.leaveBehind(resumeStore) })
  channels.attach(node)
  node.onChannelSetChange = (connection) => { resumeStore.changed(connection) }
  resumeStore.startLive(node.hub)
  if (options.resumeSecret === undefined && adapter.name !== 'memory') {
    log.warn('fastify-realtime: no resumeSecret set: resume tokens only resume on the node that issued them; give every node the same resumeSecret')
  }
  const resumeTokens = new ResumeTokens(options.resumeSecret)
  const relay = new SseRelay(cluster.nodeId, cluster.requests)

  // Users, the server's verbs, and the services that answer client messages.
  const users = new UserIndex()
  const targeting = new UserService({ control: cluster.router, hub: node.hub, channels, index: users, subscribeAtConnect: options.subscribe, metrics: options.metrics })
  const nodeReports = new NodeReports(cluster.requests, cluster.nodeId, node, channels)
  const verbs = createRealtimeApi({ channels, users: targeting, control: cluster.router, node, nodeReports })
  const auth = new ConnectionAuth({
    tokens,
    requireAuth: options.requireAuth,
    authTimeoutMs: options.authTimeoutMs,
    refreshLeadMs: options.tokenRefreshLeadMs,
    node,
    // The intake is made below, with this auth in it.
    onIdentified: (connection) => { intake.identified(connection) },
    log
  })
  const rpc = new RpcService({ registry: options.rpc, timeoutMs: options.rpcTimeoutMs, maxInFlightPerConnection: options.maxRpcInFlight, node, log })
  const intake = new ConnectionIntake({ node, users, auth, channels, targeting, resumeStore, requireAuth: options.requireAuth })
  const resumeFrames = new ResumeFrames({ tokens: resumeTokens, store: resumeStore, node, intake, channels })
  if (auth.enabled) node.on('auth', (connection, message) => { auth.authenticate(connection, message) })
  if (options.requireAuth) node.guard((connection, message) => auth.guard(connection, message))
  if (options.rpc.size > 0) node.on('rpc', (connection, message) => { rpc.call(connection, message) })
  node.on('resume', (connection, message) => { resumeFrames.resume(connection, message) })
  const pusher = pusherOptions === null
    ? null
    : new PusherService({
      options: pusherOptions,
      node,
      channels,
      registry,
      identified: (connection) => { intake.identified(connection) },
      // Client events and cache misses happen on the one node holding the connection: its Pusher webhooks report them.
      ...(pusherWebhooks === null ? {} : { webhooks: pusherWebhooks.events }),
      log
    })
  pusher?.attach()
  node.onConnectionClose((connection) => { auth.remove(connection) })
  node.onConnectionClose((connection) => { users.remove(connection) })
  node.onConnectionClose((connection) => { rpc.dropConnection(connection) })
  await channels.start()
  cluster.start()

  // The gate every opening request passes; a connection holds its slot until it closes.
  const gate = new UpgradeGate({ options, identity, metrics: options.metrics, node })
  node.onConnectionClose((connection) => { if (connection.holdsGateSlot) gate.release(connection.ip) })
  node.readiness.add('capacity', gate.capacityCheck)
  const resumption = new UpgradeResumption({ identityOf: (request) => gate.identityOf(request), maxSubscriptionsPerConnection: options.maxSubscriptionsPerConnection })

  const drain = async (): Promise<void> => {
    auth.stop()
    resumeStore.stopLive()
    gate.cancelWaiting()
    for (const connection of node.hub) connection.leaveBehind(resumeStore)
    await node.drain()
    await resumeStore.flush()
  }
  const close = async (): Promise<void> => {
    resumeStore.stopLive()
    webhooks?.close()
    pusherWebhooks?.close()
    node.close()
    auth.stop()
    rpc.stop()
    await cluster.stop()
    // After the drain: the closing connections have left their channels.
    await channels.close()
  }
  const decorator = (wsHandler: RealtimeDecorator['wsHandler']): RealtimeDecorator => ({
    ...verbs,
    get connections () { return node.hub.size },
    stats: () => node.stats(),
    readiness: () => node.readiness.report(),
    addReadinessCheck: (name, probe) => node.readiness.add(name, probe),
    wsHandler,
    drain,
    upgradeGate: gate.onRequest,
    resources: () => ({ ...node.resources(), ...gate.state(), ...auth.resources(), users: users.size, rpcInFlight: rpc.inFlight, streams: relay.size, relayedPosts: relay.waiting, savesInFlight: resumeStore.saving })
  })
  return { node, adapter, identity, gate, relay, intake, resumption, resumeTokens, pusher, decorator, drain, close }
}
