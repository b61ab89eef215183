/**
 * Redis connections (ioredis) for the Redis adapter and the Redis session store: one place that
 * decides how we connect, retry and fail.
 */
import { Redis, type RedisOptions } from 'ioredis'

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

/**
 * Where a client points, as logs and errors may show it: `host:port[/db]`, or the Sentinel
 * master's name and its sentinels, never credentials.
 */
export function redisClientAddress (client: Redis): string {
  const { sentinels, name, host, port, db } = client.options
  if (sentinels !== undefined && sentinels !== null && sentinels.length > 0) {
    return `master "${name ?? 'mymaster'}" via sentinels ${sentinels.map((s) => `${s.host ?? 'localhost'}:${s.port ?? 26379}`).join(',')}`
  }
  return `${host ?? 'localhost'}:${port ?? 6379}${db === undefined || db === 0 ? '' : `/${db}`}`
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
