/**
 * Client → server frames: their schemas (TypeBox, compiled once) and the decoder that turns one
 * text frame into plain text, a validated protocol message, or a protocol error.
 *
 * A frame whose first non-blank character is `{` is a protocol message and must be valid JSON
 * matching a schema; anything else is plain text (the tutorial's client replies with plain text).
 */
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ClientErrorCode } from '../../errors.js'
import type { PusherRequest } from '../pusher/requests.js'

/** Longest request id, in characters. */
const MAX_REQUEST_ID_LENGTH = 64
/** Request id a client may attach; echoed in the `ack` or `error` that answers it. */
const RequestIdSchema = Type.Union([Type.String({ maxLength: MAX_REQUEST_ID_LENGTH }), Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER })])
/** Channel names: 1–128 chars of letters, digits and `_ - . : / @ $`. */
export const CHANNEL_NAME_PATTERN = '^[A-Za-z0-9_\\-.:/@$]{1,128}$'
const ChannelName = Type.String({ pattern: CHANNEL_NAME_PATTERN })

/** A stream position (adapters/adapter.ts's `StreamPosition`, the one type of it), for recovery after a reconnect. */
export const StreamPositionSchema = Type.Object({
  offset: Type.Integer({ minimum: 0 }),
  epoch: Type.String({ minLength: 1, maxLength: 64 })
}, { additionalProperties: false })

/** Longest token (connection or channel) a client may send, in characters. */
export const MAX_TOKEN_LENGTH = 8192
const Token = Type.String({ minLength: 1, maxLength: MAX_TOKEN_LENGTH })

/** `{"type":"sub","channel":"chat","since":{"offset":41,"epoch":"…"}}` */
export const SubscribeSchema = Type.Object({
  type: Type.Literal('sub'),
  channel: ChannelName,
  since: Type.Optional(StreamPositionSchema),
  /** Without `since`: replay up to this many of the newest retained publications first. */
  rewind: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  /** The channel token (a signed grant) of a private channel. */
  token: Type.Optional(Token),
  id: Type.Optional(RequestIdSchema)
}, { additionalProperties: false })

/** `{"type":"auth","token":"eyJ…"}`: authenticate (or refresh) the connection with a token. */
export const AuthSchema = Type.Object({
  type: Type.Literal('auth'),
  token: Token,
  id: Type.Optional(RequestIdSchema)
}, { additionalProperties: false })

/** Longest resume token, in characters (a token is about 50). */
const MAX_RESUME_TOKEN_LENGTH = 256
/** Most channels a `resume` frame may name (each is also bounded by maxSubscriptionsPerConnection). */
const MAX_RESUME_CHANNELS = 1024

/**
 * `{"type":"resume","token":"…"}`: a WebSocket's first message, resuming the connection whose
 * `welcome` gave the token (identity, subscriptions, positions). With `channels`, the client names
 * its channels and positions itself and the token brings back the identity only.
 */
export const ResumeSchema = Type.Object({
  type: Type.Literal('resume'),
  token: Type.String({ minLength: 1, maxLength: MAX_RESUME_TOKEN_LENGTH }),
  channels: Type.Optional(Type.Array(Type.Object({ channel: ChannelName, since: Type.Optional(StreamPositionSchema) }, { additionalProperties: false }), { maxItems: MAX_RESUME_CHANNELS })),
  /** For the `channels` without `since`: replay up to this many recent publications first. */
  rewind: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  id: Type.Optional(RequestIdSchema)
}, { additionalProperties: false })

/** Method names: 1–128 letters, digits and `_ . : / -`, starting with a letter. */
export const METHOD_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$'

/** `{"type":"rpc","id":1,"method":"add","data":{…}}`: call a method; the id is required (the answer carries it). */
export const RpcSchema = Type.Object({
  type: Type.Literal('rpc'),
  id: RequestIdSchema,
  method: Type.String({ pattern: METHOD_NAME_PATTERN }),
  data: Type.Optional(Type.Unknown())
}, { additionalProperties: false })

/** `{"type":"unsub","channel":"chat"}` */
export const UnsubscribeSchema = Type.Object({
  type: Type.Literal('unsub'),
  channel: ChannelName,
  id: Type.Optional(RequestIdSchema)
}, { additionalProperties: false })

/** Longest idempotency key of a `pub`, in characters. */
export const MAX_PUBLISH_KEY_LENGTH = 64

