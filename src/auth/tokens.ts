/**
 * Token verification, the one place a JWT is checked: connection tokens (who is on a socket,
 * until when) and channel tokens (a signed grant to subscribe to one private channel).
 *
 * Built on `jose`: it verifies the signature against an allow-list of algorithms (so `alg: none`
 * and HMAC/RSA confusion never pass), checks `exp`, `nbf`, `iss` and `aud`, and fetches, caches
 * and rotates a JWKS. One key source per deployment: an HMAC secret, a PEM public key (RSA, EC or
 * Ed25519), or a JWKS URL. The algorithms allowed follow from the key unless the application
 * narrows them; HMAC is never allowed with a public key or a JWKS.
 *
 * A JWKS that cannot be fetched (connection refused, a timeout past `jwksTimeoutMs`, a status
 * other than 200, a body that is not a key set) is an outage, not a bad token: every token that
 * needs the fetch is refused with `key set unavailable`, and the outage is logged once when it
 * begins and once when the key set answers again, never per client.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { InvalidOptionError } from '../errors.js'
import type { Visitor } from '../node/visitor.js'

/** The claims of a verified token (`sub`, `exp`, and whatever else the issuer put in). */
export type TokenClaims = JWTPayload

/** What the verifier is made from (the plugin's `jwt*` and `jwks*` options). */
export interface TokenKeyOptions {
  jwtSecret: string | undefined
  jwtPublicKey: string | undefined
  jwksUrl: string | undefined
  jwtAlgorithms: readonly string[]
  jwtIssuer: string | undefined
  jwtAudience: string | undefined
  jwksCacheMaxAgeMs: number
  jwksCooldownMs: number
  jwksTimeoutMs: number
}

/** Where a JWKS outage is told (once when it begins, once when it ends). */
export type KeySetLog = Pick<FastifyBaseLogger, 'error' | 'info'>

/** A token that passed every check. */
export interface VerifiedToken {
  claims: TokenClaims
  /** The visitor it names: `sub` as the id, the `name` claim (a string) as the display name. */
  visitor: Visitor
  /** Epoch milliseconds of `exp`. */
  expiresAt: number
}

/** Why a token was refused, in words safe to show the client (never the token itself). */
export class TokenRefusal extends Error {
  /** Whether the only problem is that it expired. */
  readonly expired: boolean

  constructor (reason: string, expired = false) {
    super(reason)
    this.name = 'TokenRefusal'
    this.expired = expired
  }
}

/** Every signature algorithm jose verifies; `none` is not one of them. */
export const TOKEN_ALGORITHMS = Object.freeze(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'])
const HMAC = ['HS256', 'HS384', 'HS512']
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const EC_BY_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
const OKP = ['EdDSA', 'Ed25519']
const ASYMMETRIC = [...RSA, 'ES256', 'ES384', 'ES512', ...OKP]
/** Longest `sub` accepted, in characters (a visitor id). */
const MAX_SUBJECT_LENGTH = 256

/** The algorithms a public key can verify. */
function algorithmsOfKey (key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return RSA
    case 'rsa-pss': return RSA.filter((alg) => alg.startsWith('PS'))
    case 'ec': {
      const alg = EC_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? '']
      return alg === undefined ? [] : [alg]
    }
    case 'ed25519': return OKP
    default: return []
  }
}

/** A PEM public key as a KeyObject, or the reason it is not one. */
export function parsePublicKey (pem: string): KeyObject | string {
  try {
    const key = createPublicKey(pem)
    return algorithmsOfKey(key).length === 0 ? `a ${key.asymmetricKeyType ?? 'unknown'} key cannot verify JWTs (use RSA, EC P-256/384/521 or Ed25519)` : key
  } catch {
    return 'is not a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI)'
  }
}

/** A JWKS fetch failed: what the key set's getter throws instead of the fetch's own error. */
class KeySetUnavailable extends Error {
  constructor (cause: unknown) {
    super('key set unavailable', { cause })
    this.name = 'KeySetUnavailable'
  }
}

/**
 * What the key set's getter throws because of the token itself (its header names a key the set
 * lacks, or one the set cannot use); anything else it throws comes from fetching the set.
 */
function isTokensFault (err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported || err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JWKInvalid
}

/** Why a fetch failed, in a few words for the outage log (the URL is the operator's own). */
function fetchFailure (err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
  return err instanceof Error ? `${err.message}${cause}` : String(err)
}

/**
 * A JWKS getter that fetches `url` and turns every fetch failure into {@link KeySetUnavailable},
 * logging the outage when it begins and when the set answers again.
 */
function remoteKeySet (options: TokenKeyOptions, log: KeySetLog | undefined): JWTVerifyGetKey {
  const url = options.jwksUrl ?? ''
  const remote = createRemoteJWKSet(new URL(url), { cacheMaxAge: options.jwksCacheMaxAgeMs, cooldownDuration: options.jwksCooldownMs, timeoutDuration: options.jwksTimeoutMs })
  let down = false
  return async (header, token) => {
    try {
      const key = await remote(header, token)
      if (down) {
        down = false
        log?.info({ jwksUrl: url }, 'JWKS reachable again: tokens are verified')
      }
      return key
    } catch (err) {
      if (isTokensFault(err)) throw err
      if (!down) {
        down = true
        log?.error({ jwksUrl: url, reason: fetchFailure(err) }, 'JWKS unavailable: tokens that need it are refused (key set unavailable) until it answers')
      }
      throw new KeySetUnavailable(err)
    }
  }
}

