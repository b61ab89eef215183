/**
 * Real tokens for tests: JWTs signed with real keys (an HMAC secret, RSA, EC and Ed25519 key
 * pairs made here), hand-made bad ones (`alg: none`, a tampered payload, HMAC signed with a
 * public key), and a JWKS served by a local HTTP server whose key can be rotated.
 */
import { createHmac, createSecretKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import type { TestLike } from './app.js'

/** The HMAC secret most tests sign with (at least 32 characters, as the option requires). */
export const TEST_SECRET = 'a-test-jwt-secret-that-is-long-enough-0123456789'

/** Seconds since the epoch, `offsetSec` from now. */
export const epochSec = (offsetSec = 0): number => Math.floor(Date.now() / 1000) + offsetSec

/** Sign claims with the HMAC secret (HS256 unless `alg` says otherwise); `exp` defaults to an hour from now. */
export async function hsToken (claims: JWTPayload, options: { secret?: string, alg?: string } = {}): Promise<string> {
  return await new SignJWT({ exp: epochSec(3600), ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .sign(createSecretKey(Buffer.from(options.secret ?? TEST_SECRET)))
}

/** A key pair and its public key as PEM and as a JWK. */
export interface TestKeyPair {
  alg: string
  kid: string
  privateKey: CryptoKey
  publicPem: string
  publicJwk: JWK
}

let kids = 0

/** Make a key pair for `alg` (RS256, ES256, EdDSA…). */
export async function keyPair (alg: string): Promise<TestKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const kid = `test-key-${++kids}`
  return { alg, kid, privateKey, publicPem: await exportSPKI(publicKey), publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

/** Sign claims with a key pair (its `kid` in the header); `exp` defaults to an hour from now. */
export async function signWith (key: TestKeyPair, claims: JWTPayload): Promise<string> {
  return await new SignJWT({ exp: epochSec(3600), ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey)
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsecured token (`alg: none`, empty signature), as an attacker would write it. */
export function unsignedToken (claims: JWTPayload): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ exp: epochSec(3600), ...claims })}.`
}

/**
 * The classic algorithm-confusion forgery: HS256 with the server's PUBLIC key (PEM text) as the
 * HMAC secret, which a verifier that lets the token choose its algorithm would accept.
 */
export function confusedToken (publicPem: string, claims: JWTPayload): string {
  const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ exp: epochSec(3600), ...claims })}`
  return `${signingInput}.${createHmac('sha256', publicPem).update(signingInput).digest('base64url')}`
}

/** The token with its payload replaced (the signature kept): what tampering in transit looks like. */
export function tamperedToken (token: string, claims: JWTPayload): string {
  const [header, payload, signature] = token.split('.')
  const original = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as JWTPayload
  return `${header ?? ''}.${b64url({ ...original, ...claims })}.${signature ?? ''}`
}

/** A JWKS endpoint on 127.0.0.1 serving the keys it is given; counts its fetches. */
export class JwksServer {
  readonly #server: Server
  #keys: JWK[]
  fetches = 0
  url = ''

  private constructor (keys: JWK[]) {
    this.#keys = keys
    this.#server = createServer((request, response) => {
      this.fetches++
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ keys: this.#keys }))
    })
  }

  /** Start serving `keys`; closed on teardown. */
  static async start (t: TestLike, keys: JWK[]): Promise<JwksServer> {
    const jwks = new JwksServer(keys)
    await new Promise<void>((resolve) => jwks.#server.listen(0, '127.0.0.1', resolve))
    const address = jwks.#server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    jwks.url = `http://127.0.0.1:${address.port}/.well-known/jwks.json`
    t.teardown(async () => { await new Promise((resolve) => jwks.#server.close(resolve)) })
    return jwks
  }

  /** Serve these keys from now on (a key rotation). */
  rotate (keys: JWK[]): void {
    this.#keys = keys
  }
}
