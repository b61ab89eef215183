/**
 * Cookie sessions (@fastify/cookie + @fastify/session). The page gives each visitor a session;
 * the WebSocket upgrade request carries the same cookie, so the socket knows its visitor.
 */
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

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

async function session (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyCookie)
  await fastify.register(fastifySession, {
    secret: fastify.config.sessionSecret,
    cookieName: SESSION_COOKIE,
    // Only sessions that hold something are stored: a bare WebSocket client must not create one
    // per upgrade. The memory store is per process; scale-out needs a shared store.
    saveUninitialized: false,
    cookie: {
      // 'auto': Secure over https (as seen through a trusted proxy), plain over http on localhost.
      secure: 'auto',
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      maxAge: 7 * 24 * 60 * 60 * 1000
    }
  })
}

export default fp(session, { name: 'session', fastify: '5.x' })
