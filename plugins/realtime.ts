/**
 * The realtime plugin as the demo app uses it: registered through the public barrel, exactly as
 * an outside app would. Ticks carry something worth watching: server time, connections, load,
 * memory. The visitor comes from the cookie session of the upgrade request.
 */
import { createHash } from 'node:crypto'
import { loadavg } from 'node:os'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { closeRedisConnection, createRedisConnection, RedisAdapter } from '../src/adapters/redis/index.js'
import { visitorIdOf } from './session.js'
import realtime, { RpcError, type ChannelContext, type ChannelDefinition, type RpcMethod, type TickContext, type Visitor } from '../src/index.js'

/** What the demo's ticker pushes. */
export interface DemoTick {
  /** The tutorial's message, kept so its client sees what it always saw. */
  message: string
  time: string
  connections: number
  load1: number
  rssMiB: number
  heapUsedMiB: number
}

/** How long a sample of the process figures serves the ticks. */
const PROCESS_SAMPLE_MS = 1000

/** The process figures of the ticks, with when they were read. */
let processSample = { at: -Infinity, load1: 0, rssMiB: 0, heapUsedMiB: 0 }

/**
 * Load and memory, read at most once a second: the ticker asks once per timer-wheel slot (up to
 * 200 times a second at 10 Hz), and `process.memoryUsage()` walks every heap space and reads
 * /proc, which cost more than the whole batch of ticks it was read for.
 */
function processFigures (now: number): typeof processSample {
  if (now - processSample.at < PROCESS_SAMPLE_MS) return processSample
  const memory = process.memoryUsage()
  processSample = {
    at: now,
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    rssMiB: Math.round(memory.rss / 1048576 * 10) / 10,
    heapUsedMiB: Math.round(memory.heapUsed / 1048576 * 10) / 10
  }
  return processSample
}

function demoTick ({ connections, now }: TickContext): DemoTick {
  const { load1, rssMiB, heapUsedMiB } = processFigures(now)
  return {
    message: 'send Msg from server to client.',
    time: new Date(now).toISOString(),
    connections,
    load1,
    rssMiB,
    heapUsedMiB
  }
}

/** Longest chat message the demo accepts, in characters. */
export const CHAT_MAX_CHARS = 500

/** A chat message as the demo publishes it: the author comes from the session, never from the client. */
export interface ChatMessage {
  text: string
  from: { id: string, name: string | null }
}

function signChatMessage ({ visitor }: ChannelContext, data: unknown): ChatMessage | undefined {
  const text = typeof data === 'object' && data !== null ? (data as { text?: unknown }).text : undefined
  if (visitor === null || typeof text !== 'string') return undefined
  const trimmed = text.trim()
  if (trimmed === '' || trimmed.length > CHAT_MAX_CHARS) return undefined
  return { text: trimmed, from: { id: visitor.id, name: visitor.name ?? null } }
}

/** The demo's channels: a chat with history and presence; a server-only announcements feed. */
export const DEMO_CHANNELS: ChannelDefinition[] = [
  { name: 'chat', clientPublish: true, onClientPublish: signChatMessage, historySize: 50, historyTtlMs: 60 * 60 * 1000, presence: true },
  { name: 'announcements', historySize: 20 }
]

/** What a direct message carries: the author comes from the connection, never from the client. */
export interface DirectChat {
  text: string
  from: { id: string, name: string | null }
}

const DirectData = Type.Object({
  to: Type.String({ minLength: 1, maxLength: 256 }),
  text: Type.String({ minLength: 1, maxLength: CHAT_MAX_CHARS })
}, { additionalProperties: false })

/**
 * The demo's RPC: `dm.send` sends a direct message to one visitor, on every tab and node they
 * have, through `sendToUser`. Its answer says when it left; a visitor without a session is
 * refused with the demo's own code.
 */
function directMessages (fastify: FastifyInstance): RpcMethod<typeof DirectData> {
  return {
    schema: DirectData,
    handler: async ({ to, text }, { visitor }) => {
      if (visitor === null) throw new RpcError('anonymous', 'Load the page to get a session before sending direct messages.')
      const message: DirectChat = { text: text.trim(), from: { id: visitor.id, name: visitor.name ?? null } }
      if (message.text === '') throw new RpcError('empty', 'Say something.')
      await fastify.realtime.sendToUser(to, message)
      return { sentAt: Date.now() }
    }
  }
}