/** `{"type":"pub","channel":"chat","data":…,"key":"3f9c…"}` */
export const PublishSchema = Type.Object({
  type: Type.Literal('pub'),
  channel: ChannelName,
  data: Type.Unknown(),
  /**
   * An idempotency key: a `pub` resent with the same key (after a reconnect that lost its ack)
   * publishes once; the repeat is acked with the first publication's position and `duplicate`.
   */
  key: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PUBLISH_KEY_LENGTH })),
  id: Type.Optional(RequestIdSchema)
}, { additionalProperties: false })

export type SubscribeRequest = Static<typeof SubscribeSchema>
export type UnsubscribeRequest = Static<typeof UnsubscribeSchema>
export type PublishRequest = Static<typeof PublishSchema>
export type AuthRequest = Static<typeof AuthSchema>
export type RpcRequest = Static<typeof RpcSchema>
export type ResumeFrame = Static<typeof ResumeSchema>
/**
 * Every protocol message a client may send: ours, and the requests Pusher's protocol decodes into
 * where ours have no equivalent (protocols/pusher/requests.ts; our decoder never makes those).
 */
export type ClientMessage = SubscribeRequest | UnsubscribeRequest | PublishRequest | AuthRequest | RpcRequest | ResumeFrame | PusherRequest

const validators = {
  sub: TypeCompiler.Compile(SubscribeSchema),
  unsub: TypeCompiler.Compile(UnsubscribeSchema),
  pub: TypeCompiler.Compile(PublishSchema),
  auth: TypeCompiler.Compile(AuthSchema),
  rpc: TypeCompiler.Compile(RpcSchema),
  resume: TypeCompiler.Compile(ResumeSchema)
} as const

/** Error codes the decoder produces (sent in `error` frames). */
export type DecodeErrorCode = typeof ClientErrorCode.INVALID_JSON | typeof ClientErrorCode.INVALID_MESSAGE | typeof ClientErrorCode.UNKNOWN_TYPE

/** The result of decoding one client text frame. */
export type DecodedFrame =
  | { kind: 'text', text: string }
  | { kind: 'message', message: ClientMessage }
  | { kind: 'error', code: DecodeErrorCode, message: string, id?: RequestId }

/** A request id a client may attach (see {@link RequestIdSchema}'s bounds, checked when the message is). */
export type RequestId = string | number

/**
 * The id a client attached to a message, when it is readable: the `id` field of a JSON object,
 * a string or an integer. It is echoed in the answer even when the message itself is invalid.
 */
function requestIdOf (value: Record<string, unknown>): RequestId | undefined {
  const id = value.id
  return (typeof id === 'string' && id.length <= MAX_REQUEST_ID_LENGTH) || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : undefined
}

/**
 * The readable request id of a text frame that will not be decoded (dropped by the rate limit),
 * so that its answer still carries it.
 */
export function requestIdOfFrame (text: string): RequestId | undefined {
  if (text.trimStart()[0] !== '{') return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? requestIdOf(value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function withId (error: { kind: 'error', code: DecodeErrorCode, message: string }, id: RequestId | undefined): DecodedFrame {
  return id === undefined ? error : { ...error, id }
}

/**
 * Decode one client text frame.
 * @param text - the frame's text
 * @returns plain text, a validated message, or an error to send back (with the request id when one was readable)
 */
export function decodeClientFrame (text: string): DecodedFrame {
  if (text.trimStart()[0] !== '{') return { kind: 'text', text }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { kind: 'error', code: ClientErrorCode.INVALID_JSON, message: 'The frame starts with "{" but is not valid JSON.' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'error', code: ClientErrorCode.INVALID_MESSAGE, message: 'A protocol message must be a JSON object.' }
  }
  const record = value as Record<string, unknown>
  const id = requestIdOf(record)
  const type = record.type
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    return withId({ kind: 'error', code: ClientErrorCode.UNKNOWN_TYPE, message: `Unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(validators).join(', ')}.` }, id)
  }
  const validator = validators[type as keyof typeof validators]
  if (!validator.Check(value)) {
    const first = validator.Errors(value).First()
    const where = first?.path === '' || first?.path === undefined ? 'message' : first.path
    return withId({ kind: 'error', code: ClientErrorCode.INVALID_MESSAGE, message: `Invalid "${type}" message at ${where}: ${first?.message ?? 'does not match the schema'}.` }, id)
  }
  return { kind: 'message', message: value as ClientMessage }
}
