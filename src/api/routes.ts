/**
 * The HTTP API for other services (a Python worker, a Go service, a cron job): publish (one or a
 * batch, idempotently), broadcast, reach users, read presence, history, channels and nodes. Off
 * unless the `api` option is set; its routes live under their own prefix and answer only to API
 * keys (keys.ts), each limited to its scopes and rate-limited (@fastify/rate-limit: per key, and
 * across nodes when given a Redis client). Every route has a JSON Schema, and the OpenAPI document
 * made from them (@fastify/swagger) is served at `<prefix>/openapi.json`, so a client can be
 * generated in any language. Refusals are coded errors (FRT_…; FST_ERR_VALIDATION for a body
 * that does not fit its schema).
 */
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import { Type, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { PresenceMember, Publication, RecentResult, SinceResult, StreamPosition } from '../adapters/adapter.js'
import { ApiKeyRequiredError, ApiRateLimitError, ApiScopeError, UnknownChannelError } from '../errors.js'
import type { ApiScope, ResolvedApiOptions } from './options.js'
import { allows, ApiKeys, type ApiKeyEntry } from './keys.js'
import { answerRefusal } from './refusals.js'
import { Accepted, BroadcastBody, ChannelParams, ConnectionParams, DirectBody, DisconnectBody, ErrorAnswer, HistoryQuery, Member, NodeReport, PublicationAnswer, PublishBody, publishBatchBody, UserChannelParams, UserParams, UserSubscribeBody } from './schemas.js'

/** What one node reports of itself (GET /info, GET /channels). */
export interface NodeReportValue {
  nodeId: string
  connections: number
  channels: Record<string, number>
  startedAt: number
  uptimeMs: number
  draining: boolean
}

/** What the API does its work with (the plugin builds it from the node and the channels). */
export interface ApiBackend {
  /** Publish (idempotently when a key is given). @throws UnknownChannelError */
  publish: (channel: string, data: unknown, idempotencyKey: string | undefined) => Promise<Publication>
  /** Whether a channel is declared. */
  isDeclared: (channel: string) => boolean
  /** A `broadcast` frame to every socket of every node. */
  broadcast: (data: unknown) => Promise<void>
  presence: (channel: string) => Promise<PresenceMember[]>
  history: (channel: string, query: { since?: StreamPosition, limit: number }) => Promise<SinceResult | RecentResult>
  /** Every live node's report (this one's included). */
  nodes: () => Promise<NodeReportValue[]>
  /** `fastify.realtime.sendToUser`. */
  sendToUser: (user: string, data: unknown) => Promise<void>
  /** `fastify.realtime.subscribe`. @throws UnknownChannelError */
  subscribeUser: (user: string, channel: string) => Promise<void>
  /** `fastify.realtime.unsubscribe`. @throws UnknownChannelError */
  unsubscribeUser: (user: string, channel: string) => Promise<void>
  /** `fastify.realtime.disconnect`. */
  disconnect: (target: { user: string } | { connId: string }, code: number | undefined, reason: string | undefined) => Promise<void>
}

/** Options of {@link apiRoutes}. */
export interface ApiRoutesOptions {
  api: ResolvedApiOptions
  backend: ApiBackend
}

/** What each route needs of its key. */
type Scope = Exclude<ApiScope, '*'>

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API scope a route needs; absent: public (the OpenAPI document). */
    apiScope?: Scope
  }
}

const errors = { 401: ErrorAnswer, 403: ErrorAnswer, 404: ErrorAnswer, 429: ErrorAnswer }

function answerOf (publication: Publication): { channel: string, offset: number, epoch: string, t: number, duplicate: boolean } {
  return { channel: publication.channel, offset: publication.offset, epoch: publication.epoch, t: publication.t, duplicate: publication.duplicate === true }
}

/** What each scope lets a key do, as refusals say it. */
const SCOPE_WORDS: Record<Scope, string> = { publish: 'publish', broadcast: 'broadcast', users: 'reach or control users', read: 'read presence, history, channels or nodes' }

