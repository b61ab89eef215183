/**
 * Resume tokens: what a WebSocket's `welcome` hands its client so that, after a reconnect, its
 * first message (`{"type":"resume","token":…}`, resume-frames.ts; never a URL) gets back its
 * identity, every subscription and every position, on any node, once.
 *
 * A token names its connection and an expiry, signed with HMAC-SHA256 under the `resumeSecret`
 * (every node of a deployment shares it), so a client can neither forge one nor point one at
 * another connection. It is opaque to clients. What it resumes is kept in the adapter
 * (resume-store.ts) and expires on its own; the token's expiry only bounds how long a token
 * is worth checking at all.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** How long a token is accepted after its connection opened (its state expires much sooner after the disconnect). */
export const TOKEN_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000

/** Bytes of the signature kept in the token (128 bits). */
const SIGNATURE_BYTES = 16
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{1,32})\.([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})$/

/** Why a token was not honoured (logged; the client just gets `resumed: false`). */
export type TokenProblem = 'malformed' | 'bad signature' | 'expired'

/** Signs and checks resume tokens. */
export class ResumeTokens {
  readonly #secret: Buffer
  readonly #now: () => number

  /**
   * @param secret - the `resumeSecret` option; undefined makes a random one (tokens then work on this process only)
   */
  constructor (secret: string | undefined, now: () => number = Date.now) {
    this.#secret = secret === undefined ? randomBytes(32) : Buffer.from(secret)
    this.#now = now
  }

  /** A token for the connection `connectionId`. */
  issue (connectionId: string): string {
    const body = `${connectionId}.${(this.#now() + TOKEN_LIFETIME_MS).toString(36)}`
    return `${body}.${this.#sign(body).toString('base64url')}`
  }

  /**
   * Check a token.
   * @returns the id of the connection it resumes, or why it is not honoured
   */
  verify (token: string): { connectionId: string } | { problem: TokenProblem } {
    const parts = TOKEN_PATTERN.exec(token)
    if (parts === null) return { problem: 'malformed' }
    const [, connectionId = '', expires = '', signature = ''] = parts
    const expected = this.#sign(`${connectionId}.${expires}`)
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { problem: 'bad signature' }
    if (parseInt(expires, 36) <= this.#now()) return { problem: 'expired' }
    return { connectionId }
  }

  #sign (body: string): Buffer {
    return createHmac('sha256', this.#secret).update(body).digest().subarray(0, SIGNATURE_BYTES)
  }
}
