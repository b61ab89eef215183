/**
 * Visitors and cookie sessions (@fastify/cookie + @fastify/session). The page gives each visitor
 * an id in a signed cookie of its own (`rt.vid`), which costs the server nothing to keep: a page
 * load, a crawler's or a probe's included, stores nothing. A session (`rt.sid`, in Redis with
 * REDIS_URL or REDIS_SENTINELS) is made only when there is something to keep in it (a display
 * name, a flash message). The WebSocket upgrade request carries both cookies, so the socket knows
 * its visitor.
 */
import { randomUUID } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { closeRedisConnection, createRedisConnection, RedisSessionStore } from '../src/adapters/redis/index.js'

declare module 'fastify' {
  interface Session {
    /** A visitor id kept by a session made before visitors had their own cookie (read, never written). */
    visitorId?: string
    /** Display name the visitor chose, if any. */
    displayName?: string
    /** One-shot messages by type, kept by @fastify/flash until the next page shows them. */
    flash?: Record<string, string[]>
  }
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'rt.sid'

/** Name of the visitor cookie: the visitor's id, signed with SESSION_SECRET. */
export const VISITOR_COOKIE = 'rt.vid'

/** Session lifetime, also the TTL of a session kept in Redis (and the visitor cookie's). */
const SESSION_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000

/** The visitor of a request (their signed cookie; a session's older id otherwise), or undefined. */
export function visitorIdOf (request: FastifyRequest): string | undefined {
  const signed = request.cookies[VISITOR_COOKIE]
  if (signed !== undefined) {
    const { valid, value } = request.unsignCookie(signed)
    if (valid && value !== null && value !== '') return value
  }
  return request.session?.get('visitorId')
}

/** The visitor of a request, made now (a new id in a new signed cookie) when they have none. */
export function ensureVisitor (request: FastifyRequest, reply: FastifyReply): string {
  const known = visitorIdOf(request)
  if (known !== undefined) return known
  const visitorId = randomUUID()
  reply.setCookie(VISITOR_COOKIE, visitorId, { signed: true, secure: 'auto', httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_MAX_AGE_MS / 1000 })
  return visitorId
}

/** With REDIS_URL (or REDIS_SENTINELS) set, sessions live in Redis so every node knows every visitor. */
function sessionStore (fastify: FastifyInstance): RedisSessionStore | undefined {
  const { redis: target, redisKeyPrefix } = fastify.config
  if (target === undefined) return undefined
  const redis = createRedisConnection({ ...target, role: 'sessions' })
  // Errors surface as failed session reads (500 for that request); don't crash on the event.
  redis.on('error', (err: Error) => { fastify.log.debug({ err }, 'redis session connection error') })
  fastify.addHook('onClose', async () => { await closeRedisConnection(redis) })
  return new RedisSessionStore(redis, { prefix: redisKeyPrefix, defaultTtlMs: SESSION_MAX_AGE_MS })
}

async function session (fastify: FastifyInstance): Promise<void> {
  // The cookie plugin's secret signs the visitor cookie (the session signs its own).
  await fastify.register(fastifyCookie, { secret: fastify.config.sessionSecret })
  const store = sessionStore(fastify)
  await fastify.register(fastifySession, {
    secret: fastify.config.sessionSecret,
    ...(store === undefined ? {} : { store }),
    cookieName: SESSION_COOKIE,
    // Only sessions that hold something are stored: neither a page load nor a bare WebSocket
    // client creates one. Without REDIS_URL the store is in memory: one process only.
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
