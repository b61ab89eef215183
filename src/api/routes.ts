/**
 * The HTTP API for other services (a Python worker, a Go service, a cron job): publish (one or a
 * batch, idempotently), broadcast, reach users, read presence, history, channels and nodes. Off
 * unless the `api` option is set; its routes live under their own prefix and answer only to API
 * keys (keys.ts), each limited to its scopes and rate-limited (@fastify/rate-limit: per key, and
 * across nodes when given a Redis client). Every route has a JSON Schema, and the OpenAPI document
 * made from them (@fastify/swagger) is served at `<prefix>/openapi.json`, so a client can be
 * generated in any language. Refusals are coded errors (FRT_…; FST_ERR_VALIDATION for a body
 * that does not fit its schema).
 *
 * A thin face of `fastify.realtime`: each route checks its key and body, calls the decorator's verb
 * of the same name (its operationId; server-api.ts) and writes the answer as JSON. What a verb
 * does, and on which nodes, is decided there, once for both.
 */
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import { Type, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Publication } from '../adapters/broker.js'
import { ApiKeyRequiredError, ApiRateLimitError, ApiScopeError } from '../errors.js'
import type { ApiScope, ResolvedApiOptions } from './options.js'
import { allows, ApiKeys, type ApiKeyEntry } from './keys.js'
import { IDEMPOTENCY_KEY_REUSED, refusalResponses, type RouteShape } from './refusals.js'
import { answerRefusal } from './refused-request.js'
import type { RealtimeApi } from './server-api.js'
import { Accepted, BroadcastBody, ChannelList, ChannelParams, ConnectionParams, DirectBody, DisconnectBody, ErrorAnswer, History, HistoryQuery, namedSchemas, NodeList, Presence, PresenceCount, PublicationAnswer, PublicationList, PublishBody, publishBatchBody, schemaName, UserChannelParams, UserParams, UserSubscribeBody } from './schemas.js'

/** Options of {@link apiRoutes}. */
export interface ApiRoutesOptions {
  api: ResolvedApiOptions
  /** The verbs every route calls: `fastify.realtime` itself. */
  realtime: RealtimeApi
}

/** What each route needs of its key. */
type Scope = Exclude<ApiScope, '*'>

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API scope a route needs; absent: public (the OpenAPI document). */
    apiScope?: Scope
  }
}

/** A route's answers: its success, described, and every refusal its shape can meet. */
function answers (status: number, schema: TSchema, description: string, shape: RouteShape): Record<number, TSchema> {
  return { [status]: Type.Ref(schema, { description }), ...refusalResponses(ErrorAnswer, shape) }
}

/** The document's groups of operations, by the scope their key needs. */
const TAGS = [
  { name: 'publishing', description: 'Publish on channels, and broadcast to every socket (scopes `publish`, `broadcast`)' },
  { name: 'users', description: 'Reach, subscribe and disconnect users wherever they are connected (scope `users`)' },
  { name: 'channels', description: 'Channels, presence and history (scope `read`)' },
  { name: 'nodes', description: 'The live nodes (scope `read`)' }
]

/** The sentence every operation's description ends with: the scope its key needs. */
const needs = (scope: Scope): string => ` Needs an API key with the \`${scope}\` scope (or \`*\`).`

function answerOf (publication: Publication): { channel: string, offset: number, epoch: string, t: number, duplicate: boolean } {
  return { channel: publication.channel, offset: publication.offset, epoch: publication.epoch, t: publication.t, duplicate: publication.duplicate === true }
}

/** What each scope lets a key do, as refusals say it. */
const SCOPE_WORDS: Record<Scope, string> = { publish: 'publish', broadcast: 'broadcast', users: 'reach or control users', read: 'read presence, history, channels or nodes' }

/**
 * The first field an object schema's `dependentRequired` (JSON Schema 2019-09) asks for and
 * `value` lacks, with the field that asked; null when none. TypeBox's compiler does not check
 * that keyword, so the validator does.
 */
