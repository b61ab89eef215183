/**
 * Plugin options: their types (with defaults and units), and the one function that validates them.
 * Bad options fail registration with {@link InvalidOptionError}; nothing is silently coerced.
 */
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.js'
import type { Visitor } from './node/visitor.js'
import type { ConnectionInfo } from './node/connection.js'
import { noopMetrics, type RealtimeMetrics } from './metrics/metrics.js'
import type { RealtimeAdapter } from './adapters/adapter.js'
import { CHANNEL_DEFAULTS, resolveChannels, type ChannelDefinition, type ChannelRegistry } from './channels/policy.js'

/** What the `tick` option receives for each batch of ticks. */
export interface TickContext {
  /** Open connections on this node. */
  connections: number
  /** Server time of the batch, epoch milliseconds. */
  now: number
}

/** Options of the fastify-realtime plugin. */
export interface RealtimePluginOptions {
  /** Path of the WebSocket endpoint, relative to the registration prefix. @default '/ws' */
  path?: string
  /** Milliseconds between two ticks on one connection; `0` turns the ticker off. @default 3000 */
  tickIntervalMs?: number
  /**
   * Produces the `data` of a tick. Called once per batch of connections due at the same moment
   * (not once per socket), so the same frame is shared by the batch. @default () => null
   */
  tick?: (context: TickContext) => unknown
  /**
   * Identifies the visitor from the upgrade request. Hooks such as @fastify/session have run by
   * then, so `request.session` is available. @default () => null
   */
  identify?: (request: FastifyRequest) => Visitor | null
  /** Called once a connection is set up and welcomed. */
  onConnection?: (connection: ConnectionInfo) => void
  /** Called with every text message a client sends, after it is logged. */
  onMessage?: (connection: ConnectionInfo, text: string) => void
  /** Largest client message accepted, in bytes; a larger one closes the socket with 1009. @default 65536 */
  maxPayloadBytes?: number
  /** On shutdown, how long clients get to close cleanly after the 1001 before they are cut, in ms. @default 10000 */
  closeGraceMs?: number
  /** Where the core reports what it counts (connections, frames, rejections…). @default a no-op */
  metrics?: RealtimeMetrics
  /** Milliseconds between two heartbeat pings on one connection; `0` turns heartbeats off. @default 25000 */
  heartbeatIntervalMs?: number
  /** A connection whose pong has not arrived this many ms after its ping is terminated. @default 10000 */
  heartbeatTimeoutMs?: number
  /**
   * Send budget of one connection, in bytes not yet written to the network (`bufferedAmount`).
   * Past it, ticks are coalesced (only the latest is kept) and any other message closes the
   * socket with 4008 `slow consumer`. @default 1048576
   */
  maxBufferedBytes?: number
  /**
   * Origins (`scheme://host[:port]`) allowed to open a socket from a browser; `['*']` allows any.
   * Empty: only the same origin as the request's Host. @default []
   */
  allowedOrigins?: readonly string[]
  /** Refuse upgrades that carry no `Origin` header (non-browser clients) with 403. @default false */
  requireOrigin?: boolean
  /** Refuse upgrades whose `identify` returns null (no valid session) with 401. @default false */
  requireSession?: boolean
  /** Concurrent connections allowed from one client IP; more get 429. @default 64 */
  maxConnectionsPerIp?: number
  /** Concurrent connections allowed on this node; more get 503. @default 10000 */
  maxConnections?: number
  /** Upgrade handshakes per second allowed from one client IP (token bucket rate); more get 429. @default 20 */
  handshakeRatePerSec?: number
  /** Handshakes one client IP may make at once (token bucket capacity). @default 40 */
  handshakeBurst?: number
  /** Client messages per second allowed on one connection; more get a `rate_limited` error frame. @default 20 */
  messageRatePerSec?: number
  /** Client messages one connection may send at once (token bucket capacity). @default 40 */
  messageBurst?: number
  /** Route prefix, given by `register(plugin, { prefix })`. */
  prefix?: string
  /** Channels clients may use, by exact name or `*` pattern, with their policy. @default [] (none) */
  channels?: ChannelDefinition[]
  /** Most channels one connection may subscribe to at once. @default 128 */
  maxSubscriptionsPerConnection?: number
  /** A presence entry not refreshed for this long disappears (a node that died), in ms. @default 30000 */
  presenceTtlMs?: number
  /** Where publications, history and presence live. @default the in-process memory adapter */
  adapter?: RealtimeAdapter
}

