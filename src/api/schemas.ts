/**
 * The HTTP API's request and response bodies, as JSON Schemas (TypeBox): Fastify validates
 * requests and serialises answers with them, and the OpenAPI document is made from them, so a
 * client generated in any language matches what the server checks.
 *
 * Every body is a named schema (its `$id`), added to the API's own Fastify instance and referred
 * to by `Type.Ref`: the document lists each once under `components.schemas` by its name, so a
 * generated client gets `Publication`, `Error`, `PublishRequest`… instead of `Def0` or a type per
 * route. The ids are URNs (`urn:fastify-realtime:Error`) so they cannot collide with the schemas
 * of the app that embeds the plugin; the document names each by the part after the last colon
 * (routes.ts).
 *
 * The bounds a verb checks itself (user ids, close codes, idempotency keys, history limits) are
 * read from the verb's own constants, never restated: the schema takes exactly what the verb
 * behind it takes (test/unit/api-bounds.test.ts).
 */
import { Type, type TSchema } from '@sinclair/typebox'
import { CHANNEL_NAME_PATTERN } from '../protocols/ours/client-messages.js'
import { API_ERROR_CODES, type ApiErrorCode } from './refusals.js'
import { CloseCode } from '../errors.js'
import { APP_CLOSE_CODES, MAX_USER_LENGTH } from '../users/user-service.js'
import { DEFAULT_HISTORY_LIMIT, IDEMPOTENCY_KEY_PATTERN, MAX_HISTORY_LIMIT, MAX_IDEMPOTENCY_KEY_LENGTH } from './server-api.js'

/** The `$id` of a named schema of the API. */
const id = (name: string): { $id: string } => ({ $id: `urn:fastify-realtime:${name}` })

/** The name the OpenAPI document gives a schema: its `$id`'s last part (`Error`). */
export function schemaName ($id: string): string {
  return $id.slice($id.lastIndexOf(':') + 1)
}

const Channel = Type.String({ pattern: CHANNEL_NAME_PATTERN, description: 'A declared channel: 1–128 characters of letters, digits and _ - . : / @ $' })
const IdempotencyKey = Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, pattern: IDEMPOTENCY_KEY_PATTERN, description: 'Makes a retried publish return the first one\'s position instead of publishing again (within the idempotency window)' })

/** A publication as the API reports it. */
export const PublicationAnswer = Type.Object({
  channel: Channel,
  offset: Type.Integer({ minimum: 0, description: 'Its position in the channel\'s stream' }),
  epoch: Type.String({ description: 'The life of the stream the offset belongs to' }),
  t: Type.Integer({ description: 'Server time of the publication, epoch milliseconds' }),
  duplicate: Type.Boolean({ description: 'True when the idempotency key was already used: nothing was published again' })
}, { ...id('Publication'), description: 'A publication: where it went in its channel\'s stream' })

/** POST /publish, and each item of a batch. */
export const PublishBody = Type.Object({
  channel: Channel,
  data: Type.Unknown({ description: 'Any JSON value' }),
  idempotencyKey: Type.Optional(IdempotencyKey)
}, { ...id('PublishRequest'), additionalProperties: false, description: 'One publication to make' })

/** POST /publish/batch (the item bound comes from the `maxBatch` option, so each API instance makes its own). */
export function publishBatchBody (maxBatch: number): TSchema {
  return Type.Object({
    publications: Type.Array(Type.Ref(PublishBody), { minItems: 1, maxItems: maxBatch, description: `At most ${maxBatch}; published in order, all or none when one names an undeclared channel` })
  }, { ...id('PublishBatchRequest'), additionalProperties: false, description: 'Publications to make, in order' })
}

/** The answer of POST /publish/batch. */
export const PublicationList = Type.Object({
  publications: Type.Array(Type.Ref(PublicationAnswer), { description: 'One per item of the request, in its order' })
}, { ...id('PublicationList'), description: 'The publications of a batch, in order' })

/** POST /broadcast */
export const BroadcastBody = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value, sent as a `broadcast` frame to every socket of every node' })
}, { ...id('BroadcastRequest'), additionalProperties: false, description: 'What to broadcast' })

/** A channel in the path. */
export const ChannelParams = Type.Object({ channel: Channel })

/** GET /channels/:channel/history */
export const HistoryQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'With epoch: what followed this position' })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HISTORY_LIMIT, default: DEFAULT_HISTORY_LIMIT, description: 'Without a position: the newest, at most this many' }))
}, {
  additionalProperties: false,
  // A position is both: an offset alone (or an epoch alone) would otherwise be ignored and the
  // newest publications answered, as if the caller had asked for those. Checked by the route's
  // validator (routes.ts), which TypeBox leaves to it.
  dependentRequired: { offset: ['epoch'], epoch: ['offset'] }
})

/** A channel with subscribers, across every node. */
export const ChannelSummary = Type.Object({
  channel: Type.String(),
  subscribers: Type.Integer({ minimum: 0, description: 'Subscriptions on every node together' }),
  nodes: Type.Integer({ minimum: 1, description: 'Nodes holding at least one of them' })
}, { ...id('ChannelSummary'), description: 'A channel with subscribers' })

/** The answer of GET /channels. */
export const ChannelList = Type.Object({
  channels: Type.Array(Type.Ref(ChannelSummary), { description: 'By name' })
}, { ...id('ChannelList'), description: 'The channels with subscribers, across every node' })

/** A presence member. */
export const Member = Type.Object({ id: Type.String({ description: 'The visitor id' }), name: Type.Optional(Type.String()) }, { ...id('PresenceMember'), description: 'A visitor in a channel' })

