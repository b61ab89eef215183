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

/** `fastify.realtime.publish` was given a channel no declaration matches (or an invalid name). */
export const UnknownChannelError = createError<[string]>(
  'FRT_UNKNOWN_CHANNEL',
  'fastify-realtime: no channel declaration matches "%s"; declare it (or a pattern) in the channels option',
  404,
  TypeError
)

/** An HTTP API request without a valid API key. HTTP 401. */
export const ApiKeyRequiredError = createError(
  'FRT_API_KEY_REQUIRED',
  'A valid API key is required: send it as "Authorization: Bearer <key>"',
  401
)

/** An HTTP API request whose key may not do what it asks. HTTP 403. */
export const ApiScopeError = createError<[string]>(
  'FRT_API_SCOPE',
  'This API key may not %s; give it that scope, or use a key that has it',
  403
)

/** An HTTP API key, or an address calling without a valid key, went over its request rate. HTTP 429. */
export const ApiRateLimitError = createError<[number, string, string]>(
  'FRT_API_RATE_LIMITED',
  'Too many requests: at most %d per %s for this %s; retry after the Retry-After delay',
  429
)

/**
 * A publish whose idempotency key was already used, within the idempotency window, for another
 * publication (another channel-and-data fingerprint): nothing was published. HTTP 409.
 */
export const IdempotencyKeyReusedError = createError(
  'FRT_IDEMPOTENCY_KEY_REUSED',
  'This idempotency key was already used for a different publication (another body) within the idempotency window; nothing was published: use a new key for a new publication',
  409
)

/** An upgrade from an Origin that is not allowed (cross-site WebSocket hijacking). HTTP 403. */
export const ForbiddenOriginError = createError<[string]>(
  'FRT_ORIGIN_FORBIDDEN',
  'WebSocket upgrade refused: origin %s is not allowed',
  403
)

/** An upgrade without a valid session while `requireSession` is on. HTTP 401. */
export const SessionRequiredError = createError(
  'FRT_SESSION_REQUIRED',
  'WebSocket upgrade refused: a valid session is required (load the page first)',
  401
)

/**
 * An upgrade whose bearer token (`Authorization: Bearer …`) was refused: bad signature or
 * algorithm, expired, not yet valid, wrong issuer or audience. HTTP 401. A token is never
 * ignored in favour of the cookie session: a client that sends one means to be that user.
 */
export const TokenInvalidError = createError<[string]>(
  'FRT_TOKEN_INVALID',
  'WebSocket upgrade refused: the bearer token was refused (%s); get a new token, then connect',
  401
)

/** Too many concurrent connections from one client IP. HTTP 429. */
export const TooManyConnectionsPerIpError = createError<[number]>(
  'FRT_TOO_MANY_CONNECTIONS_PER_IP',
  'WebSocket upgrade refused: this address already holds %d connections',
  429
)

/** Too many upgrade handshakes per second from one client IP. HTTP 429. */
export const HandshakeRateError = createError(
  'FRT_HANDSHAKE_RATE',
  'WebSocket upgrade refused: too many connection attempts, slow down',
  429
)

/** The node holds its maximum number of connections. HTTP 503. */
export const ServerFullError = createError(
  'FRT_SERVER_FULL',
  'WebSocket upgrade refused: the server is at its connection limit, retry later',
  503
)

/** The node is draining (shutting down). HTTP 503. */
export const DrainingError = createError(
  'FRT_DRAINING',
  'WebSocket upgrade refused: the server is shutting down, retry on another node or later',
  503
)

/** A POST for an event stream that no node holds (it ended, or its key is wrong). HTTP 404. */
export const StreamNotFoundError = createError(
  'FRT_STREAM_NOT_FOUND',
  'No open event stream has this Realtime-Stream key (the stream ended, or the key is wrong): open the stream again and use the key of its welcome',
  404
)

/**
 * A POST for an event stream that names a visitor (cookie session or bearer token) other than the
 * stream's: a stream's key never lets one visitor act as another. HTTP 403.
 */
export const StreamForbiddenError = createError(
  'FRT_STREAM_FORBIDDEN',
  'This event stream belongs to another visitor: POST with the identity that opened it, or open a stream of your own',
  403
)

/** Too many clients are connecting to this node at once (admission pacing). HTTP 503. */
export const ServerBusyError = createError(
  'FRT_SERVER_BUSY',
  'Connection refused: too many clients are connecting to this node right now, retry after Retry-After',
  503
)

/** A channel list (`channels`, `Last-Event-ID`, `lastEventId`) that cannot be read. HTTP 400. */
export const InvalidChannelListError = createError<[string, string]>(
  'FRT_INVALID_CHANNEL_LIST',
  'Connection refused: %s is not a valid channel list: %s',
  400
)

/**
 * A resume token in the URL (`?resume=`): a credential there reaches access logs. HTTP 400;
 * send it in a `resume` frame after the socket opens.
 */
export const ResumeInUrlError = createError(
  'FRT_RESUME_IN_URL',
  'Connection refused: a resume token never travels in the URL (it would reach access logs); open the socket without it and send {"type":"resume","token":"…"} as its first message',
  400
)

