/**
 * Redis connections (ioredis) for the Redis adapter and the Redis session store: one place that
 * decides how we connect, retry and fail.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis'
import { InvalidOptionError } from '../../errors.js'

/** One Redis (plain or through Sentinel) or a Redis Cluster: what the adapter's connections are. */
export type RedisConnection = Redis | Cluster

/** What a connection is for; it shows in Redis's CLIENT LIST and in logs. */
export type RedisRole = 'publisher' | 'subscriber' | 'sessions' | 'rate-limit'

/** A sentinel's address. */
export interface SentinelAddress {
  host: string
  port: number
}

/**
 * Options of {@link createRedisConnection}: where Redis is, as exactly one of `url` (one server)
 * or `sentinels` with `name` (the master Sentinel names so, wherever it is now).
 */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url?: string
  /** The sentinels to ask where the master is (any of them answering is enough). */
  sentinels?: SentinelAddress[]
  /** The master group's name, as the sentinels' `sentinel monitor <name> …` says. */
  name?: string
  role: RedisRole
  /** Node id, shown in the client name. */
  nodeId?: string
}

/** Longest wait between two reconnect attempts to one server, ms. */
const MAX_RECONNECT_DELAY_MS = 2000

/**
 * Longest wait between two reconnect attempts through Sentinel, ms. Each attempt asks a sentinel
 * where the master is, so after a failover the next attempt finds the new one: a short cap is
 * what keeps the time to recover close to the failover's own (measured: ~0.3 s after the switch
 * with 250 ms, up to 2 s with the single server's cap).
 */
const MAX_SENTINEL_RECONNECT_DELAY_MS = 250

/**
 * How every connection we open behaves: it reconnects forever with capped backoff, and fails
 * commands at once while disconnected (no offline queue), so a publish during an outage is
 * reported to the client instead of hanging or being replayed minutes later. The subscriber keeps
 * its queue: ioredis re-sends its subscriptions through it after a reconnect.
 */
function connectionOptions (role: RedisRole, nodeId: string | undefined, viaSentinel: boolean): RedisOptions {
  const maxDelayMs = viaSentinel ? MAX_SENTINEL_RECONNECT_DELAY_MS : MAX_RECONNECT_DELAY_MS
  return {
    connectionName: `fastify-realtime:${role}${nodeId === undefined ? '' : `:${nodeId}`}`,
    enableOfflineQueue: role === 'subscriber',
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelayMs),
    lazyConnect: false,
    ...(viaSentinel ? sentinelOptions(maxDelayMs) : {})
  }
}

/**
 * What a connection through Sentinel needs to follow a failover in which the old master lives on
 * (a manual `SENTINEL FAILOVER`, a partition). Sentinel demotes such a master only seconds after
 * it has switched to the new one, and until then it takes writes that the resync then throws
 * away: measured here, a client writing every 10 ms lost 1,071 acknowledged writes in one manual
 * failover without the detector, 98 with it (those of the ~1 s between the promotion and the
 * announcement; asynchronous replication, see docs/operations.md).
 * - `failoverDetector`: listen to the sentinels' `+switch-master` and reconnect (to the new master) at once.
 * - `reconnectOnError`: a READONLY answer means this connection reached a replica (a demoted
 *   master): reconnect, which asks a sentinel again. The command itself fails (1, not 2): it was
 *   not run, and its caller reports it (a publish is refused with its id) rather than have it run
 *   later behind newer ones.
 * - `sentinelRetryStrategy`: when no sentinel answers, keep asking (ioredis's default gives up
 *   after a few tries, and the connection would stay down for good).
 */
function sentinelOptions (maxDelayMs: number): RedisOptions {
  return {
    failoverDetector: true,
    reconnectOnError: (err) => err.message.startsWith('READONLY') ? 1 : false,
    sentinelRetryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelayMs),
    role: 'master'
  }
}

/** Connections being closed by {@link closeRedisConnection}: the only ones allowed to end. */
const closing = new WeakSet<Redis>()

/**
 * Keep a Sentinel connection alive through an ioredis 6 race: when its failover detector
 * disconnects it (`+switch-master`) while it is asking the sentinels where the master is (a
 * reconnect after a SIGKILLed master), the pending connect fails and ioredis ends the connection
 * for good (status `end`: no more reconnects, every command "Connection is closed."). Seen in 1 of
 * 3 runs of test/redis/sentinel-nodes.test.ts: that node stayed not ready. An `end` straight from
 * `connecting` is that race (a ready connection closed on purpose goes through `close`), so the
 * connection is started again, unless {@link closeRedisConnection} is closing it.
 */
function keepConnecting (redis: Redis): Redis {
  let last = redis.status
  for (const status of ['connecting', 'connect', 'ready', 'close', 'reconnecting'] as const) redis.on(status, () => { last = status })
  redis.on('end', () => {
    if (last !== 'connecting' || closing.has(redis)) return
    const timer = setTimeout(() => {
      if (redis.status === 'end' && !closing.has(redis)) redis.connect().catch(() => {})
    }, MAX_SENTINEL_RECONNECT_DELAY_MS)
    timer.unref()
  })
  return redis
}

/** Whether a client finds its master through Sentinel. */
function viaSentinel (client: Redis): boolean {
  const { sentinels } = client.options
  return sentinels !== undefined && sentinels !== null && sentinels.length > 0
}

/**
 * Open an ioredis connection to `options.url`, or to the master the sentinels name, that behaves
 * as {@link connectionOptions} says.
 * @throws InvalidOptionError (FRT_INVALID_OPTION) when not exactly one of `url` and `sentinels` + `name` is given
 */
export function createRedisConnection (options: RedisConnectionOptions): Redis {
  const { url, sentinels, name, role, nodeId } = options
  if (url !== undefined && sentinels === undefined) return new Redis(url, connectionOptions(role, nodeId, false))
  if (url === undefined && sentinels !== undefined && sentinels.length > 0 && name !== undefined && name !== '') {
    return keepConnecting(new Redis({ sentinels, name, ...connectionOptions(role, nodeId, true) }))
  }
  throw new InvalidOptionError('createRedisConnection', 'give either url, or sentinels (at least one) with the master\'s name')
}

/**
 * A new connection like `client` (same servers, Sentinel settings, credentials, TLS), for one
 * role, behaving as {@link connectionOptions} says. `client` itself is neither used nor closed.
 */
export function duplicateRedisConnection (client: Redis, role: RedisRole, nodeId?: string): Redis {
  const sentinel = viaSentinel(client)
  const redis = client.duplicate({ ...connectionOptions(role, nodeId, sentinel), lazyConnect: false })
  return sentinel ? keepConnecting(redis) : redis
}

/**
 * Close a connection we opened: QUIT when it is up (its pending replies arrive first), then
 * disconnect, which is what also closes the sentinel connections of its failover detector (ioredis
 * 6 leaves them open after a QUIT, reconnecting forever, and the process never exits).
 */
export async function closeRedisConnection (redis: RedisConnection): Promise<void> {
  if (redis instanceof Redis) closing.add(redis)
  if (redis.status === 'ready') await redis.quit().catch(() => {})
  redis.disconnect()
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
  const single = connectionOptions(role, nodeId, false)
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
  if (sentinels !== undefined && sentinels !== null && viaSentinel(client)) {
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
