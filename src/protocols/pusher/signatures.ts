/**
 * Pusher's signatures (HMAC-SHA256, lowercase hex, with the app secret), checked in constant
 * time, and its socket ids.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto'

/** The signature of `text` with `secret`. */
export function sign (secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex')
}

/** Whether `signature` is `text`'s with `secret`, compared in constant time. */
export function verifySignature (secret: string, text: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, text))
  const given = Buffer.from(signature)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * Whether an `auth` field (`<key>:<signature>`) signs `text` for the app.
 * @param app - its key and secret
 */
export function verifyAuth (app: { key: string, secret: string }, auth: string, text: string): boolean {
  const colon = auth.indexOf(':')
  if (colon < 0) return false
  // The key is no secret: a wrong one is refused without comparing anything else.
  return auth.slice(0, colon) === app.key && verifySignature(app.secret, text, auth.slice(colon + 1))
}

/** What a channel auth signs: `socket_id:channel[:channel_data]`. */
export function channelAuthText (socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`
}

/** What a user sign-in signs: `socket_id::user::user_data`. */
export function userAuthText (socketId: string, userData: string): string {
  return `${socketId}::user::${userData}`
}

/** Largest value of each half of a socket id (randomInt's bound: 2^48 − 1). */
const SOCKET_ID_BOUND = 2 ** 48 - 1

/**
 * A new socket id, `<digits>.<digits>` as the Pusher SDKs require (`^\d+\.\d+$`): two random
 * 48-bit numbers, so ids are unique across nodes with overwhelming probability.
 */
export function newSocketId (): string {
  return `${randomInt(1, SOCKET_ID_BOUND)}.${randomInt(1, SOCKET_ID_BOUND)}`
}