/**
 * Codes of the `error` frames the server sends about a client message (docs/PROTOCOL.md lists
 * each). The connection stays open after each of them, unless a close follows (`rate_limited`
 * repeated).
 */
export const ClientErrorCode = Object.freeze({
  /** The frame starts with `{` but is not valid JSON. */
  INVALID_JSON: 'invalid_json',
  /** Valid JSON, but not a valid protocol message (schema mismatch, extra fields). */
  INVALID_MESSAGE: 'invalid_message',
  /** The `type` is not a known client message type. */
  UNKNOWN_TYPE: 'unknown_type',
  /** A known type that this server does not enable. */
  UNSUPPORTED: 'unsupported',
  /** Binary frames are not part of the protocol. */
  BINARY_UNSUPPORTED: 'binary_unsupported',
  /** Over the per-connection message rate; the message was dropped. */
  RATE_LIMITED: 'rate_limited',
  /** The server failed while handling the message. */
  INTERNAL_ERROR: 'internal_error',
  /** No channel declaration matches the name. */
  UNKNOWN_CHANNEL: 'unknown_channel',
  /** The channel's `canSubscribe` said no (or threw). */
  FORBIDDEN: 'forbidden',
  /** The channel is declared `serverOnly`: only the server subscribes connections to it. */
  SERVER_ONLY: 'server_only',
  /** `sub` for a channel this connection is subscribed (or subscribing) to. */
  ALREADY_SUBSCRIBED: 'already_subscribed',
  /** `unsub` for a channel this connection is not subscribed to. */
  NOT_SUBSCRIBED: 'not_subscribed',
  /** More subscriptions than `maxSubscriptionsPerConnection`. */
  TOO_MANY_SUBSCRIPTIONS: 'too_many_subscriptions',
  /** The adapter failed while subscribing; try again. */
  SUBSCRIBE_FAILED: 'subscribe_failed',
  /** An `unsub` arrived before the `sub` completed. */
  CANCELLED: 'cancelled',
  /** The channel does not take client publications. */
  PUBLISH_FORBIDDEN: 'publish_forbidden',
  /** The channel's `onClientPublish` refused the data. */
  PUBLISH_REJECTED: 'publish_rejected',
  /** The adapter failed while publishing; try again. */
  PUBLISH_FAILED: 'publish_failed',
  /** A `pub`'s `key` was already used for a different publication (other data) within the idempotency window; nothing was published. */
  IDEMPOTENCY_KEY_REUSED: 'idempotency_key_reused',
  /** A token (connection or channel) was refused: signature, algorithm, expiry, claims. */
  TOKEN_INVALID: 'token_invalid',
  /** `requireAuth`: an anonymous connection sent something other than `auth`. */
  AUTH_REQUIRED: 'auth_required',
  /** A private channel needs a channel token in the `sub`. */
  TOKEN_REQUIRED: 'token_required',
  /**
   * A private channel's grant (its channel token) reached its `exp`: the subscription was ended
   * (the `code` of an `unsubscribed` frame); subscribe again with `since` and a new token.
   */
  TOKEN_EXPIRED: 'token_expired',
  /** `rpc` names a method the server does not declare. */
  UNKNOWN_METHOD: 'unknown_method',
  /** `rpc` data failed the method's schema; the handler did not run. */
  INVALID_DATA: 'invalid_data',
  /** The method's handler did not answer within its timeout. */
  RPC_TIMEOUT: 'rpc_timeout',
  /** `rpc` while `maxRpcInFlight` calls of this connection still wait for their answers; the handler did not run. */
  TOO_MANY_CALLS: 'too_many_calls',
  /** A `resume` frame's token was presented before (a token resumes once); the connection stays as it is. */
  RESUME_TOKEN_USED: 'resume_token_used',
  /** A `resume` frame that is not the connection's first protocol message; nothing was resumed. */
  RESUME_NOT_FIRST: 'resume_not_first'
} as const)

/** Union of the codes in {@link ClientErrorCode}. */
export type ClientErrorCodeValue = typeof ClientErrorCode[keyof typeof ClientErrorCode]

/**
 * Why the upgrade gate refused an upgrade: a log field and a metric label. The client sees the
 * HTTP status and the coded error of the refusal (FRT_ORIGIN_FORBIDDEN, FRT_HANDSHAKE_RATE…).
 */
export const UpgradeRefusal = Object.freeze({
  /** The Origin is not allowed (403). */
  ORIGIN: 'origin',
  /** The client IP holds its maximum of connections (429). */
  PER_IP_LIMIT: 'per_ip_limit',
  /** The node holds its maximum of connections (503). */
  GLOBAL_LIMIT: 'global_limit',
  /** Too many handshakes from the client IP (429). */
  RATE: 'rate',
  /** No valid session while one is required (401). */
  AUTH: 'auth',
  /** The bearer token was refused (401). */
  TOKEN: 'token',
  /** The node is shutting down (503). */
  DRAINING: 'draining',
  /** Admission pacing: more clients are connecting than the node admits per second, and the wait would be too long (503). */
  BUSY: 'busy'
} as const)

