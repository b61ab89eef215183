/**
 * The `fastify.realtime` decorator's shape: the server's verbs ({@link RealtimeApi}, the same
 * object the HTTP API's routes call), and what belongs to this node alone. plugin.ts decorates
 * Fastify with it (and types `fastify.realtime` there, by declaration merging).
 */
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import type { WebSocket } from 'ws'
import type { AuthResources } from '../auth/connection-auth.js'
import type { ReadinessProbe, ReadinessReport } from '../node/readiness.js'
import type { NodeResources, RealtimeStats } from '../node/realtime-node.js'
import type { UpgradeGateState } from '../upgrade/gate.js'
import type { RealtimeApi } from './server-api.js'

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

/** Everything a node holds, for leak checks: every count returns to 0 once every socket has gone. */
export type RealtimeResources = NodeResources & UpgradeGateState & AuthResources & TargetingResources & RecoveryResources

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
  resources: () => RealtimeResources
}
