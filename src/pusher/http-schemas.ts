/**
 * The Pusher HTTP API's requests, as JSON Schemas (TypeBox), checked as written: what Pusher's
 * server SDKs send, and nothing else (an unknown field is refused with 400, as a typo would
 * otherwise be ignored). The bounds are Pusher's: at most 100 channels per event, 10 events per
 * batch, names of at most 200 characters.
 */
import { Type, type Static } from '@sinclair/typebox'
import { MAX_USER_LENGTH } from '../users/user-service.js'

/** Most channels one event is published on (Pusher's limit). */
export const MAX_EVENT_CHANNELS = 100
/** Most events in one batch (Pusher's limit). */
export const MAX_BATCH_EVENTS = 10
/** Longest event and channel name (Pusher's SDKs refuse longer ones). */
export const MAX_NAME_LENGTH = 200

/** A Pusher channel name: Pusher's characters, or a user's server-to-user channel. */
export const PusherChannel = Type.String({ pattern: `^(#server-to-user-.{1,${MAX_USER_LENGTH}}|[A-Za-z0-9_\\-=@,.;]{1,${MAX_NAME_LENGTH}})$` })

/** A socket to skip: a Pusher socket id (`123.456`), or one of our own protocol's connection ids. */
const SocketId = Type.String({ pattern: '^(\\d{1,20}\\.\\d{1,20}|[A-Za-z0-9_-]{1,64})$' })

/** The attributes an `info` parameter asks for, comma-separated. */
const Info = Type.String({ pattern: '^(user_count|subscription_count)(,(user_count|subscription_count))*$' })

/** What every signed request's query may carry: the signature's parameters. */
const SIGNATURE_PARAMETERS = {
  auth_key: Type.String(),
  auth_timestamp: Type.String(),
  auth_version: Type.String(),
  auth_signature: Type.String(),
  body_md5: Type.Optional(Type.String())
}

/** The query of a request without parameters of its own. */
export const SignedQuery = Type.Object(SIGNATURE_PARAMETERS, { additionalProperties: false })

/** GET /apps/:appId/channels */
export const ChannelsQuery = Type.Object({
  ...SIGNATURE_PARAMETERS,
  filter_by_prefix: Type.Optional(Type.String({ maxLength: MAX_NAME_LENGTH })),
  info: Type.Optional(Info)
}, { additionalProperties: false })

/** GET /apps/:appId/channels/:channelName */
export const ChannelQuery = Type.Object({ ...SIGNATURE_PARAMETERS, info: Type.Optional(Info) }, { additionalProperties: false })

/** An app in the path. */
export const AppParams = Type.Object({ appId: Type.String({ minLength: 1, maxLength: 64 }) })

/** An app and one of its channels in the path. */
export const ChannelParams = Type.Object({ appId: AppParams.properties.appId, channelName: PusherChannel })

/** An app and a user in the path. */
export const UserParams = Type.Object({ appId: AppParams.properties.appId, userId: Type.String({ minLength: 1, maxLength: MAX_USER_LENGTH }) })

/** POST /apps/:appId/events */
export const EventBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH }),
  data: Type.String(),
  channel: Type.Optional(PusherChannel),
  channels: Type.Optional(Type.Array(PusherChannel, { minItems: 1, maxItems: MAX_EVENT_CHANNELS })),
  socket_id: Type.Optional(SocketId),
  info: Type.Optional(Info)
}, { additionalProperties: false })

/** One event of a batch. */
export const BatchEvent = Type.Object({
  name: EventBody.properties.name,
  data: Type.String(),
  channel: PusherChannel,
  socket_id: Type.Optional(SocketId),
  info: Type.Optional(Info)
}, { additionalProperties: false })

/** POST /apps/:appId/batch_events */
export const BatchBody = Type.Object({
  batch: Type.Array(BatchEvent, { minItems: 1, maxItems: MAX_BATCH_EVENTS })
}, { additionalProperties: false })

/** POST /apps/:appId/users/:userId/terminate_connections: the SDK sends `{}`; no body at all is taken too. */
export const EmptyBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Undefined(), Type.Null()])

export type EventRequest = Static<typeof EventBody>
export type BatchRequest = Static<typeof BatchBody>
