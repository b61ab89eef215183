/**
 * The Server-Sent Events fallback's two routes, on the same port and behind the same gate as the
 * WebSocket (the plugin registers them with {@link SseEndpoint.register}). Route handlers live in endpoints/, above the transports:
 * transports/sse.ts writes the stream's bytes, this file decides who gets a stream and how.
 *
 * - `GET <ssePath>`: opens an event stream (transports/sse.ts) for a plain `EventSource`. The
 *   upgrade gate runs on it first (origin, per-IP and node caps, handshake rate, session,
 *   admission pacing); its identity is the gate's, from the same resolver as a WebSocket's (the
 *   cookie session, or a bearer token), and it is taken into service as a WebSocket is
 *   (intake.ts: token deadlines, the user index, server-side subscriptions). It
 *   subscribes to its `channels` parameter, or, when the browser reconnects by itself, to every
 *   channel and position its `Last-Event-ID` names.
 * - `POST <ssePath>`: one client message (a JSON protocol frame, or plain text) for the stream
 *   whose key the `Realtime-Stream` header carries, on whichever node holds it (sse-relay.ts).
 *   202: the message is in the stream's message path, and its answer comes on the stream; 404
 *   `FRT_STREAM_NOT_FOUND`: no stream has that key (reconnect the stream); 403
 *   `FRT_STREAM_FORBIDDEN`: the POST's own identity (cookie session or bearer token, resolved as
 *   the stream's was) names another visitor than the stream's. A POST without one acts as the
 *   stream, as the key allows.
 *
 * A browser's `EventSource` gives up for good on an error status; so a refusal a client should
 * retry (429, 503) is answered to an `EventSource` as a stream holding only a jittered `retry:`
 * and a `close` event (1013, `<code>; retry=<ms>`), after which it reconnects by itself. While
 * Fastify closes, its own plain 503 would answer the route before any hook runs: the drain takes
 * the route's requests over first ({@link SseEndpoint.takeOverRequests}) and refuses them the
 * same documented way (`FRT_DRAINING`).
 */
import type { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify'
import type { IdentityResolver } from '../auth/identity.js'
import { TokenRefusal } from '../auth/tokens.js'
import { CloseCode, ForbiddenOriginError, InvalidChannelListError, StreamForbiddenError, StreamNotFoundError, TokenInvalidError } from '../errors.js'
import { retryHintMs, type RealtimeNode } from '../node/realtime-node.js'
import { resolveEventId, type CursorStore } from '../recovery/sse-event-ids.js'
import type { SseRelay } from '../transports/sse-relay.js'
import { SseConnection } from '../transports/sse.js'
import { clientIp } from '../upgrade/client-ip.js'
import { DRAINING_RETRY_AFTER_SECONDS, originAllowed, type UpgradeGate } from '../upgrade/gate.js'
import { readResumeRequest } from '../recovery/resume-request.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import type { ConnectionIntake } from './intake.js'

/** The response headers of a stream: an event stream nobody may cache, buffer or transform. */
const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // nginx: pass each event on at once instead of buffering the response (docs/deploy/nginx.conf).
  'x-accel-buffering': 'no'
}

/** The header a POST names its stream with. */
export const STREAM_KEY_HEADER = 'realtime-stream'

/** What the routes need. */
export interface SseEndpointInit {
  node: RealtimeNode
  gate: UpgradeGate
  relay: SseRelay
  /** Who sends a POST: the same resolver as the stream's own request (cookie session, bearer token). */
  identity: IdentityResolver
  /** Where cursors of long event ids live (the adapter's shared state). */
  cursors: CursorStore
  /** The plugin's options of these names, once resolved. */
  options: { readonly maxSubscriptionsPerConnection: number, readonly resumeTtlMs: number, readonly allowedOrigins: readonly string[], readonly requireOrigin: boolean }
  /** The route's full path (the plugin's prefix and `ssePath`). */
  path: string
  /** `maxPayloadBytes`: a larger POST is answered 413, as a WebSocket message that size closes with 1009. */
  maxPayloadBytes: number
  /** Takes a stream into service as every transport's connections are, and restores the channels it asked for. */
  intake: Pick<ConnectionIntake, 'accept'>
}

