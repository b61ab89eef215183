/**
 * Who is connecting: the ONE function every transport calls on its opening request (the
 * WebSocket upgrade today, an event stream tomorrow), through the upgrade gate.
 *
 * A bearer token (`Authorization: Bearer …`, for mobile apps and backend services) wins when
 * tokens are configured: a valid one names the visitor until its `exp`, and an invalid one
 * refuses the request (it is never silently replaced by the cookie session). Without one, the
 * application's `identify(request)` (the cookie session) decides. Browsers, which cannot set
 * headers on a WebSocket, send their token in a first `auth` frame instead (connection-auth.ts).
 * Tokens are never read from the URL, where they would end up in access logs. A bearer token
 * longer than a frame's token may be (`MAX_TOKEN_LENGTH`, 8192 characters) is refused unread.
 */
import type { FastifyRequest } from 'fastify'
import type { Visitor } from '../node/visitor.js'
import { MAX_TOKEN_LENGTH } from '../protocols/ours/client-messages.js'
import { TokenRefusal, type TokenClaims, type TokenVerifier } from './tokens.js'

/** How a connection's visitor was established. */
export type IdentitySource = 'token' | 'session' | 'none'

/** The identity of a connecting client. */
export interface Identity {
  visitor: Visitor | null
  /** Epoch ms at which it ends (a token's `exp`), or null (a session: no deadline on the socket). */
  expiresAt: number | null
  source: IdentitySource
  /** The verified token's claims (source `token`). */
  claims?: TokenClaims
}

/** An unidentified client. */
export const ANONYMOUS: Identity = Object.freeze({ visitor: null, expiresAt: null, source: 'none' })

const BEARER = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i

/**
 * The bearer token of a request's `Authorization` header, if it has one (another scheme, or
 * none, is no token).
 */
export function bearerToken (request: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string') return undefined
  return BEARER.exec(header)?.[1]
}

/** See the module comment. */
export class IdentityResolver {
  readonly #identify: (request: FastifyRequest) => Visitor | null | Promise<Visitor | null>
  /** Null when no key is configured: tokens are off and only `identify` counts. */
  readonly tokens: TokenVerifier | null

  constructor (identify: (request: FastifyRequest) => Visitor | null | Promise<Visitor | null>, tokens: TokenVerifier | null) {
    this.#identify = identify
    this.tokens = tokens
  }

  /**
   * The identity of an opening request.
   * @throws TokenRefusal when it carries a bearer token that is refused
   */
  async resolve (request: FastifyRequest): Promise<Identity> {
    const token = this.tokens === null ? undefined : bearerToken(request)
    if (token !== undefined && this.tokens !== null) {
      // The same cap as a token in a frame (`auth`, a `sub`'s grant): one limit, whatever carries it.
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenRefusal(`too long (over ${MAX_TOKEN_LENGTH} characters)`)
      const verified = await this.tokens.verifyConnection(token)
      return { visitor: verified.visitor, expiresAt: verified.expiresAt, source: 'token', claims: verified.claims }
    }
    const visitor = await this.#identify(request)
    return visitor === null ? ANONYMOUS : { visitor, expiresAt: null, source: 'session' }
  }
}