/** The API's routes; registered by the plugin under `api.prefix`. */
export async function apiRoutes (fastify: FastifyInstance, { api, backend }: ApiRoutesOptions): Promise<void> {
  const keys = new ApiKeys(api.keys)
  const keyOf = new WeakMap<FastifyRequest, ApiKeyEntry>()

  // A refusal is logged as one line without a stack (a client error is not a server error).
  fastify.setErrorHandler(answerRefusal)

  // The schemas are checked as written: an unknown field is refused, where Fastify's default
  // validator would drop it silently (and a typo would publish something else than was meant).
  fastify.setValidatorCompiler(({ schema, httpPart }) => {
    const check = TypeCompiler.Compile(schema as TSchema)
    // Paths and query strings are text: read their numbers as numbers before checking.
    const convert = httpPart === 'querystring' || httpPart === 'params'
    return (data: unknown) => {
      const value = convert ? Value.Convert(schema as TSchema, data) : data
      if (check.Check(value)) return { value }
      const first = check.Errors(value).First()
      return { error: new Error(`${httpPart ?? 'request'}${first?.path ?? ''} ${first?.message ?? 'does not fit the schema'}`) }
    }
  })

  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'fastify-realtime HTTP API', version: '1', description: 'Publish, broadcast, reach users and read channels of a fastify-realtime server. Every request carries "Authorization: Bearer <API key>".' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }]
    }
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
    schema: { operationId: 'publish', summary: 'Publish on a channel', body: PublishBody, response: { 200: PublicationAnswer, ...errors } }
  }, async (request) => {
    const { channel, data, idempotencyKey } = request.body as { channel: string, data: unknown, idempotencyKey?: string }
    return answerOf(await backend.publish(channel, data, idempotencyKey))
  })

  fastify.post('/publish/batch', {
    config: { apiScope: 'publish' },
    schema: {
      operationId: 'publishBatch',
      summary: 'Publish several, in order',
      body: publishBatchBody(api.maxBatch),
      response: { 200: Type.Object({ publications: Type.Array(PublicationAnswer) }), ...errors }
    }
  }, async (request) => {
    const { publications } = request.body as { publications: Array<{ channel: string, data: unknown, idempotencyKey?: string }> }
    // All or none: an undeclared channel refuses the whole batch before anything is published.
    const undeclared = publications.find((item) => !backend.isDeclared(item.channel))
    if (undeclared !== undefined) throw new UnknownChannelError(undeclared.channel)
    const answers = []
    for (const item of publications) answers.push(answerOf(await backend.publish(item.channel, item.data, item.idempotencyKey)))
    return { publications: answers }
  })

  fastify.post('/broadcast', {
    config: { apiScope: 'broadcast' },
    schema: { operationId: 'broadcast', summary: 'Send a broadcast frame to every socket of every node', body: BroadcastBody, response: { 202: Type.Object({ accepted: Type.Boolean() }), ...errors } }
  }, async (request, reply) => {
    await backend.broadcast((request.body as { data: unknown }).data)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/messages', {
    config: { apiScope: 'users' },
    schema: { operationId: 'sendToUser', summary: 'Send a direct frame to every connection of a user, on every node', params: UserParams, body: DirectBody, response: { 202: Accepted, ...errors } }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    await backend.sendToUser(user, (request.body as { data: unknown }).data)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/subscriptions', {
    config: { apiScope: 'users' },
    schema: {
      operationId: 'subscribeUser',
      summary: 'Subscribe every live connection of a user to a channel, on every node (from now on, in order)',
      params: UserParams,
      body: UserSubscribeBody,
      response: { 202: Accepted, ...errors }
    }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    await backend.subscribeUser(user, (request.body as { channel: string }).channel)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.delete('/users/:user/subscriptions/:channel', {
    config: { apiScope: 'users' },
    schema: { operationId: 'unsubscribeUser', summary: 'End a user\'s subscription to a channel on every connection, on every node', params: UserChannelParams, response: { 202: Accepted, ...errors } }
  }, async (request, reply) => {
    const { user, channel } = request.params as { user: string, channel: string }
    await backend.unsubscribeUser(user, channel)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/users/:user/disconnect', {
    config: { apiScope: 'users' },
    schema: { operationId: 'disconnectUser', summary: 'Close every connection of a user, on every node', params: UserParams, body: DisconnectBody, response: { 202: Accepted, ...errors } }
  }, async (request, reply) => {
    const { user } = request.params as { user: string }
    const { code, reason } = request.body as { code?: number, reason?: string }
    await backend.disconnect({ user }, code, reason)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.post('/connections/:connId/disconnect', {
    config: { apiScope: 'users' },
    schema: { operationId: 'disconnectConnection', summary: 'Close one connection, on whichever node holds it', params: ConnectionParams, body: DisconnectBody, response: { 202: Accepted, ...errors } }
  }, async (request, reply) => {
    const { connId } = request.params as { connId: string }
    const { code, reason } = request.body as { code?: number, reason?: string }
    await backend.disconnect({ connId }, code, reason)
    return await reply.code(202).send({ accepted: true })
  })

  fastify.get('/channels', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'listChannels',
      summary: 'Channels with subscribers, across every node',
      response: { 200: Type.Object({ channels: Type.Array(Type.Object({ channel: Type.String(), subscribers: Type.Integer(), nodes: Type.Integer() })) }), ...errors }
    }
  }, async () => {
    const totals = new Map<string, { subscribers: number, nodes: number }>()
    for (const report of await backend.nodes()) {
      for (const [channel, subscribers] of Object.entries(report.channels)) {
        const total = totals.get(channel) ?? { subscribers: 0, nodes: 0 }
        total.subscribers += subscribers
        total.nodes++
        totals.set(channel, total)
      }
    }
    return { channels: [...totals].sort(([a], [b]) => a.localeCompare(b)).map(([channel, total]) => ({ channel, ...total })) }
  })

  fastify.get('/channels/:channel/presence', {
    config: { apiScope: 'read' },
    schema: { operationId: 'presence', summary: 'Who is in a channel, one entry per visitor', params: ChannelParams, response: { 200: Type.Object({ channel: Type.String(), members: Type.Array(Member) }), ...errors } }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    return { channel, members: await backend.presence(channel) }
  })

  fastify.get('/channels/:channel/presence/count', {
    config: { apiScope: 'read' },
    schema: { operationId: 'presenceCount', summary: 'How many visitors are in a channel', params: ChannelParams, response: { 200: Type.Object({ channel: Type.String(), members: Type.Integer() }), ...errors } }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    return { channel, members: (await backend.presence(channel)).length }
  })

  fastify.get('/channels/:channel/history', {
    config: { apiScope: 'read' },
    schema: {
      operationId: 'history',
      summary: 'A channel\'s kept publications: what followed a position (offset and epoch), or the newest',
      params: ChannelParams,
      querystring: HistoryQuery,
      response: {
        200: Type.Object({
          channel: Type.String(),
          position: Type.Object({ offset: Type.Integer(), epoch: Type.String() }),
          recovered: Type.Optional(Type.Boolean({ description: 'With a position: whether these are exactly every publication after it' })),
          publications: Type.Array(Type.Object({ offset: Type.Integer(), epoch: Type.String(), t: Type.Integer(), data: Type.Unknown() }))
        }),
        ...errors
      }
    }
  }, async (request) => {
    const { channel } = request.params as { channel: string }
    const { offset, epoch, limit } = request.query as { offset?: number, epoch?: string, limit?: number }
    const since = offset !== undefined && epoch !== undefined ? { offset, epoch } : undefined
    const result = await backend.history(channel, since === undefined ? { limit: limit ?? 100 } : { since, limit: limit ?? 100 })
    return {
      channel,
      position: result.position,
      ...('recovered' in result ? { recovered: result.recovered } : {}),
      publications: result.publications.map(({ offset, epoch, t, data }) => ({ offset, epoch, t, data }))
    }
  })

  fastify.get('/info', {
    config: { apiScope: 'read' },
    schema: { operationId: 'info', summary: 'Every live node: connections, channels, uptime', response: { 200: Type.Object({ nodes: Type.Array(NodeReport) }), ...errors } }
  }, async () => ({ nodes: await backend.nodes() }))

  fastify.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => fastify.swagger())
}