/** Options after validation, with every default applied. Frozen. */
export interface ResolvedOptions {
  readonly path: string
  readonly prefix: string
  readonly tickIntervalMs: number
  readonly tick: (context: TickContext) => unknown
  readonly identify: (request: FastifyRequest) => Visitor | null
  readonly onConnection: ((connection: ConnectionInfo) => void) | undefined
  readonly onMessage: ((connection: ConnectionInfo, text: string) => void) | undefined
  readonly maxPayloadBytes: number
  readonly closeGraceMs: number
  readonly metrics: RealtimeMetrics
  readonly channels: ChannelRegistry
  readonly maxSubscriptionsPerConnection: number
  readonly presenceTtlMs: number
  /** Undefined: the plugin uses its default (memory) adapter. */
  readonly adapter: RealtimeAdapter | undefined
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly maxBufferedBytes: number
  /** Normalised origins (`new URL(o).origin`), or `['*']`. */
  readonly allowedOrigins: readonly string[]
  readonly requireOrigin: boolean
  readonly requireSession: boolean
  readonly maxConnectionsPerIp: number
  readonly maxConnections: number
  readonly handshakeRatePerSec: number
  readonly handshakeBurst: number
  readonly messageRatePerSec: number
  readonly messageBurst: number
}

/** Defaults of every optional setting, exported so docs and tests read the same numbers. */
export const DEFAULTS = Object.freeze({
  path: '/ws',
  tickIntervalMs: 3000,
  maxPayloadBytes: 64 * 1024,
  closeGraceMs: 10_000,
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 10_000,
  maxBufferedBytes: 1024 * 1024,
  maxConnectionsPerIp: 64,
  maxConnections: 10_000,
  handshakeRatePerSec: 20,
  handshakeBurst: 40,
  messageRatePerSec: 20,
  messageBurst: 40
})

const MIN_TICK_INTERVAL_MS = 10
const MAX_TICK_INTERVAL_MS = 24 * 60 * 60 * 1000
const MAX_PAYLOAD_LIMIT_BYTES = 64 * 1024 * 1024

/** Options Fastify itself passes to every plugin; accepted and ignored here. */
const FASTIFY_REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])
const OWN_KEYS = new Set([
  'path', 'tickIntervalMs', 'tick', 'identify', 'onConnection', 'onMessage', 'maxPayloadBytes', 'closeGraceMs', 'metrics',
  'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'maxBufferedBytes', 'allowedOrigins', 'requireOrigin', 'requireSession',
  'maxConnectionsPerIp', 'maxConnections', 'handshakeRatePerSec', 'handshakeBurst', 'messageRatePerSec', 'messageBurst',
  'channels', 'maxSubscriptionsPerConnection', 'presenceTtlMs', 'adapter'
])
const ADAPTER_METHODS = ['init', 'publish', 'subscribe', 'unsubscribe', 'since', 'recent', 'presenceAdd', 'presenceRemove', 'presence', 'close']
const HOUR_MS = 60 * 60 * 1000
const MAX_RATE = 1_000_000

function integerIn (name: string, value: unknown, fallback: number, min: number, max: number, allowZero = false): number {
  if (value === undefined) return fallback
  const ok = typeof value === 'number' && Number.isInteger(value) && ((allowZero && value === 0) || (value >= min && value <= max))
  if (!ok) {
    const range = `${allowZero ? '0 or ' : ''}an integer from ${min} to ${max}`
    throw new InvalidOptionError(name, `expected ${range}, got ${JSON.stringify(value)}`)
  }
  return value
}

function optionalFunction<F> (name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new InvalidOptionError(name, `expected a function, got ${typeof value}`)
  return value as F
}

function resolvePath (value: unknown): string {
  if (value === undefined) return DEFAULTS.path
  if (typeof value !== 'string' || !value.startsWith('/') || /[\s?#]/.test(value)) {
    throw new InvalidOptionError('path', `expected a route path starting with "/" (no spaces, query or hash), got ${JSON.stringify(value)}`)
  }
  return value
}

function optionalBoolean (name: string, value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `expected true or false, got ${JSON.stringify(value)}`)
  return value
}

/** Normalise an allow-list: each entry must be an http(s) origin without path, or the list is `['*']`. */
function resolveOrigins (value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([])
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new InvalidOptionError('allowedOrigins', 'expected an array of origins such as "https://app.example.com"')
  }
  const entries = value as string[]
  if (entries.includes('*')) {
    if (entries.length > 1) throw new InvalidOptionError('allowedOrigins', '"*" allows every origin and cannot be combined with others')
    return Object.freeze(['*'])
  }
  return Object.freeze(entries.map((entry) => {
    let url: URL | null = null
    try { url = new URL(entry) } catch { url = null }
    const bare = url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') &&
      url.search === '' && url.hash === '' && url.username === '' && !entry.endsWith('/')
    if (url === null || !bare) {
      throw new InvalidOptionError('allowedOrigins', `${JSON.stringify(entry)} is not an origin; write scheme://host[:port] with no path, e.g. "https://app.example.com"`)
    }
    return url.origin
  }))
}

