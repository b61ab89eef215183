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
 * Open an ioredis connection that reconnects forever with capped backoff, and fails commands at
 * once while disconnected (no offline queue), so a publish during an outage is reported to the
 * client instead of hanging or being replayed minutes later.
 */
export function createRedisConnection (options: RedisConnectionOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: `fastify-realtime:${options.role}${options.nodeId === undefined ? '' : `:${options.nodeId}`}`,
    enableOfflineQueue: options.role === 'subscriber',
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RECONNECT_DELAY_MS),
    lazyConnect: false
  }
  return new Redis(options.url, redisOptions)
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
