/**
 * The HTTP API's request and response bodies, as JSON Schemas (TypeBox): Fastify validates
 * requests and serialises answers with them, and the OpenAPI document is made from them, so a
 * client generated in any language matches what the server checks.
 */
import { Type } from '@sinclair/typebox'
import { CHANNEL_NAME_PATTERN } from '../wire/client-messages.js'

const Channel = Type.String({ pattern: CHANNEL_NAME_PATTERN, description: 'A declared channel: 1–128 characters of letters, digits and _ - . : / @ $' })
const IdempotencyKey = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'Makes a retried publish return the first one\'s position instead of publishing again (within the idempotency window)' })

/** A publication as the API reports it. */
export const PublicationAnswer = Type.Object({
  channel: Channel,
  offset: Type.Integer({ minimum: 0, description: 'Its position in the channel\'s stream' }),
  epoch: Type.String({ description: 'The life of the stream the offset belongs to' }),
  t: Type.Integer({ description: 'Server time of the publication, epoch milliseconds' }),
  duplicate: Type.Boolean({ description: 'True when the idempotency key was already used: nothing was published again' })
}, { $id: 'Publication' })

/** POST /publish */
export const PublishBody = Type.Object({
  channel: Channel,
  data: Type.Unknown({ description: 'Any JSON value' }),
  idempotencyKey: Type.Optional(IdempotencyKey)
}, { additionalProperties: false })

/** POST /publish/batch (the item bound comes from the `maxBatch` option). */
export function publishBatchBody (maxBatch: number): ReturnType<typeof Type.Object> {
  return Type.Object({
    publications: Type.Array(PublishBody, { minItems: 1, maxItems: maxBatch, description: `At most ${maxBatch}; published in order, all or none when one names an undeclared channel` })
  }, { additionalProperties: false })
}

/** POST /broadcast */
export const BroadcastBody = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value, sent to every socket of every node as a `broadcast` frame' })
}, { additionalProperties: false })

/** A channel in the path. */
export const ChannelParams = Type.Object({ channel: Channel })

/** GET /channels/:channel/history */
export const HistoryQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'With epoch: what followed this position' })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Without a position: the newest, at most this many' }))
}, { additionalProperties: false })

/** A presence member. */
export const Member = Type.Object({ id: Type.String(), name: Type.Optional(Type.String()) })

/** What one node reports of itself. */
export const NodeReport = Type.Object({
  nodeId: Type.String(),
  connections: Type.Integer({ minimum: 0 }),
  channels: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Subscribers on this node, by channel' }),
  startedAt: Type.Integer(),
  uptimeMs: Type.Integer(),
  draining: Type.Boolean()
})

/** The coded error every refusal answers with. */
export const ErrorAnswer = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable: FRT_… (or FST_ERR_VALIDATION for a malformed request)' }),
  error: Type.String(),
  message: Type.String()
})

/** A user in the path: a visitor id (a session's, or a token's `sub`). */
export const UserParams = Type.Object({ user: Type.String({ minLength: 1, maxLength: 256, description: 'A visitor id: the session\'s, or a connection token\'s sub' }) })

/** A user and one of their channels in the path. */
export const UserChannelParams = Type.Object({ user: UserParams.properties.user, channel: Channel })

/** A connection in the path. */
export const ConnectionParams = Type.Object({ connId: Type.String({ minLength: 1, maxLength: 64, description: 'A connection id, as the server logs it (connId)' }) })

/** POST /users/:user/messages */
export const DirectBody = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value, sent to every connection of the user on every node as a `direct` frame' })
}, { additionalProperties: false })

/** POST /users/:user/subscriptions */
export const UserSubscribeBody = Type.Object({ channel: Channel }, { additionalProperties: false })

/** POST /users/:user/disconnect, POST /connections/:connId/disconnect */
export const DisconnectBody = Type.Object({
  code: Type.Optional(Type.Union([Type.Literal(1000), Type.Integer({ minimum: 4000, maximum: 4999 })], { description: 'The close code: 1000, or 4000–4999 (4500–4999: the client does not reconnect). Default 4500' })),
  reason: Type.Optional(Type.String({ maxLength: 123, description: 'The close reason (at most 123 bytes; longer is clipped)' }))
}, { additionalProperties: false })

/** The answer of a request the nodes carry out on their own (202). */
export const Accepted = Type.Object({ accepted: Type.Boolean() })
