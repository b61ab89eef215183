/**
 * Pusher's request signing, as its server SDKs sign HTTP API requests: the query carries
 * `auth_key` (the app's key), `auth_timestamp` (unix seconds), `auth_version` (`1.0`), `body_md5`
 * (the MD5 hex of the raw body, on requests with a body) and `auth_signature`: the HMAC-SHA256
 * hex, with the app's secret, of
 *
 *     METHOD \n PATH \n every other query parameter, keys lowercased, sorted, as key=value joined by &
 *
 * with values as they are (not URL-encoded), and PATH the path the SDK signed (`/apps/{id}/…`).
 * Pure: the routes (http-routes.ts) call it with what arrived; nothing here reads a request.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** What a request's signature is checked against. */
export interface SignedRequest {
  /** The HTTP method, e.g. `POST`. */
  method: string
  /** The path as the SDK signed it: `/apps/{id}/…`, without the prefix the app mounts the routes under. */
  path: string
  /** The query parameters, decoded, each once. */
  query: ReadonlyMap<string, string>
}

/** Why a request is refused, in Pusher's words (its HTTP API answers 401 with such a text). */
export class SignatureRefusal {
  constructor (readonly message: string) {}
}

/** The app a request must be signed for. */
export interface SigningApp {
  readonly key: string
  readonly secret: string
}

const HEX_SHA256 = /^[0-9a-f]{64}$/
const HEX_MD5 = /^[0-9a-f]{32}$/

/** The text a request's signature is the HMAC of. */
export function stringToSign (request: SignedRequest): string {
  const pairs = [...request.query]
    .map(([key, value]): [string, string] => [key.toLowerCase(), value])
    .filter(([key]) => key !== 'auth_signature')
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([key, value]) => `${key}=${value}`)
  return `${request.method.toUpperCase()}\n${request.path}\n${pairs.join('&')}`
}

/** The MD5 hex of a body, as `body_md5` carries it. */
export function bodyMd5 (body: string): string {
  return createHash('md5').update(body, 'utf8').digest('hex')
}

/**
 * Check a request's key, timestamp, version and signature (not its body: see {@link checkBodyMd5}).
 * @param nowS - the server's clock, unix seconds
 * @param windowS - how far `auth_timestamp` may be from it
 * @returns null when it is signed by `app` and fresh, else the refusal
 */
export function checkSignature (request: SignedRequest, app: SigningApp, nowS: number, windowS: number): SignatureRefusal | null {
  const { query } = request
  const key = query.get('auth_key')
  if (key === undefined) return new SignatureRefusal('Missing auth_key')
  if (!sameText(key, app.key)) return new SignatureRefusal('Unknown auth_key')
  const timestampText = query.get('auth_timestamp')
  if (timestampText === undefined) return new SignatureRefusal('Missing auth_timestamp')
  const timestamp = /^\d{1,12}$/.test(timestampText) ? Number(timestampText) : NaN
  if (!Number.isSafeInteger(timestamp) || Math.abs(nowS - timestamp) > windowS) {
    return new SignatureRefusal(`Timestamp expired: Given timestamp (${timestampText}) not within ${windowS}s of server time (${nowS})`)
  }
  const version = query.get('auth_version')
  if (version !== '1.0') return new SignatureRefusal(`Unsupported auth_version ${JSON.stringify(version ?? null)}: expected "1.0"`)
  const given = query.get('auth_signature')
  if (given === undefined) return new SignatureRefusal('Missing auth_signature')
  const signed = stringToSign(request)
  const expected = createHmac('sha256', app.secret).update(signed).digest('hex')
  // Same length by construction (a well-formed signature is 64 hex digits), so the comparison takes the same time whatever it finds.
  if (!HEX_SHA256.test(given) || !timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'))) {
    return new SignatureRefusal(`Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(signed)}, your_secret_key), but you sent ${JSON.stringify(given)}`)
  }
  return null
}

/**
 * Check `body_md5` against the raw body: required when there is a body, and then equal to its
 * MD5 (the signature covers `body_md5`, so a body that matches it is the body that was signed).
 * @returns null when it matches, else the refusal
 */
export function checkBodyMd5 (query: ReadonlyMap<string, string>, rawBody: string): SignatureRefusal | null {
  const given = query.get('body_md5')
  if (given === undefined) return rawBody === '' ? null : new SignatureRefusal('Missing body_md5: a request with a body must carry the MD5 hex of its body')
  if (!HEX_MD5.test(given) || !timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(bodyMd5(rawBody), 'hex'))) {
    return new SignatureRefusal('Invalid body_md5: it is not the MD5 hex of the body sent')
  }
  return null
}

/** Whether two strings are equal, in a time that does not depend on where they differ. */
function sameText (a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest()
  const right = createHash('sha256').update(b).digest()
  return timingSafeEqual(left, right)
}
