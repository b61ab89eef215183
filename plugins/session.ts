/**
 * Cookie sessions (@fastify/cookie + @fastify/session). The page gives each visitor a session;
 * the WebSocket upgrade request carries the same cookie, so the socket knows its visitor.
 */
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createRedisConnection, RedisSessionStore } from '../src/adapters/redis/index.js'

declare module 'fastify' {
  interface Session {
    /** Stable id of this visitor, made on their first page view. */
    visitorId?: string
    /** Display name the visitor chose, if any. */
    displayName?: string
    /** One-shot messages by type, kept by @fastify/flash until the next page shows them. */
    flash?: Record<string, string[]>
  }
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'rt.sid'

/** Session lifetime, also the TTL of a session kept in Redis. */
const SESSION_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000

/** With REDIS_URL set, sessions live in Redis so every node knows every visitor. */
function sessionStore (fastify: FastifyInstance): RedisSessionStore | undefined {
  const { redisUrl, redisKeyPrefix } = fastify.config
  if (redisUrl === undefined) return undefined
  const redis = createRedisConnection({ url: redisUrl, role: 'sessions' })
  // Errors surface as failed session reads (500 for that request); don't crash on the event.
  redis.on('error', (err: Error) => { fastify.log.debug({ err }, 'redis session connection error') })
  fastify.addHook('onClose', async () => { await redis.quit().catch(() => { redis.disconnect() }) })
  return new RedisSessionStore(redis, { prefix: redisKeyPrefix, defaultTtlMs: SESSION_MAX_AGE_MS })
}

async function session (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyCookie)
  const store = sessionStore(fastify)
  await fastify.register(fastifySession, {
    secret: fastify.config.sessionSecret,
    ...(store === undefined ? {} : { store }),
    cookieName: SESSION_COOKIE,
    // Only sessions that hold something are stored: a bare WebSocket client must not create one
    // per upgrade. Without REDIS_URL the store is in memory: one process only.
    saveUninitialized: false,
    cookie: {
      // 'auto': Secure over https (as seen through a trusted proxy), plain over http on localhost.
      secure: 'auto',
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      maxAge: SESSION_MAX_AGE_MS
    }
  })
}

export default fp(session, { name: 'session', fastify: '5.x' })