/** The answer of GET /channels/:channel/presence. */
export const Presence = Type.Object({
  channel: Type.String(),
  members: Type.Array(Type.Ref(Member), { description: 'One entry per visitor, whatever their number of connections' })
}, { ...id('Presence'), description: 'Who is in a channel' })

/** The answer of GET /channels/:channel/presence/count. */
export const PresenceCount = Type.Object({
  channel: Type.String(),
  members: Type.Integer({ minimum: 0, description: 'How many visitors' })
}, { ...id('PresenceCount'), description: 'How many visitors are in a channel' })

/** A publication kept in a channel's history. */
export const HistoryEntry = Type.Object({
  offset: Type.Integer({ minimum: 0 }),
  epoch: Type.String(),
  t: Type.Integer({ description: 'Server time of the publication, epoch milliseconds' }),
  data: Type.Unknown({ description: 'What was published' })
}, { ...id('HistoryEntry'), description: 'A kept publication' })

/** The answer of GET /channels/:channel/history. */
export const History = Type.Object({
  channel: Type.String(),
  position: Type.Object({ offset: Type.Integer(), epoch: Type.String() }, { description: 'The channel\'s latest position' }),
  recovered: Type.Optional(Type.Boolean({ description: 'With a position: whether these are exactly every publication after it' })),
  publications: Type.Array(Type.Ref(HistoryEntry), { description: 'Oldest first' })
}, { ...id('History'), description: 'A channel\'s kept publications' })

/** What one node reports of itself. */
export const NodeReport = Type.Object({
  nodeId: Type.String(),
  connections: Type.Integer({ minimum: 0 }),
  channels: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Subscribers on this node, by channel' }),
  startedAt: Type.Integer({ description: 'Epoch milliseconds' }),
  uptimeMs: Type.Integer(),
  draining: Type.Boolean({ description: 'Shutting down: it takes no new clients' })
}, { ...id('NodeReport'), description: 'What one node reports of itself' })

/** The answer of GET /nodes. */
export const NodeList = Type.Object({
  nodes: Type.Array(Type.Ref(NodeReport), { description: 'This node\'s report and every other live node\'s' })
}, { ...id('NodeList'), description: 'Every live node' })

/**
 * The coded error every refusal answers with. `code` is what a client matches on; `statusCode`
 * is absent on one refusal Fastify makes before routing (414), so only `code` and `message` are
 * required.
 */
export const ErrorAnswer = Type.Object({
  statusCode: Type.Optional(Type.Integer({ description: 'The HTTP status again' })),
  // One string enum (a union of literals would read as `anyOf` in the document, and as a
  // type per code in a generated client).
  code: Type.Unsafe<ApiErrorCode>({ type: 'string', enum: [...API_ERROR_CODES], description: 'Stable: match on it. FRT_… are fastify-realtime\'s, FST_… Fastify\'s. A later version may add codes: treat an unknown one by its HTTP status' }),
  error: Type.Optional(Type.String({ description: 'The HTTP status text' })),
  message: Type.String({ description: 'What went wrong and what to do about it, for a person' })
}, { ...id('Error'), description: 'A refusal' })

/** A user in the path: a visitor id (a session's, or a token's `sub`). */
export const UserParams = Type.Object({ user: Type.String({ minLength: 1, maxLength: MAX_USER_LENGTH, description: 'A visitor id: the session\'s, or a connection token\'s sub' }) })

/** A user and one of their channels in the path. */
export const UserChannelParams = Type.Object({ user: UserParams.properties.user, channel: Channel })

/** A connection in the path. */
export const ConnectionParams = Type.Object({ connId: Type.String({ minLength: 1, maxLength: 64, description: 'A connection id, as the server logs it (connId)' }) })

/** POST /users/:user/messages */
export const DirectBody = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value, sent to every connection of the user on every node as a `direct` frame' })
}, { ...id('DirectMessageRequest'), additionalProperties: false, description: 'What to send to the user' })

/** POST /users/:user/subscriptions */
export const UserSubscribeBody = Type.Object({ channel: Channel }, { ...id('UserSubscriptionRequest'), additionalProperties: false, description: 'The channel to subscribe the user to' })

/** POST /users/:user/disconnect, POST /connections/:connId/disconnect */
export const DisconnectBody = Type.Object({
  code: Type.Optional(Type.Union([Type.Literal(CloseCode.NORMAL), Type.Integer({ ...APP_CLOSE_CODES })], {
    description: `The close code: ${CloseCode.NORMAL}, or ${APP_CLOSE_CODES.minimum}–${APP_CLOSE_CODES.maximum} (${CloseCode.KICKED}–${APP_CLOSE_CODES.maximum}: the client does not reconnect). Default ${CloseCode.KICKED}`
  })),
  reason: Type.Optional(Type.String({ maxLength: 123, description: 'The close reason (at most 123 bytes; longer is clipped)' }))
}, { ...id('DisconnectRequest'), additionalProperties: false, description: 'How to close' })

/** The answer of a request the nodes carry out on their own (202). */
export const Accepted = Type.Object({ accepted: Type.Boolean() }, { ...id('Accepted'), description: 'Taken: every node carries it out on its own' })

/**
 * Every named schema of one API instance, for `addSchema` (and as the references its
 * validators resolve `Type.Ref`s against).
 */
export function namedSchemas (maxBatch: number): TSchema[] {
  return [PublicationAnswer, PublishBody, publishBatchBody(maxBatch), PublicationList, BroadcastBody, ChannelSummary, ChannelList, Member, Presence, PresenceCount, HistoryEntry, History, NodeReport, NodeList, ErrorAnswer, DirectBody, UserSubscribeBody, DisconnectBody, Accepted]
}
