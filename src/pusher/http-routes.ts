/**
 * Pusher's HTTP API on the node, for Pusher's server SDKs as they are (Node, PHP/Laravel, Ruby,
 * Python, Go…): trigger events (one, on up to 100 channels, or a batch of up to 10), read the
 * occupied channels, one channel's counts and a presence channel's users, and terminate a user's
 * connections. Registered by the plugin when the `pusher` option is set, on the same port, under
 * `<prefix><apiPath>`; the request path the SDK signed is `/apps/{id}/…` whatever that mount
 * prefix is, so an app that mounts the routes under a prefix (a proxy adding it) still verifies,
 * and a request signed for the prefixed path is refused.
 *
 * A thin face of `fastify.realtime`: each route checks the signature (request-signature.ts) and
 * the body (http-schemas.ts), then calls the server's verbs (publish with an event name and a
 * socket to skip, channels, presence, disconnect), so an event reaches every subscriber on every
 * node, of every protocol. Not in our OpenAPI document (docs/pusher.md says why).
 */
import { type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RealtimeApi } from '../api/server-api.js'
import { pusherChannelName } from '../protocols/pusher/channel-names.js'
import { ChannelInfo, checkUserCount, infoAttributes, isPresenceChannel } from './channel-info.js'
import { answerPusherError, PusherHttpError } from './http-answers.js'
import { AppParams, BatchBody, ChannelParams, ChannelQuery, ChannelsQuery, EmptyBody, EventBody, MAX_BATCH_EVENTS, SignedQuery, UserParams, type BatchRequest, type EventRequest } from './http-schemas.js'
import type { ResolvedPusherApp, ResolvedPusherOptions } from '../protocols/pusher/options.js'
import { checkBodyMd5, checkSignature } from './request-signature.js'

/** Options of {@link pusherHttpRoutes}. */
export interface PusherHttpRoutesOptions {
  pusher: ResolvedPusherOptions
  /** The verbs every route calls: `fastify.realtime` itself. */
  realtime: RealtimeApi
  /** The whole prefix the routes are registered under (the plugin's `prefix` and `apiPath`): not part of the signed path. */
  mount: string
}

/** Room for a batch's names and fields beside its data, in bytes. */
const BODY_OVERHEAD_BYTES = 64 * 1024

/** The parts of a request the hooks found, for the handler. */
interface Verified {
  app: ResolvedPusherApp
  query: Map<string, string>
}

/** The query of a raw URL, decoded, each parameter once (a repeated one is refused). */
function queryOf (url: string): Map<string, string> {
  const at = url.indexOf('?')
  const query = new Map<string, string>()
  if (at === -1) return query
  for (const [key, value] of new URLSearchParams(url.slice(at + 1))) {
    if (query.has(key)) throw new PusherHttpError(400, `Repeated query parameter ${key}`)
    query.set(key, value)
  }
  return query
}

/** The path the SDK signed: the request's, decoded, without the mount prefix. */
function signedPath (url: string, mount: string): string {
  const at = url.indexOf('?')
  const path = at === -1 ? url : url.slice(0, at)
  try {
    return decodeURIComponent(path.slice(mount.length))
  } catch {
    throw new PusherHttpError(400, 'Malformed request path')
  }
}

/** Refuse an event whose data is over the app's limit (Pusher answers 413 too). */
function checkDataSize (app: ResolvedPusherApp, data: string): void {
  const bytes = Buffer.byteLength(data, 'utf8')
  if (bytes > app.maxEventDataBytes) throw new PusherHttpError(413, `Payload too large: the event's data is ${bytes} bytes, the limit is ${app.maxEventDataBytes}`)
}

/** The channels of one event: `channel` or `channels`, exactly one of them. */
function channelsOf (body: EventRequest): string[] {
  if (body.channel !== undefined && body.channels !== undefined) throw new PusherHttpError(400, 'Give channel or channels, not both')
  const names = body.channels ?? (body.channel === undefined ? [] : [body.channel])
  if (names.length === 0) throw new PusherHttpError(400, 'Missing channel or channels')
  return names
}

