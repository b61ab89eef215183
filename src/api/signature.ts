/**
 * Webhook signatures, as Stripe and Pusher sign theirs: an HMAC-SHA256 of `<timestamp>.<body>`
 * with the shared secret, sent with the timestamp so a receiver can refuse a replay of an old
 * request. The header reads `t=<unix seconds>,v1=<hex digest>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** The header a webhook request carries its signature in. */
export const SIGNATURE_HEADER = 'realtime-signature'

/** How old a signature a receiver should accept, by default, in seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300

function digest (secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/**
 * The signature header of a webhook body.
 * @param timestamp - unix seconds at which it is sent
 */
export function signWebhook (secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${digest(secret, timestamp, body)}`
}

/**
 * Whether a webhook request is authentic and fresh: its signature header matches the body under
 * `secret` (compared in constant time), and its timestamp is within `toleranceSeconds` of `now`.
 * @param header - the request's `Realtime-Signature` header
 * @param body - the raw body, exactly as received
 * @param now - unix seconds @default the current time
 */
export function verifyWebhook (secret: string, header: string | undefined, body: string, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now = Math.floor(Date.now() / 1000)): boolean {
  if (header === undefined) return false
  const fields = new Map(header.split(',').map((part) => {
    const at = part.indexOf('=')
    return [part.slice(0, at).trim(), part.slice(at + 1).trim()]
  }))
  const timestamp = Number(fields.get('t'))
  const given = fields.get('v1') ?? ''
  if (!Number.isSafeInteger(timestamp) || Math.abs(now - timestamp) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(given)) return false
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(digest(secret, timestamp, body), 'hex'))
}
