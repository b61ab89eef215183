/**
 * Redis connections (ioredis) for the Redis adapter and the Redis session store: one place that
 * decides how we connect, retry and fail.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis'

/** One Redis (plain or through Sentinel) or a Redis Cluster: what the adapter's connections are. */
export type RedisConnection = Redis | Cluster

/** What a connection is for; it shows in Redis's CLIENT LIST and in logs. */
export type RedisRole = 'publisher' | 'subscriber' | 'sessions' | 'rate-limit'

/** Options of {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string
  role: RedisRole
  /** Node id, shown in the client name. */
  nodeId?: string
}

/** Longest wait between two reconnect attempts, ms. */
const MAX_RECONNECT_DELAY_MS = 2000

/**
 * How every connection we open behaves: it reconnects forever with capped backoff, and fails
 * commands at once while disconnected (no offline queue), so a publish during an outage is
 * reported to the client instead of hanging or being replayed minutes later. The subscriber keeps
 * its queue: ioredis re-sends its subscriptions through it after a reconnect.
 */
function connectionOptions (role: RedisRole, nodeId: string | undefined): RedisOptions {
  return {
    connectionName: `fastify-realtime:${role}${nodeId === undefined ? '' : `:${nodeId}`}`,
    enableOfflineQueue: role === 'subscriber',
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS),
    lazyConnect: false
  }
}

/** Open an ioredis connection to `options.url` that behaves as {@link connectionOptions} says. */
export function createRedisConnection (options: RedisConnectionOptions): Redis {
  return new Redis(options.url, connectionOptions(options.role, options.nodeId))
}

/**
 * A new connection like `client` (same servers, Sentinel settings, credentials, TLS), for one
 * role, behaving as {@link connectionOptions} says. `client` itself is neither used nor closed.
 */
export function duplicateRedisConnection (client: Redis, role: RedisRole, nodeId?: string): Redis {
  return client.duplicate({ ...connectionOptions(role, nodeId), lazyConnect: false })
}

/** Where a Redis Cluster is and how to reach its nodes (the `cluster` option of the adapter). */
export interface RedisClusterConfig {
  /** Some of the cluster's nodes (`{ host, port }`, `'host:port'` or a port); the rest is discovered. */
  nodes: ClusterNode[]
  /**
   * ioredis Cluster options (credentials and TLS go under `redisOptions`, NAT mapping under
   * `natMap`). The adapter sets what its connections need over them: `shardedSubscribers` on the
   * subscriber, no offline queue on the publisher.
   */
  options?: ClusterOptions
}

/**
 * What the adapter sets on its Cluster connections: the subscriber subscribes with SSUBSCRIBE
 * through one connection per master (`shardedSubscribers`). Both keep ioredis's Cluster offline
 * queue: without it, concurrent commands that find a master's connection still connecting are
 * retried on random nodes and come back through MOVED in another order (seen here: 50 control
 * messages sent at once arrived shuffled), which would reorder a channel's publishes. The adapter
 * refuses commands itself while the publisher Cluster is not ready, so nothing waits in that queue.
 */
function clusterConnectionOptions (role: RedisRole, nodeId: string | undefined, given: ClusterOptions | undefined): ClusterOptions {
  const single = connectionOptions(role, nodeId)
  return {
    ...given,
    enableOfflineQueue: true,
    shardedSubscribers: role === 'subscriber',
    lazyConnect: false,
    clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS),
    redisOptions: { ...given?.redisOptions, connectionName: single.connectionName, maxRetriesPerRequest: 1 }
  }
}

/** Open a Cluster connection for one role of the adapter (see {@link clusterConnectionOptions}). */
export function createRedisClusterConnection (config: RedisClusterConfig, role: RedisRole, nodeId?: string): Cluster {
  return new Cluster(config.nodes, clusterConnectionOptions(role, nodeId, config.options))
}

/** A new Cluster connection like `client` (same nodes and options) for one role; `client` is not used or closed. */
export function duplicateRedisClusterConnection (client: Cluster, role: RedisRole, nodeId?: string): Cluster {
  return client.duplicate(undefined, clusterConnectionOptions(role, nodeId, client.options))
}

/**
 * Where a client points, as logs and errors may show it: `host:port[/db]`, the Sentinel master's
 * name and its sentinels, or the cluster's known masters, never credentials.
 */
export function redisClientAddress (client: RedisConnection): string {
  if (client instanceof Cluster) return clusterAddress(client.nodes('master').map((node) => `${node.options.host ?? 'localhost'}:${node.options.port ?? 6379}`))
  const { sentinels, name, host, port, db } = client.options
  if (sentinels !== undefined && sentinels !== null && sentinels.length > 0) {
    return `master "${name ?? 'mymaster'}" via sentinels ${sentinels.map((s) => `${s.host ?? 'localhost'}:${s.port ?? 26379}`).join(',')}`
  }
  return `${host ?? 'localhost'}:${port ?? 6379}${db === undefined || db === 0 ? '' : `/${db}`}`
}

/** How logs name a cluster: the nodes it was given or knows. */
export function clusterAddress (nodes: ClusterNode[]): string {
  const names = nodes.map((node) => typeof node === 'object' ? `${node.host ?? 'localhost'}:${node.port ?? 6379}` : String(node))
  return `cluster ${names.length === 0 ? '(nodes not yet known)' : names.join(',')}`
}

/**
 * Where a Redis URL points, as logs and errors may show it: `host:port[/db]`, never the
 * credentials the URL may carry.
 */
export function redisAddress (url: string): string {
  try {
    const parsed = new URL(url)
    const db = parsed.pathname.length > 1 ? parsed.pathname : ''
    return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}${db}`
  } catch {
    return '(an invalid Redis URL)'
  }
}