function resolveMetrics (value: unknown): RealtimeMetrics {
  if (value === undefined) return noopMetrics
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('metrics', 'expected an object implementing RealtimeMetrics')
  const missing = Object.keys(noopMetrics).filter((key) => typeof (value as Record<string, unknown>)[key] !== 'function')
  if (missing.length > 0) throw new InvalidOptionError('metrics', `missing method(s) ${missing.join(', ')}`)
  return value as RealtimeMetrics
}

function resolveAdapter (value: unknown): RealtimeAdapter | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('adapter', 'expected an object implementing RealtimeAdapter')
  const missing = ADAPTER_METHODS.filter((key) => typeof (value as Record<string, unknown>)[key] !== 'function')
  if (missing.length > 0) throw new InvalidOptionError('adapter', `missing method(s) ${missing.join(', ')}`)
  return value as RealtimeAdapter
}

/**
 * Validate plugin options and apply defaults.
 * @param raw - what the application passed to `register`
 * @returns the frozen, complete options
 * @throws InvalidOptionError naming the option and what it expects
 */
export function resolveOptions (raw: RealtimePluginOptions | undefined): ResolvedOptions {
  const options: Record<string, unknown> = { ...(raw ?? {}) }
  for (const key of Object.keys(options)) {
    if (!OWN_KEYS.has(key) && !FASTIFY_REGISTER_KEYS.has(key)) {
      throw new InvalidOptionError(key, `unknown option; known options are ${[...OWN_KEYS].join(', ')}`)
    }
  }
  const prefix = options.prefix
  if (prefix !== undefined && typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'expected a string')
  return Object.freeze({
    path: resolvePath(options.path),
    prefix: prefix ?? '',
    tickIntervalMs: integerIn('tickIntervalMs', options.tickIntervalMs, DEFAULTS.tickIntervalMs, MIN_TICK_INTERVAL_MS, MAX_TICK_INTERVAL_MS, true),
    tick: optionalFunction<ResolvedOptions['tick']>('tick', options.tick) ?? (() => null),
    identify: optionalFunction<ResolvedOptions['identify']>('identify', options.identify) ?? (() => null),
    onConnection: optionalFunction<(connection: ConnectionInfo) => void>('onConnection', options.onConnection),
    onMessage: optionalFunction<(connection: ConnectionInfo, text: string) => void>('onMessage', options.onMessage),
    maxPayloadBytes: integerIn('maxPayloadBytes', options.maxPayloadBytes, DEFAULTS.maxPayloadBytes, 1, MAX_PAYLOAD_LIMIT_BYTES),
    closeGraceMs: integerIn('closeGraceMs', options.closeGraceMs, DEFAULTS.closeGraceMs, 0, 10 * 60 * 1000),
    metrics: resolveMetrics(options.metrics),
    channels: resolveChannels(options.channels),
    maxSubscriptionsPerConnection: integerIn('maxSubscriptionsPerConnection', options.maxSubscriptionsPerConnection, CHANNEL_DEFAULTS.maxSubscriptionsPerConnection, 1, 100_000),
    presenceTtlMs: integerIn('presenceTtlMs', options.presenceTtlMs, CHANNEL_DEFAULTS.presenceTtlMs, 1000, 24 * 60 * 60 * 1000),
    adapter: resolveAdapter(options.adapter),
    heartbeatIntervalMs: integerIn('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs, 10, HOUR_MS, true),
    heartbeatTimeoutMs: integerIn('heartbeatTimeoutMs', options.heartbeatTimeoutMs, DEFAULTS.heartbeatTimeoutMs, 10, HOUR_MS),
    maxBufferedBytes: integerIn('maxBufferedBytes', options.maxBufferedBytes, DEFAULTS.maxBufferedBytes, 1024, 1024 * 1024 * 1024),
    allowedOrigins: resolveOrigins(options.allowedOrigins),
    requireOrigin: optionalBoolean('requireOrigin', options.requireOrigin),
    requireSession: optionalBoolean('requireSession', options.requireSession),
    maxConnectionsPerIp: integerIn('maxConnectionsPerIp', options.maxConnectionsPerIp, DEFAULTS.maxConnectionsPerIp, 1, 10_000_000),
    maxConnections: integerIn('maxConnections', options.maxConnections, DEFAULTS.maxConnections, 1, 10_000_000),
    handshakeRatePerSec: integerIn('handshakeRatePerSec', options.handshakeRatePerSec, DEFAULTS.handshakeRatePerSec, 1, MAX_RATE),
    handshakeBurst: integerIn('handshakeBurst', options.handshakeBurst, DEFAULTS.handshakeBurst, 1, MAX_RATE),
    messageRatePerSec: integerIn('messageRatePerSec', options.messageRatePerSec, DEFAULTS.messageRatePerSec, 1, MAX_RATE),
    messageBurst: integerIn('messageBurst', options.messageBurst, DEFAULTS.messageBurst, 1, MAX_RATE)
  })
}
