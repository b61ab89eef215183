/**
 * Test helpers for Pusher's HTTP API: a listening node with Pusher apps, the real `pusher` server
 * SDK pointed at it (it signs every request itself), requests the SDK signs but the test sends
 * (to another path, with another body, at another time), and our own protocol's sockets as the
 * subscribers that see what the API publishes.
 */
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Pusher from 'pusher'
import type { RealtimePluginOptions } from '../../src/index.js'
import type { TestLike } from './app.js'
import { bareApp, type BareApp } from './realtime-app.js'
import { connect, type RecordingClient } from './ws-client.js'

/** The first app: it shares its channels with our own protocol. */
export const APP = { id: '1001', key: 'first-app-key', secret: 'first-app-secret-0123456789' }
/** A second app: its own channel namespace. */
export const OTHER_APP = { id: '1002', key: 'second-app-key', secret: 'second-app-secret-0123456789' }

/** The visitor of a socket: its `x-visitor` header. */
const byHeader = (request: FastifyRequest): { id: string } | null => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null

/** Every channel usable, presence ones with presence, each keeping a short history. */
export const CHANNELS = [{ name: 'presence-*', presence: true, historySize: 20 }, { name: '*', historySize: 20 }]

/** A node with both apps (and `pusher` fields of the test's own), listening. */
export async function pusherNode (t: TestLike, pusher: Partial<NonNullable<RealtimePluginOptions['pusher']>> = {}, options: RealtimePluginOptions = {}, before: (app: FastifyInstance) => void = () => {}): Promise<BareApp> {
  return await bareApp(t, { identify: byHeader, channels: CHANNELS, pusher: { apps: [APP, OTHER_APP], ...pusher }, ...options }, {}, () => {}, before)
}

/** The real SDK, for an app (or credentials of the test's own), pointed at the node. */
export function sdk (port: number, app: { id: string, key: string, secret: string } = APP): Pusher {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: false })
}

/**
 * The query string the SDK signs for a request (its own createSignedQueryString), made as if
 * the clock read `atMs`: the SDK takes the time from Date.now() synchronously, so the clock is
 * moved for that one call only.
 */
export function signedQuery (pusher: Pusher, request: { method: string, path: string, body?: string, params?: Record<string, string> }, atMs?: number): string {
  const realNow = Date.now
  if (atMs !== undefined) Date.now = () => atMs
  try {
    return pusher.createSignedQueryString(request)
  } finally {
    Date.now = realNow
  }
}

/** Send a request as the SDK would (JSON body, its headers), to any URL. */
export async function send (url: string, method: string, body?: string): Promise<{ status: number, text: string }> {
  const response = await fetch(url, { method, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } })
  return { status: response.status, text: await response.text() }
}

/** One of our own protocol's sockets, subscribed to `channels`, with its connection id. */
export async function subscriber (ws: string, channels: string[], visitor?: string): Promise<{ client: RecordingClient, connId: string }> {
  const client = await connect(`${ws}/ws`, visitor === undefined ? {} : { headers: { 'x-visitor': visitor } })
  const [welcome] = await client.waitFor('welcome')
  for (const [index, channel] of channels.entries()) client.socket.send(JSON.stringify({ type: 'sub', channel, id: `sub-${index}` }))
  const started = Date.now()
  while (channels.some((_, index) => !client.frames.some((frame) => frame.id === `sub-${index}`))) {
    if (Date.now() - started > 5000) throw new Error('subscriptions not answered')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const refused = client.frames.filter((frame) => frame.type === 'error')
  if (refused.length > 0) throw new Error(`subscriptions refused: ${JSON.stringify(refused)}`)
  return { client, connId: String(welcome?.connId) }
}

/**
 * POST a body through the SDK's own signed `post` (for what its `trigger` refuses to send, such as
 * our own protocol's connection ids as socket_id). Its typings say the body is a string, but the
 * SDK serialises it itself (lib/requests.js: JSON.stringify(options.body)).
 */
export async function postJson (pusher: Pusher, path: string, body: Record<string, unknown>): Promise<{ status: number }> {
  return await pusher.post({ path, body: body as unknown as string })
}

/** The HTTP status the SDK's request was refused with (its RequestError carries it), or the answer's when accepted. */
export async function statusOf (request: Promise<{ status: number }>): Promise<number> {
  try {
    return (await request).status
  } catch (err) {
    const status = (err as { status?: unknown }).status
    if (typeof status !== 'number') throw err
    return status
  }
}

/** A webhook POST a {@link webhookReceiver} got: its path, headers and raw body (what the SDK's `webhook()` verifies). */
export interface ReceivedWebhook { path: string, headers: IncomingHttpHeaders, rawBody: string }

/** A real HTTP receiver of webhooks: every POST it got, and a way to wait for more. */
export interface WebhookReceiver {
  url: string
  got: ReceivedWebhook[]
  /** Resolves with the first `count` once that many came; rejects after the receiver's timeout. */
  waitFor: (count: number) => Promise<ReceivedWebhook[]>
}

/** Start a {@link WebhookReceiver} on a free loopback port, closed on teardown. */
export async function webhookReceiver (t: TestLike, timeoutMs = 5000): Promise<WebhookReceiver> {
  const got: ReceivedWebhook[] = []
  const server = createServer((request, response) => {
    let rawBody = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { rawBody += chunk })
    request.on('end', () => {
      got.push({ path: request.url ?? '', headers: request.headers, rawBody })
      response.writeHead(200).end()
      server.emit('received')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const waitFor = async (count: number): Promise<ReceivedWebhook[]> => {
    const timeout = setTimeout(() => server.emit('timeout-waiting'), timeoutMs)
    try {
      while (got.length < count) {
        const [what] = await Promise.race([once(server, 'received').then(() => ['received']), once(server, 'timeout-waiting').then(() => ['timeout'])])
        if (what === 'timeout') throw new Error(`expected ${count} webhook(s), got ${got.length}: ${JSON.stringify(got.map((r) => r.rawBody))}`)
      }
      return got.slice(0, count)
    } finally {
      clearTimeout(timeout)
    }
  }
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, waitFor }
}

/** The events of `received` webhooks, each verified by `verifier` (the SDK), as sorted `name channel [user]` lines; `invalid signature` for one it refuses. */
export function verifiedWebhookEvents (verifier: Pusher, received: readonly ReceivedWebhook[]): string[] {
  return received.flatMap((hook) => {
    const webhook = verifier.webhook({ headers: hook.headers as Record<string, string>, rawBody: hook.rawBody })
    return webhook.isValid() ? (webhook.getEvents() as Array<{ name: string, channel: string, user_id?: string }>).map((event) => [event.name, event.channel, event.user_id].filter((part) => part !== undefined).join(' ')) : ['invalid signature']
  }).sort()
}
