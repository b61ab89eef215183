/**
 * Real tokens for tests: JWTs signed with real keys (an HMAC secret, RSA, EC and Ed25519 key
 * pairs made here), hand-made bad ones (`alg: none`, a tampered payload, HMAC signed with a
 * public key), and a JWKS served by a local HTTP server whose key can be rotated.
 */
import { createHmac, createSecretKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
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

/** How a {@link JwksServer} answers: the keys, or one of the ways a key set fails. */
export type JwksMode = 'keys' | 'status-500' | 'bad-json' | 'not-a-key-set' | 'hang'

/**
 * A JWKS endpoint on 127.0.0.1 serving the keys it is given; counts its fetches. It can be
 * stopped (connections refused) and started again on the same port, and made to fail.
 */
export class JwksServer {
  #server: Server
  #keys: JWK[]
  #port = 0
  readonly #sockets = new Set<Socket>()
  /** How it answers from now on. */
  mode: JwksMode = 'keys'
  fetches = 0
  url = ''

  private constructor (keys: JWK[]) {
    this.#keys = keys
    this.#server = this.#make()
  }

  #make (): Server {
    const server = createServer((request, response) => {
      this.fetches++
      if (this.mode === 'hang') return // never answers: the fetch times out
      if (this.mode === 'status-500') {
        response.statusCode = 500
        response.end('{"error":"down"}')
        return
      }
      response.setHeader('content-type', 'application/json')
      response.end(this.mode === 'bad-json' ? '{"keys": [' : this.mode === 'not-a-key-set' ? '{"keys": 42}' : JSON.stringify({ keys: this.#keys }))
    })
    server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    return server
  }

  /** Start serving `keys` (on `port`, or a free one); closed on teardown. */
  static async start (t: TestLike, keys: JWK[], port = 0): Promise<JwksServer> {
    const jwks = new JwksServer(keys)
    await jwks.#listen(port)
    jwks.url = `http://127.0.0.1:${jwks.#port}/.well-known/jwks.json`
    t.teardown(async () => { await jwks.stop() })
    return jwks
  }

  async #listen (port: number): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve))
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    this.#port = address.port
  }

  /** Stop listening and cut every connection: fetches are refused until {@link restart}. */
  async stop (): Promise<void> {
    if (!this.#server.listening) return
    for (const socket of this.#sockets) socket.destroy()
    await new Promise((resolve) => this.#server.close(resolve))
  }

  /** Listen again on the same port. */
  async restart (): Promise<void> {
    this.#server = this.#make()
    await this.#listen(this.#port)
  }

  /** Serve these keys from now on (a key rotation). */
  rotate (keys: JWK[]): void {
    this.#keys = keys
  }
}

/** A loopback port nothing listens on (taken, then given back): connections to it are refused. */
export async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no address')
  return address.port
}
