/**
 * Test helpers for the hardening tests: a bare Fastify app with only the realtime plugin (logs
 * captured, metrics recorded), and a raw-TCP WebSocket handshake for clients that misbehave below
 * what the `ws` client allows (never answer pings, never read).
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import pino from 'pino'
import realtime, { noopMetrics, type RealtimeMetrics, type RealtimePluginOptions, type ResubscribeCause, type StreamGapOutcome, type UpgradeRejection } from '../../src/index.js'
import { LogCapture, listen, type TestLike } from './app.js'

/** A metrics sink that records what the plugin reports. */
export class RecordingMetrics implements RealtimeMetrics {
  readonly rejections: UpgradeRejection[] = []
  readonly closeCodes: number[] = []
  readonly rtts: number[] = []
  readonly gaps: StreamGapOutcome[] = []
  readonly positionChecks: Array<{ channels: number, behind: number }> = []
  readonly resubscribes: Array<{ cause: ResubscribeCause, channels: number }> = []
  coalesced = 0
  opened = 0
  connectionOpened = (): void => { this.opened++ }
  connectionClosed = (code: number): void => { this.closeCodes.push(code) }
  upgradeRejected = (reason: UpgradeRejection): void => { this.rejections.push(reason) }
  frameIn = noopMetrics.frameIn
  frameOut = noopMetrics.frameOut
  tickCoalesced = (): void => { this.coalesced++ }
  heartbeatRtt = (ms: number): void => { this.rtts.push(ms) }
  publishLatency = noopMetrics.publishLatency
  adapterError = noopMetrics.adapterError
  webhook = noopMetrics.webhook
  streamGap = (outcome: StreamGapOutcome): void => { this.gaps.push(outcome) }
  positionCheck = (channels: number, behind: number): void => { this.positionChecks.push({ channels, behind }) }
  resubscribe = (cause: ResubscribeCause, channels: number): void => { this.resubscribes.push({ cause, channels }) }
}

/** A listening bare app with the plugin. */
export interface BareApp {
  app: FastifyInstance
  logs: LogCapture
  metrics: RecordingMetrics
  ws: string
  http: string
  port: number
}

/**
 * Build and listen: Fastify + the realtime plugin with `options` (ticker off unless given), and
 * the app's own `routes` (added after the plugin) and `before` (what the app does before
 * registering it). Closed on teardown.
 */
export async function bareApp (t: TestLike, options: RealtimePluginOptions = {}, fastifyOptions: { trustProxy?: string[], routerOptions?: { maxParamLength?: number }, bodyLimit?: number } = {}, routes: (app: FastifyInstance) => void = () => {}, before: (app: FastifyInstance) => void = () => {}): Promise<BareApp> {
  const logs = new LogCapture()
  const metrics = new RecordingMetrics()
  const loggerInstance: FastifyBaseLogger = pino({ level: 'info' }, logs)
  const app: FastifyInstance = Fastify({ loggerInstance, ...fastifyOptions })
  before(app)
  await app.register(realtime, { tickIntervalMs: 0, metrics, ...options })
  routes(app)
  t.teardown(() => app.close())
  const { ws, http, port } = await listen(app)
  return { app, logs, metrics, ws, http, port }
}

/** The result of a raw handshake. */
export interface RawUpgrade {
  socket: Socket
  /** HTTP status of the response (101 when upgraded). */
  status: number
  /** The response head: status line and headers, without the blank line. */
  head: string
  /** Bytes that arrived after the response head (the first frames). */
  rest: Buffer
}

/**
 * Open a TCP connection and perform a WebSocket handshake by hand. The returned socket is then
 * left alone: it never answers pings, and (once `pause()`d) never reads.
 */
export async function rawUpgrade (port: number, path = '/ws', headers: Record<string, string> = {}): Promise<RawUpgrade> {
  const socket = tcpConnect({ port, host: '127.0.0.1' })
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`
  )
  return await new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    // A server that closes the connection without answering fails the handshake (never hangs it).
    const onClose = (): void => { reject(new Error(`the connection closed before a response head (${buffered.length} bytes received)`)) }
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      socket.off('error', reject)
      socket.off('close', onClose)
      const head = buffered.subarray(0, end).toString()
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
      resolve({ socket, status, head, rest: buffered.subarray(end + 4) })
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('close', onClose)
  })
}

/**
 * The whole HTTP response to a refused upgrade: its status, head, and body read until the server
 * closes the connection or `Content-Length` bytes have arrived (then the socket is destroyed).
 */
export async function refusedUpgrade (port: number, path = '/ws', headers: Record<string, string> = {}): Promise<{ status: number, head: string, body: string }> {
  const { socket, status, head, rest } = await rawUpgrade(port, path, headers)
  if (status === 101) {
    socket.destroy()
    return { status, head, body: '' }
  }
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN)
  let body = rest
  await new Promise<void>((resolve) => {
    const done = (): void => { socket.off('data', onData); resolve() }
    const onData = (chunk: Buffer): void => {
      body = Buffer.concat([body, chunk])
      if (body.length >= length) done()
    }
    if (body.length >= length) { done(); return }
    socket.on('data', onData)
    socket.once('close', done)
    socket.once('error', done)
  })
  socket.destroy()
  return { status, head, body: body.toString() }
}