function missingDependent (schema: unknown, value: unknown): { field: string, with: string } | null {
  const dependent = (schema as { dependentRequired?: Record<string, readonly string[]> }).dependentRequired
  if (dependent === undefined || typeof value !== 'object' || value === null) return null
  for (const [present, needed] of Object.entries(dependent)) {
    if (!(present in value)) continue
    const field = needed.find((name) => !(name in value))
    if (field !== undefined) return { field, with: present }
  }
  return null
}

/** The API's routes; registered by the plugin under `api.prefix`. */
export async function apiRoutes (fastify: FastifyInstance, { api, realtime }: ApiRoutesOptions): Promise<void> {
  const keys = new ApiKeys(api.keys)
  const keyOf = new WeakMap<FastifyRequest, ApiKeyEntry>()

  // A refusal is logged as one line without a stack (a client error is not a server error).
  fastify.setErrorHandler(answerRefusal)

  // The schemas are checked as written: an unknown field is refused, where Fastify's default
  // validator would drop it silently (and a typo would publish something else than was meant).
  // Every body is a named schema (schemas.ts), referred to by Type.Ref: Fastify's serialiser and
  // the OpenAPI document find them on this instance, the validators in `references`.
  const references = namedSchemas(api.maxBatch)
  for (const schema of references) fastify.addSchema(schema)
  fastify.setValidatorCompiler(({ schema, httpPart }) => {
    const check = TypeCompiler.Compile(schema as TSchema, references)
    // Paths and query strings are text: read their numbers as numbers before checking.
    const convert = httpPart === 'querystring' || httpPart === 'params'
    return (data: unknown) => {
      const value = convert ? Value.Convert(schema as TSchema, references, data) : data
      if (check.Check(value)) {
        const missing = missingDependent(schema, value)
        return missing === null ? { value } : { error: new Error(`${httpPart ?? 'request'}/${missing.field} is required with ${missing.with}`) }
      }
      const first = check.Errors(value).First()
      return { error: new Error(`${httpPart ?? 'request'}${first?.path ?? ''} ${first?.message ?? 'does not fit the schema'}`) }
    }
  })

  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'fastify-realtime HTTP API', version: '1', description: 'Publish, broadcast, reach users and read channels of a fastify-realtime server. Every request carries "Authorization: Bearer <API key>".' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key of the server\'s `api.keys` option' } } },
      security: [{ apiKey: [] }],
      tags: TAGS
    },
    // Components are named after their schema's $id (`Publication`, `Error`), not `def-0`.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? schemaName(json.$id) : `schema${i}` }
  })

  const windowWords = `${api.rateLimit.timeWindowMs / 1000} s`
  await fastify.register(fastifyRateLimit, {
    max: api.rateLimit.max,
    timeWindow: api.rateLimit.timeWindowMs,
    // After the key check: a request is counted against the key it presented.
    hook: 'preValidation',
    keyGenerator: (request) => keyOf.get(request)?.name ?? request.ip,
    ...(api.rateLimit.redis === undefined ? {} : { redis: api.rateLimit.redis as never, skipOnError: true }),
    errorResponseBuilder: (_request, context) => new ApiRateLimitError(context.max, windowWords, 'key')
  })
  // Requests without a valid key are counted too, per client address, in the same store (so
  // across nodes with Redis): a flood of guesses or of keyless calls is answered 429 like any
  // other flood, instead of a 401 per request for as long as it lasts.
  const keylessLimit = fastify.createRateLimit({ keyGenerator: (request) => `keyless:${request.ip}` })

  // Who is calling, and may they: before anything else runs for the request.
  fastify.addHook('onRequest', async (request, reply) => {
    const scope = request.routeOptions.config.apiScope
    if (scope === undefined) return
    const entry = keys.find(request.headers.authorization)
    if (entry === null) {
      const limit = await keylessLimit(request)
      if (!limit.isAllowed && limit.isExceeded) {
        reply.header('retry-after', limit.ttlInSeconds)
        throw new ApiRateLimitError(limit.max, windowWords, 'address without a valid key')
      }
      throw new ApiKeyRequiredError()
    }
    if (!allows(entry, scope)) throw new ApiScopeError(SCOPE_WORDS[scope])
    keyOf.set(request, entry)
  })

  fastify.post('/publish', {
    config: { apiScope: 'publish' },
    schema: {
      operationId: 'publish',
      tags: ['publishing'],
      summary: 'Publish on a channel',
      description: 'Stamps the publication with the channel\'s next offset, keeps it in its history and delivers it to every subscriber on every node. With an idempotencyKey, a retry within the idempotency window publishes nothing and answers the first publication (duplicate: true).' + needs('publish'),
      body: Type.Ref(PublishBody),
      response: answers(200, PublicationAnswer, 'Published (or, with a key already used for the same channel and data, the first publication)', { body: true, channel: true, also: [IDEMPOTENCY_KEY_REUSED] })
    }
  }, async (request) => {
    const { channel, data, idempotencyKey } = request.body as { channel: string, data: unknown, idempotencyKey?: string }
    return answerOf(await realtime.publish(channel, data, { idempotencyKey }))
  })

  fastify.post('/publish/batch', {
    config: { apiScope: 'publish' },
    schema: {
      operationId: 'publishBatch',
      tags: ['publishing'],
      summary: 'Publish several, in order',
      description: `Publishes each item as POST /publish does, in order (at most ${api.maxBatch}). All or none for its channels: if one names an undeclared channel, nothing is published.` + needs('publish'),
      body: Type.Ref(publishBatchBody(api.maxBatch)),
      response: answers(200, PublicationList, 'Published, one answer per item in order', { body: true, channel: true, also: [IDEMPOTENCY_KEY_REUSED] })
    }
  }, async (request) => {
    const { publications } = request.body as { publications: Array<{ channel: string, data: unknown, idempotencyKey?: string }> }
    return { publications: (await realtime.publishBatch(publications)).map(answerOf) }
  })

  fastify.post('/broadcast', {
    config: { apiScope: 'broadcast' },
    schema: {
      operationId: 'broadcast',
      tags: ['publishing'],
      summary: 'Send a broadcast frame to every socket of every node',
      description: 'Every node sends a `broadcast` frame to each of its sockets, subscribed or not, as the in-process `fastify.realtime.broadcast(data)` does.' + needs('broadcast'),
      body: Type.Ref(BroadcastBody),
      response: answers(202, Accepted, 'Sent to every node, each of which sends it to its sockets', { body: true })
    }
  }, async (request, reply) => {
    await realtime.broadcast((request.body as { data: unknown }).data)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/messages', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'sendToUser',
      tags: ['users'],
      summary: 'Send a direct frame to every connection of a user, on every node',
      description: 'A `direct` frame to each connection of the visitor, on whichever node it is, once each; nothing if they have none.' + needs('users'),
      params: UserParams,
      body: Type.Ref(DirectBody),
      response: answers(202, Accepted, 'Sent to every node, each of which sends it to the user\'s connections', { body: true, params: true })
    }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    await realtime.sendToUser(user, (request.body as { data: unknown }).data)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/subscriptions', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'subscribeUser',
      tags: ['users'],
      summary: 'Subscribe every live connection of a user to a channel, on every node (from now on, in order)',
      description: 'Each live connection of the visitor gets a `subscribed` frame, then the channel\'s publications from now on, in order.' + needs('users'),
      params: UserParams,
      body: Type.Ref(UserSubscribeBody),
      response: answers(202, Accepted, 'Sent to every node, each of which subscribes the user\'s connections', { body: true, params: true, channel: true })
    }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    await realtime.subscribeUser(user, (request.body as { channel: string }).channel)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.delete('/users/:user/subscriptions/:channel', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'unsubscribeUser',
      tags: ['users'],
      summary: 'End a user\'s subscription to a channel on every connection, on every node',
      description: 'Each connection of the visitor subscribed to the channel gets an `unsubscribed` frame and no more of its publications.' + needs('users'),
      params: UserChannelParams,
      // No body is expected, but Fastify still parses one sent with a DELETE: its refusals apply.
      response: answers(202, Accepted, 'Sent to every node, each of which ends the subscription on the user\'s connections', { parsesBody: true, params: true, channel: true })
    }
  }, async (request, reply) => {
    const { user, channel } = request.params as { user: string, channel: string }
    await realtime.unsubscribeUser(user, channel)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/disconnect', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'disconnectUser',
      tags: ['users'],
      summary: 'Close every connection of a user, on every node',
      description: 'Closes each connection of the visitor with the code and reason given (default 4500: the client does not reconnect).' + needs('users'),
      params: UserParams,
      body: Type.Ref(DisconnectBody),
      response: answers(202, Accepted, 'Sent to every node, each of which closes the user\'s connections', { body: true, params: true })
    }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    const { code, reason } = request.body as { code?: number, reason?: string }
    await realtime.disconnect({ user }, code, reason)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/connections/:connId/disconnect', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'disconnectConnection',
      tags: ['users'],
      summary: 'Close one connection, on whichever node holds it',
      description: 'Closes the connection with this id (as the server logs it) with the code and reason given (default 4500); nothing if no node holds it.' + needs('users'),
      params: ConnectionParams,
      body: Type.Ref(DisconnectBody),
      response: answers(202, Accepted, 'Sent to every node; the one holding the connection closes it', { body: true, params: true })
    }
  }, async (request, reply) => {
    const { connId } = request.params as { connId: string }
    const { code, reason } = request.body as { code?: number, reason?: string }
    await realtime.disconnect({ connId }, code, reason)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.get('/channels', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'channels',
      tags: ['channels'],
      summary: 'Channels with subscribers, across every node',
      description: 'Each channel with at least one subscriber on a live node: its subscriptions summed over the nodes, and how many nodes hold them.' + needs('read'),
      response: answers(200, ChannelList, 'The channels with subscribers, by name', {})
    }
  }, async () => ({ channels: await realtime.channels() }))

  fastify.get('/channels/:channel/presence', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'presence',
      tags: ['channels'],
      summary: 'Who is in a channel, one entry per visitor',
      description: 'The visitors with at least one connection in the channel, on any node.' + needs('read'),
      params: ChannelParams,
      response: answers(200, Presence, 'The channel\'s members', { params: true, channel: true })
    }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    return { channel, members: await realtime.presence(channel) }
  })

  fastify.get('/channels/:channel/presence/count', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'presenceCount',
      tags: ['channels'],
      summary: 'How many visitors are in a channel',
      description: 'The number of entries GET /channels/{channel}/presence would list.' + needs('read'),
      params: ChannelParams,
      response: answers(200, PresenceCount, 'The channel\'s number of members', { params: true, channel: true })
    }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    return { channel, members: await realtime.presenceCount(channel) }
  })

  fastify.get('/channels/:channel/history', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'history',
      tags: ['channels'],
      summary: 'A channel\'s kept publications: what followed a position (offset and epoch), or the newest',
      description: 'With offset and epoch: the publications after that position, and whether they are exactly all of them (recovered). Without: the newest, at most limit.' + needs('read'),
      params: ChannelParams,
      querystring: HistoryQuery,
      response: answers(200, History, 'The kept publications, oldest first', { params: true, query: true, channel: true })
    }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    const { offset, epoch, limit } = request.query as { offset?: number, epoch?: string, limit?: number }
    const since = offset !== undefined && epoch !== undefined ? { offset, epoch } : undefined
    const result = await realtime.history(channel, { since, limit })
    return {
      channel,
      position: result.position,
      ...('recovered' in result ? { recovered: result.recovered } : {}),
      publications: result.publications.map(({ offset, epoch, t, data }) => ({ offset, epoch, t, data }))
    }
  })

  fastify.get('/nodes', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'nodes',
      tags: ['nodes'],
      summary: 'Every live node: connections, channels, uptime',
      description: 'What each live node reports of itself: its sockets, its channels\' subscribers, when it started, whether it is draining.' + needs('read'),
      response: answers(200, NodeList, 'Every live node\'s report', {})
    }
  }, async () => ({ nodes: await realtime.nodes() }))

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}