function identifyFromSession (request: FastifyRequest): Visitor | null {
  const id = visitorIdOf(request)
  return id === undefined ? null : { id, name: request.session?.get('displayName') }
}

/** Where Redis is (REDIS_URL, or REDIS_SENTINELS and REDIS_SENTINEL_NAME), as the config says. */
type RedisTarget = NonNullable<FastifyInstance['config']['redis']>

/** A Redis connection for the API's rate limit, closed with the app. */
function rateLimitConnection (fastify: FastifyInstance, target: RedisTarget): ReturnType<typeof createRedisConnection> {
  const redis = createRedisConnection({ ...target, role: 'rate-limit' })
  redis.on('error', (err: Error) => { fastify.log.debug({ err }, 'redis rate-limit connection error') })
  fastify.addHook('onClose', async () => { await closeRedisConnection(redis) })
  return redis
}

/**
 * The Redis adapter for REDIS_URL or REDIS_SENTINELS: through Sentinel its two connections are
 * made by the same function as the sessions' and the rate limit's, so all follow a failover alike.
 */
function redisAdapter (target: RedisTarget, keyPrefix: string): RedisAdapter {
  if ('url' in target) return new RedisAdapter({ url: target.url, keyPrefix })
  return new RedisAdapter({ keyPrefix, createClient: (role) => createRedisConnection({ ...target, role }) })
}

async function realtimeDemo (fastify: FastifyInstance): Promise<void> {
  const { redis, redisKeyPrefix, apiKeys, webhookUrl, webhookSecret, pusherApp } = fastify.config
  const rateLimitRedis = redis !== undefined && apiKeys.length > 0 ? rateLimitConnection(fastify, redis) : undefined
  await fastify.register(realtime, {
    // Every tunable the environment sets (TICK_INTERVAL_MS, MAX_CONNECTIONS…), already validated.
    ...fastify.config.realtime,
    tick: demoTick,
    identify: identifyFromSession,
    channels: DEMO_CHANNELS,
    metrics: fastify.realtimeMetrics,
    // Unset RESUME_SECRET: derived from the session secret, which every node of the demo shares
    // already, so a resume token is honoured by all of them.
    resumeSecret: fastify.config.realtime.resumeSecret ?? createHash('sha256').update(`resume tokens:${fastify.config.sessionSecret}`).digest('hex'),
    // JWT_SECRET set: pages also authenticate with tokens (GET /token), refreshed before they expire.
    rpc: { 'dm.send': directMessages(fastify) },
    // REDIS_URL (or REDIS_SENTINELS) set: publications, history and presence are shared by every
    // node through Redis, and a node that dies leaves its channels within the presence TTL.
    ...(redis === undefined ? {} : { adapter: redisAdapter(redis, redisKeyPrefix) }),
    // API_KEYS set: the HTTP API for other services, rate-limited across nodes when on Redis.
    ...(apiKeys.length === 0 ? {} : { api: { prefix: fastify.config.apiPrefix, keys: apiKeys, rateLimit: { max: fastify.config.apiRateLimitPerMinute, timeWindowMs: 60_000, ...(rateLimitRedis === undefined ? {} : { redis: rateLimitRedis }) } } }),
    ...(webhookUrl === undefined || webhookSecret === undefined ? {} : { webhooks: { url: webhookUrl, secret: webhookSecret, debounceMs: fastify.config.webhookDebounceMs } }),
    // PUSHER_APP_* set: Pusher's protocol on /app/<key> and its HTTP API on /apps/<id>/…, on the
    // demo's channels (docs/pusher.md); the page's Pusher panel is its pusher-js client.
    ...(pusherApp === undefined ? {} : { pusher: { apps: [{ id: pusherApp.id, key: pusherApp.key, secret: pusherApp.secret }] } })
  })
}

export default fp(realtimeDemo, { name: 'realtime-demo', fastify: '5.x', dependencies: ['session', 'metrics'] })