/** The Pusher HTTP API's routes (see the module comment). */
export async function pusherHttpRoutes (fastify: FastifyInstance, { pusher, realtime, mount }: PusherHttpRoutesOptions): Promise<void> {
  const info = new ChannelInfo(realtime)
  const verified = new WeakMap<FastifyRequest, Verified>()
  const rawBodies = new WeakMap<FastifyRequest, string>()
  const verifiedOf = (request: FastifyRequest): Verified => {
    const found = verified.get(request)
    if (found === undefined) throw new Error('pusher api: a route ran without its signature check')
    return found
  }

  fastify.setErrorHandler(answerPusherError)
  // Checked as written (TypeBox's compiler, as the HTTP API does): nothing coerced or dropped.
  fastify.setValidatorCompiler(({ schema, httpPart }) => {
    const check = TypeCompiler.Compile(schema as TSchema)
    return (data: unknown) => {
      if (check.Check(data)) return { value: data }
      const first = check.Errors(data).First()
      return { error: new Error(`Invalid ${httpPart ?? 'request'}${first?.path ?? ''}: ${first?.message ?? 'does not fit the schema'}`) }
    }
  })

  // The raw body is what body_md5 is the MD5 of: kept as it arrived, then parsed.
  const bodyLimit = Math.max(...pusher.apps.map((app) => app.maxEventDataBytes)) * MAX_BATCH_EVENTS + BODY_OVERHEAD_BYTES
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    const text = body as string
    rawBodies.set(request, text)
    if (text === '') {
      done(null, undefined)
      return
    }
    try {
      done(null, JSON.parse(text))
    } catch {
      done(new PusherHttpError(400, 'The body is not valid JSON'), undefined)
    }
  })

  // Which app, and signed by it: before the body is read.
  fastify.addHook('onRequest', async (request) => {
    const { appId } = request.params as { appId?: string }
    const app = appId === undefined ? undefined : pusher.byId.get(appId)
    if (app === undefined) throw new PusherHttpError(404, `Unknown app ${JSON.stringify(appId ?? '')}`)
    const query = queryOf(request.url)
    const refusal = checkSignature({ method: request.method, path: signedPath(request.url, mount), query }, app, Math.floor(Date.now() / 1000), pusher.apiTimestampWindowS)
    if (refusal !== null) throw new PusherHttpError(401, refusal.message)
    verified.set(request, { app, query })
  })
  // The body is the one signed: before it is checked against its schema.
  fastify.addHook('preValidation', async (request) => {
    const refusal = checkBodyMd5(verifiedOf(request).query, rawBodies.get(request) ?? '')
    if (refusal !== null) throw new PusherHttpError(401, refusal.message)
  })

  fastify.post('/apps/:appId/events', {
    schema: { hide: true, params: AppParams, querystring: SignedQuery, body: EventBody }
  }, async (request) => {
    const { app } = verifiedOf(request)
    const body = request.body as EventRequest
    const names = channelsOf(body)
    checkDataSize(app, body.data)
    await realtime.publishBatch(names.map((name) => ({ channel: pusherChannelName(app, name), data: body.data, event: body.name, except: body.socket_id })))
    const asked = infoAttributes(body.info)
    return asked.size === 0 ? {} : { channels: await info.attributes(app, names, asked) }
  })

  fastify.post('/apps/:appId/batch_events', {
    schema: { hide: true, params: AppParams, querystring: SignedQuery, body: BatchBody }
  }, async (request) => {
    const { app } = verifiedOf(request)
    const { batch } = request.body as BatchRequest
    for (const event of batch) checkDataSize(app, event.data)
    await realtime.publishBatch(batch.map((event) => ({ channel: pusherChannelName(app, event.channel), data: event.data, event: event.name, except: event.socket_id })))
    const answers = []
    for (const event of batch) {
      const asked = infoAttributes(event.info)
      answers.push(asked.size === 0 ? {} : (await info.attributes(app, [event.channel], asked))[event.channel] ?? {})
    }
    return { batch: answers }
  })

  fastify.get('/apps/:appId/channels', {
    schema: { hide: true, params: AppParams, querystring: ChannelsQuery }
  }, async (request) => {
    const { app } = verifiedOf(request)
    const query = request.query as { filter_by_prefix?: string, info?: string }
    const prefix = query.filter_by_prefix ?? ''
    const asked = infoAttributes(query.info)
    checkUserCount(asked, isPresenceChannel(prefix))
    const occupied = await info.occupied(app)
    const names = [...occupied.keys()].filter((name) => name.startsWith(prefix)).sort()
    return { channels: await info.attributes(app, names, asked, occupied) }
  })

  fastify.get('/apps/:appId/channels/:channelName', {
    schema: { hide: true, params: ChannelParams, querystring: ChannelQuery }
  }, async (request) => {
    const { app } = verifiedOf(request)
    const { channelName } = request.params as { channelName: string }
    const asked = infoAttributes((request.query as { info?: string }).info)
    checkUserCount(asked, isPresenceChannel(channelName))
    const occupied = await info.occupied(app)
    const attributes = (await info.attributes(app, [channelName], asked, occupied))[channelName]
    return { occupied: occupied.has(channelName), ...attributes }
  })

  fastify.get('/apps/:appId/channels/:channelName/users', {
    schema: { hide: true, params: ChannelParams, querystring: SignedQuery }
  }, async (request) => {
    const { app } = verifiedOf(request)
    const { channelName } = request.params as { channelName: string }
    if (!isPresenceChannel(channelName)) throw new PusherHttpError(400, 'Users may only be listed for presence channels')
    return { users: (await info.members(app, channelName)).map((member) => ({ id: member.id })) }
  })

  fastify.post('/apps/:appId/users/:userId/terminate_connections', {
    schema: { hide: true, params: UserParams, querystring: SignedQuery, body: EmptyBody }
  }, async (request) => {
    const { userId } = request.params as { userId: string }
    await realtime.disconnect({ user: userId })
    return {}
  })
}
