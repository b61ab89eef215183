/**
 * `fastify-realtime/redis`: scale-out on Redis. A separate entry so that apps running one node
 * never load ioredis.
 *
 * ```ts
 * import realtime from 'fastify-realtime'
 * import { RedisAdapter } from 'fastify-realtime/redis'
 * await app.register(realtime, { adapter: new RedisAdapter({ url: 'redis://127.0.0.1:6379' }) })
 * ```
 *
 * Or give it an ioredis client (`{ client }`, e.g. one set up for Sentinel) or a factory
 * (`{ createClient }`): the adapter closes the connections it opened, never a client it was given.
 *
 * On a Redis Cluster (Redis ≥ 7, sharded pub/sub), give it some of the cluster's nodes, or an
 * ioredis `Cluster` as `client`:
 *
 * ```ts
 * new RedisAdapter({ cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }], options: { redisOptions: { password } } } })
 * ```
 */
export { RedisAdapter } from './redis-adapter.js'
export type { RedisAdapterOptions } from './redis-adapter.js'
export { closeRedisConnection, createRedisConnection } from './connection.js'
export type { RedisClusterConfig, RedisConnection, RedisConnectionOptions, RedisRole, SentinelAddress } from './connection.js'
export { RedisSessionStore } from './session-store.js'
export type { RedisSessionStoreOptions, SessionRedisCommands, StoredSession } from './session-store.js'