/** Union of the reasons in {@link UpgradeRefusal}. */
export type UpgradeRejection = typeof UpgradeRefusal[keyof typeof UpgradeRefusal]

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
  /** Try again later: an event stream refused at its reconnect (the node is busy, full or draining); the reason carries `retry=<ms>`. */
  TRY_AGAIN_LATER: 1013,
  /** The client did not read fast enough and exceeded its send budget. */
  SLOW_CONSUMER: 4008,
  /** `requireAuth`: no identity (session, bearer token or `auth` frame) within `authTimeoutMs`. Reconnect with a token. */
  AUTH_REQUIRED: 4400,
  /** The connection's token expired and no new one came after the `refresh` frame. Get a token, reconnect. */
  TOKEN_EXPIRED: 4401,
  /** A token in an `auth` frame was refused (signature, algorithm, claims, another user). Get a token, reconnect. */
  TOKEN_INVALID: 4403,
  /** Disconnected by the application (`fastify.realtime.disconnect`): do not reconnect. The default code of a kick. */
  KICKED: 4500
} as const)

/**
 * The adapter's backing service (e.g. Redis) could not be reached when the plugin started; boot
 * fails with it rather than serving clients it cannot deliver to. HTTP 503.
 */
export const AdapterUnavailableError = createError<[string, string]>(
  'FRT_ADAPTER_UNAVAILABLE',
  'fastify-realtime: %s is unreachable: %s',
  503
)

/** A decorator method was called with an argument it cannot use (an empty user id, a close code out of range). */
export const InvalidArgumentError = createError<[string, string]>(
  'FRT_INVALID_ARGUMENT',
  'fastify-realtime: invalid argument %s: %s',
  500,
  TypeError
)

/**
 * Every coded error fastify-realtime throws or answers with, by code, as Fastify exports its own
 * (`import { errorCodes } from 'fastify-realtime'`; `err instanceof errorCodes.FRT_INVALID_OPTION`).
 */
export const errorCodes = Object.freeze({
  FRT_INVALID_OPTION: InvalidOptionError,
  FRT_UNKNOWN_CHANNEL: UnknownChannelError,
  FRT_ORIGIN_FORBIDDEN: ForbiddenOriginError,
  FRT_SESSION_REQUIRED: SessionRequiredError,
  FRT_TOKEN_INVALID: TokenInvalidError,
  FRT_TOO_MANY_CONNECTIONS_PER_IP: TooManyConnectionsPerIpError,
  FRT_HANDSHAKE_RATE: HandshakeRateError,
  FRT_SERVER_FULL: ServerFullError,
  FRT_DRAINING: DrainingError,
  FRT_ADAPTER_UNAVAILABLE: AdapterUnavailableError,
  FRT_INVALID_ARGUMENT: InvalidArgumentError,
  FRT_API_KEY_REQUIRED: ApiKeyRequiredError,
  FRT_API_SCOPE: ApiScopeError,
  FRT_API_RATE_LIMITED: ApiRateLimitError,
  FRT_IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReusedError,
  FRT_SERVER_BUSY: ServerBusyError,
  FRT_STREAM_NOT_FOUND: StreamNotFoundError,
  FRT_STREAM_FORBIDDEN: StreamForbiddenError,
  FRT_INVALID_CHANNEL_LIST: InvalidChannelListError,
  FRT_RESUME_IN_URL: ResumeInUrlError
})

/** What an application's error code may be: 1–64 letters, digits, `_ . -`, starting with a letter. */
const RPC_ERROR_CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

/**
 * The error an RPC handler throws to answer the client with a code and a message of its own
 * (`throw new RpcError('out_of_stock', 'Only 2 left')`). Anything else a handler throws reaches
 * the client as `internal_error` with a generic message; its details stay in the server log.
 */
export class RpcError extends Error {
  /** Stable, machine-readable code the client matches on. */
  readonly code: string
  /** Optional JSON details sent with the error (`data` in the `error` frame). */
  readonly data: unknown

  /**
   * @param code - 1–64 letters, digits and `_ . -`, starting with a letter (e.g. `not_found`)
   * @param message - for humans; sent to the client as it is
   * @param data - optional JSON details
   */
  constructor (code: string, message: string, data?: unknown) {
    super(message)
    if (!RPC_ERROR_CODE.test(code)) throw new InvalidArgumentError('code', `${JSON.stringify(code)} is not a valid RPC error code (1–64 letters, digits, _ . -, starting with a letter)`)
    this.name = 'RpcError'
    this.code = code
    this.data = data
  }
}

/** Reasons sent with the server's close codes (each well under 123 bytes). */
export const CloseReason = Object.freeze({
  SLOW_CONSUMER: 'slow consumer',
  RATE_LIMITED: 'rate limit exceeded',
  HEARTBEAT_TIMEOUT: 'heartbeat timeout',
  AUTH_REQUIRED: 'authentication required',
  TOKEN_EXPIRED: 'token expired',
  TOKEN_INVALID: 'token invalid',
  KICKED: 'disconnected by the server'
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