/** Words for what jose refused, for the client and the log (no token content). */
function refusalOf (err: unknown): TokenRefusal {
  if (err instanceof TokenRefusal) return err
  if (err instanceof KeySetUnavailable) return new TokenRefusal('key set unavailable')
  if (err instanceof errors.JWTExpired) return new TokenRefusal('expired', true)
  if (err instanceof errors.JWTClaimValidationFailed) {
    const words: Record<string, string> = { nbf: 'not yet valid', iss: 'wrong issuer', aud: 'wrong audience', exp: 'no expiry (exp)', sub: 'no subject (sub)', iat: 'bad issue time' }
    return new TokenRefusal(words[err.claim] ?? `bad ${err.claim} claim`)
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRefusal('algorithm not allowed')
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRefusal('bad signature')
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return new TokenRefusal('unknown signing key')
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return new TokenRefusal('key set unavailable')
  if (err instanceof errors.JOSENotSupported) return new TokenRefusal('unsupported token or key')
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return new TokenRefusal('malformed token')
  return new TokenRefusal('invalid token')
}

/** See the module comment. */
export class TokenVerifier {
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey
  readonly #algorithms: string[]
  readonly #issuer: string | undefined
  readonly #audience: string | undefined

  /**
   * @param log - where a JWKS outage is told (once when it begins, once when it ends)
   * @returns the verifier, or null when no key source is configured (tokens are off)
   * @throws InvalidOptionError when the key sources or algorithms do not fit together
   */
  static fromOptions (options: TokenKeyOptions, log?: KeySetLog): TokenVerifier | null {
    const sources = (['jwtSecret', 'jwtPublicKey', 'jwksUrl'] as const).filter((name) => options[name] !== undefined)
    if (sources.length === 0) return null
    if (sources.length > 1) throw new InvalidOptionError(sources.join(', '), 'give one key source: jwtSecret (HMAC), jwtPublicKey (PEM) or jwksUrl')
    return new TokenVerifier(options, log)
  }

  private constructor (options: TokenKeyOptions, log: KeySetLog | undefined) {
    let usable: string[]
    if (options.jwtSecret !== undefined) {
      this.#key = new TextEncoder().encode(options.jwtSecret)
      usable = HMAC
    } else if (options.jwtPublicKey !== undefined) {
      const key = parsePublicKey(options.jwtPublicKey)
      if (typeof key === 'string') throw new InvalidOptionError('jwtPublicKey', key)
      this.#key = key
      usable = algorithmsOfKey(key)
    } else {
      this.#key = remoteKeySet(options, log)
      usable = ASYMMETRIC
    }
    const wanted = options.jwtAlgorithms.length === 0 ? usable : [...options.jwtAlgorithms]
    const unfit = wanted.filter((alg) => !usable.includes(alg))
    if (unfit.length > 0) throw new InvalidOptionError('jwtAlgorithms', `${unfit.join(', ')} cannot be verified with this key source (it takes ${usable.join(', ')})`)
    this.#algorithms = wanted
    this.#issuer = options.jwtIssuer
    this.#audience = options.jwtAudience
  }

  /** The algorithms a token may be signed with. */
  get algorithms (): readonly string[] {
    return this.#algorithms
  }

  /**
   * Verify a connection token: signature, `exp` (required), `nbf`, `iss` and `aud` when
   * configured, and a `sub`. A channel token (it has a `channel` claim) is not a connection token.
   * @throws TokenRefusal saying why
   */
  async verifyConnection (token: string): Promise<VerifiedToken> {
    const verified = await this.#verify(token)
    if (verified.claims.channel !== undefined) throw new TokenRefusal('a channel token is not a connection token')
    return verified
  }

  /**
   * Verify a channel token: the same checks, plus a `channel` claim equal to `channel` and a
   * `sub` equal to the subscriber's visitor id.
   * @throws TokenRefusal saying why
   */
  async verifyChannel (token: string, channel: string, visitorId: string | undefined): Promise<VerifiedToken> {
    const verified = await this.#verify(token)
    if (verified.claims.channel !== channel) throw new TokenRefusal(`not a token for channel "${channel}"`)
    if (verified.visitor.id !== visitorId) throw new TokenRefusal('a token for another user')
    return verified
  }

  async #verify (token: string): Promise<VerifiedToken> {
    try {
      const options = {
        algorithms: this.#algorithms,
        requiredClaims: ['exp', 'sub'],
        ...(this.#issuer === undefined ? {} : { issuer: this.#issuer }),
        ...(this.#audience === undefined ? {} : { audience: this.#audience })
      }
      const key = this.#key
      const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)
      const sub = payload.sub
      if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT_LENGTH) throw new TokenRefusal('no subject (sub)')
      const name = typeof payload.name === 'string' ? payload.name : undefined
      return { claims: payload, visitor: name === undefined ? { id: sub } : { id: sub, name }, expiresAt: (payload.exp ?? 0) * 1000 }
    } catch (err) {
      throw refusalOf(err)
    }
  }
}
