/**
 * GET /token : a short-lived connection token for this page's visitor, signed with JWT_SECRET.
 * The demo is its own token issuer here; in a real deployment your auth service signs them (or
 * publishes a JWKS). The page's client fetches one at every connect and on every `refresh`, so
 * its socket stays authenticated across expiries without reconnecting. Without JWT_SECRET the
 * route answers 404 and the page relies on its cookie alone.
 */
import { createSecretKey } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import { visitorIdOf } from '../plugins/session.js'

/** Lifetime of a demo token: short, so a visitor of the page sees it refreshed. */
export const DEMO_TOKEN_TTL_SEC = 120

export default async function token (fastify: FastifyInstance): Promise<void> {
  const secret = fastify.config.realtime.jwtSecret
  fastify.get('/token', async (request, reply) => {
    const visitorId = visitorIdOf(request)
    if (secret === undefined) return await reply.code(404).send({ error: 'tokens are off: set JWT_SECRET' })
    if (visitorId === undefined) return await reply.code(401).send({ error: 'load the page first' })
    const expiresAt = Math.floor(Date.now() / 1000) + DEMO_TOKEN_TTL_SEC
    const name = request.session.get('displayName')
    const jwt = await new SignJWT(name === undefined ? {} : { name })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(visitorId)
      .setExpirationTime(expiresAt)
      .setIssuedAt()
      .sign(createSecretKey(Buffer.from(secret)))
    reply.header('cache-control', 'no-store')
    return { token: jwt, expiresAt: expiresAt * 1000 }
  })
}
