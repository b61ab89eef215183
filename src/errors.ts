/**
 * The one catalogue of coded errors and WebSocket close codes used by fastify-realtime.
 *
 * Every error a user can meet has a stable `code` (prefixed `FRT_`) so it can be matched in
 * code and searched in logs; its message says what to do about it.
 */
import createError from '@fastify/error'

/** Plugin options failed validation; `ready()` rejects with it. */
export const InvalidOptionError = createError<[string, string]>(
  'FRT_INVALID_OPTION',
  'fastify-realtime: invalid option "%s": %s',
  500,
  TypeError
)

/** Environment configuration failed validation; boot stops with it. */
export const InvalidConfigError = createError<[string]>(
  'FRT_INVALID_CONFIG',
  'Invalid configuration: %s',
  500
)

/** `fastify.realtime.publish` was given a channel no declaration matches (or an invalid name). */
export const UnknownChannelError = createError<[string]>(
  'FRT_UNKNOWN_CHANNEL',
  'fastify-realtime: no channel declaration matches "%s"; declare it (or a pattern) in the channels option',
  500,
  TypeError
)

/**
 * WebSocket close codes sent by the server (RFC 6455 §7.4 plus application codes).
 * 4000–4499 are application codes after which a client should reconnect;
 * 4500–4999 are terminal (do not reconnect).
 */
export const CloseCode = Object.freeze({
  /** Normal closure. */
  NORMAL: 1000,
  /** Server shutting down or restarting; the reason carries a `retry=<ms>` hint. */
  GOING_AWAY: 1001,
  /** Policy violation: bad origin, abuse of the rate limit, failed auth. */
  POLICY_VIOLATION: 1008,
  /** A client message exceeded the maximum payload size. */
  MESSAGE_TOO_BIG: 1009,
  /** Unexpected server error on this connection. */
  INTERNAL_ERROR: 1011,
  /** The client did not read fast enough and exceeded its send budget. */
  SLOW_CONSUMER: 4008
} as const)

/** Union of the numeric close codes in {@link CloseCode}. */
export type CloseCodeValue = typeof CloseCode[keyof typeof CloseCode]

/** Maximum length in bytes of a close reason (RFC 6455: the control frame payload is 125 bytes, 2 are the code). */
export const MAX_CLOSE_REASON_BYTES = 123

/**
 * Clip a close reason to what fits in a close frame, never cutting a UTF-8 character in half.
 * @param reason - the human-readable reason
 * @returns the reason, at most {@link MAX_CLOSE_REASON_BYTES} bytes long
 */
export function clipCloseReason (reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason
  let clipped = reason
  while (Buffer.byteLength(clipped) > MAX_CLOSE_REASON_BYTES) clipped = clipped.slice(0, -1)
  return clipped
}
