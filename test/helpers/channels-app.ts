/**
 * A bare app with the plugin and a few declared channels, for channel tests. The visitor comes
 * from `x-visitor` / `x-name` headers on the upgrade request (no session needed).
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import realtime, { type ChannelDefinition, type RealtimePluginOptions } from '../../src/index.js'
import type { TestLike } from './app.js'
import { type Frame, type RecordingClient } from './ws-client.js'

/** The channels most tests use. */
export const TEST_CHANNELS: ChannelDefinition[] = [
  { name: 'feed', historySize: 1000, historyTtlMs: 60_000 },
  { name: 'small', historySize: 5 },
  { name: 'chat', clientPublish: true, historySize: 50, presence: true },
  { name: 'quiet', historySize: 10 },
  { name: 'room:*', clientPublish: true, presence: true },
  { name: 'admin', canSubscribe: ({ request }) => request?.headers['x-role'] === 'admin' },
  { name: 'slow-gate', canSubscribe: async () => { await new Promise((resolve) => setTimeout(resolve, 50)); return true } },
  { name: 'broken-gate', canSubscribe: () => { throw new Error('gate exploded') } },
  {
    name: 'signed',
    clientPublish: true,
    onClientPublish: ({ visitor }, data) => {
      const text = (data as { text?: unknown } | null)?.text
      if (typeof text !== 'string' || text.trim() === '') return undefined
      return { text, from: visitor?.name ?? 'anonymous' }
    }
  }
]

function headerVisitor (request: FastifyRequest): { id: string, name?: string } | null {
  const id = request.headers['x-visitor']
  if (typeof id !== 'string') return null
  const name = request.headers['x-name']
  return typeof name === 'string' ? { id, name } : { id }
}

/** Build, register, listen on a free loopback port; closed on teardown. */
export async function channelsApp (t: TestLike, options: RealtimePluginOptions = {}, port = 0): Promise<{ app: FastifyInstance, ws: string, port: number }> {
  const app = Fastify({ logger: false })
  await app.register(realtime, { tickIntervalMs: 0, channels: TEST_CHANNELS, identify: headerVisitor, ...options })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { app, ws: `ws://127.0.0.1:${address.port}/ws`, port: address.port }
}

/** Send a JSON frame. */
export function send (client: RecordingClient, message: Record<string, unknown>): void {
  client.socket.send(JSON.stringify(message))
}

/** Wait for the first frame (from index `from`) that matches. */
export async function frame (client: RecordingClient, match: (frame: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
  const started = Date.now()
  for (;;) {
    const found = client.frames.slice(from).find(match)
    if (found !== undefined) return found
    if (Date.now() - started > timeoutMs) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(client.frames.slice(-5))}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Wait for the answer (ack or error) to request `id`. */
export async function answer (client: RecordingClient, id: string | number): Promise<Frame> {
  return await frame(client, (f) => (f.type === 'ack' || f.type === 'error') && f.id === id)
}

/** Offsets of the `pub` frames of a channel received so far. */
export function offsets (client: RecordingClient, channel: string): number[] {
  return client.frames.filter((f) => f.type === 'pub' && f.channel === channel).map((f) => f.offset as number)
}