function wantsEventStream (request: Pick<IncomingMessage, 'headers'>): boolean {
  return request.headers.accept?.includes('text/event-stream') === true
}

/**
 * The body of a refusal an `EventSource` should retry: a `retry:` around `retryAfterSeconds`,
 * spread so the refused do not all come back together, and a `close` event (1013) saying why.
 */
function retryLaterEvents (code: string, retryAfterSeconds: number): string {
  const retryMs = Math.round(1000 * (Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? retryAfterSeconds : 1) * (0.5 + Math.random()))
  return `retry: ${retryMs}\nevent: close\ndata: ${JSON.stringify({ code: CloseCode.TRY_AGAIN_LATER, reason: `${code}; retry=${retryMs}` })}\n\n`
}

/** A listener of a server's `request` event, as `EventEmitter.listeners` gives it. */
type RequestListener = (request: IncomingMessage, response: ServerResponse) => void

/** See the module comment. */
export class SseEndpoint {
  readonly #init: SseEndpointInit

  constructor (init: SseEndpointInit) {
    this.#init = init
    // A stream that ended no longer takes POSTs.
    init.node.onConnectionClose((connection) => { init.relay.remove(connection) })
  }

  /** Register the two routes on `routes` (a scope of their own, under the plugin's prefix). */
  readonly register = async (routes: FastifyInstance, { path }: { path: string }): Promise<void> => {
    // A stream's POST carries one client message as it would travel on a WebSocket: its text.
    routes.removeAllContentTypeParsers()
    routes.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
    routes.get(path, { onRequest: this.#init.gate.onStreamRequest, onSend: this.onSend }, this.stream)
    routes.post(path, { bodyLimit: this.#init.maxPayloadBytes }, this.post)
  }

  /** `GET`: open an event stream. */
  readonly stream = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { node, gate, relay, cursors, options, intake } = this.#init
    const socket = request.raw.socket
    let entries: ChannelListEntry[]
    let rewind: number
    try {
      ({ entries, rewind } = await this.#channelsOf(request))
    } catch (err) {
      gate.abandon(socket)
      throw err
    }
    // Reading a cursor waits on the adapter: the browser may have gone meanwhile.
    if (socket.destroyed) {
      gate.abandon(socket)
      return
    }
    reply.hijack()
    const response = reply.raw
    response.writeHead(200, STREAM_HEADERS)
    // Who it is, the gate resolved (the one resolver of every transport: session, bearer token).
    const who = gate.identityOf(request)
    const connection = new SseConnection(response, node.connectionShared, { ip: clientIp(request), visitor: who.visitor, requestId: request.id }, {
      cursors,
      cursorTtlMs: options.resumeTtlMs,
      retryMs: retryHintMs()
    })
    connection.holdsGateSlot = gate.adopt(socket)
    relay.add(connection)
    intake.accept(connection, request, who, { stream: relay.keyOf(connection) }, { entries, rewind })
  }

  /** `POST`: one client message for a stream. */
  readonly post = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { relay, options, identity } = this.#init
    const origin = request.headers.origin
    if (origin === undefined ? options.requireOrigin : !originAllowed(origin, request.host, options.allowedOrigins)) {
      throw new ForbiddenOriginError(origin ?? '(none)')
    }
    const key = request.headers[STREAM_KEY_HEADER]
    if (typeof key !== 'string') throw new StreamNotFoundError()
    const text = typeof request.body === 'string' ? request.body : ''
    // Who sends it, as the stream's own request was resolved: checked against the stream's
    // visitor on the node that holds it, so a leaked key does not make bob alice.
    let poster: string | null
    try {
      poster = (await identity.resolve(request)).visitor?.id ?? null
    } catch (err) {
      if (err instanceof TokenRefusal) throw new TokenInvalidError(err.message)
      throw err
    }
    const outcome = await relay.forward(key, text, poster)
    if (outcome === 'wrong-visitor') {
      request.log.warn({ visitor: poster }, 'event stream POST refused: the stream is another visitor\'s')
      throw new StreamForbiddenError()
    }
    if (outcome === 'missing') throw new StreamNotFoundError()
    await reply.code(202).send()
  }

  /** `onSend` of the stream route: a refusal to retry, answered the way an `EventSource` retries. */
  readonly onSend: onSendHookHandler = (request, reply, payload, done) => {
    const status = reply.statusCode
    if ((status !== 429 && status !== 503) || !wantsEventStream(request)) {
      done(null, payload)
      return
    }
    const seconds = Number(reply.getHeader('retry-after') ?? 1)
    let code = 'refused'
    try {
      code = String((JSON.parse(String(payload)) as { code?: unknown }).code ?? code)
    } catch {}
    reply.code(200).headers(STREAM_HEADERS)
    done(null, retryLaterEvents(code, seconds))
  }

  /**
   * When a shutdown's drain begins (Fastify's `preClose`, Fastify already closing): answer every request of the stream's route
   * (a stream opening, a POST) with the drain refusal, coded as the gate's (503 `FRT_DRAINING`,
   * `Retry-After`, and for an `EventSource` the stream that makes it retry), instead of the plain
   * 503 Fastify gives every route while it closes. Other requests go on to Fastify unchanged.
   * @param server - the HTTP server; its `request` listeners (Fastify's) are wrapped
   */
  takeOverRequests (server: EventEmitter, log: FastifyBaseLogger): void {
    const { gate, path } = this.#init
    // Listeners are typed `Function[]` by @types/node; a server's `request` listeners take (request, response).
    const listeners = server.listeners('request') as RequestListener[]
    for (const listener of listeners) server.removeListener('request', listener)
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const url = request.url ?? ''
      const query = url.indexOf('?')
      if ((query === -1 ? url : url.slice(0, query)) !== path) {
        for (const listener of listeners) Reflect.apply(listener, server, [request, response])
        return
      }
      const refusal = gate.refusedWhileClosing(request, log)
      // The request's body, if any, is not read: the connection closes after the answer.
      response.setHeader('connection', 'close')
      if (request.method === 'GET' && wantsEventStream(request)) {
        response.writeHead(200, STREAM_HEADERS)
        response.end(retryLaterEvents(refusal.code, DRAINING_RETRY_AFTER_SECONDS))
        return
      }
      const body = JSON.stringify(refusal)
      response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(DRAINING_RETRY_AFTER_SECONDS), 'content-length': Buffer.byteLength(body) })
      response.end(body)
    })
  }

  /** The channels a new stream subscribes to: its `Last-Event-ID`'s, else its `channels`. */
  async #channelsOf (request: FastifyRequest): Promise<{ entries: ChannelListEntry[], rewind: number }> {
    const { options, cursors } = this.#init
    const asked = readResumeRequest(request, options.maxSubscriptionsPerConnection)
    const listed = asked.channels ?? []
    if (asked.lastEventId === undefined) return { entries: listed, rewind: asked.rewind }
    const resolved = await resolveEventId(asked.lastEventId, options.maxSubscriptionsPerConnection, cursors)
    if (typeof resolved === 'string') throw new InvalidChannelListError('Last-Event-ID', resolved)
    if (!resolved.cursorLost) return { entries: resolved.entries, rewind: asked.rewind }
    // The cursor expired: resume what the id itself says, and subscribe the rest of the page's channels afresh.
    request.log.info('event stream cursor expired; its channels are subscribed afresh')
    const named = new Set(resolved.entries.map((entry) => entry.channel))
    return { entries: [...resolved.entries, ...listed.filter((entry) => !named.has(entry.channel))], rewind: asked.rewind }
  }
}
