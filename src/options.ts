/**
 * Plugin options: their types (with defaults and units), and the one function that validates them.
 * Bad options fail registration with {@link InvalidOptionError}; nothing is silently coerced.
 */
import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from './errors.js'
import type { Visitor } from './visitor.js'
import type { ConnectionInfo } from './connection.js'
import { noopMetrics, type RealtimeMetrics } from './metrics.js'
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
}

/** Defaults of every optional setting, exported so docs and tests read the same numbers. */
export const DEFAULTS = Object.freeze({
  path: '/ws',
  tickIntervalMs: 3000,
  maxPayloadBytes: 64 * 1024,
  closeGraceMs: 10_000
})

const MIN_TICK_INTERVAL_MS = 10
const MAX_TICK_INTERVAL_MS = 24 * 60 * 60 * 1000
const MAX_PAYLOAD_LIMIT_BYTES = 64 * 1024 * 1024

/** Options Fastify itself passes to every plugin; accepted and ignored here. */
const FASTIFY_REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])
const OWN_KEYS = new Set(['path', 'tickIntervalMs', 'tick', 'identify', 'onConnection', 'onMessage', 'maxPayloadBytes', 'closeGraceMs', 'metrics',
  'channels', 'maxSubscriptionsPerConnection', 'presenceTtlMs', 'adapter'])
const ADAPTER_METHODS = ['init', 'publish', 'subscribe', 'unsubscribe', 'since', 'recent', 'presenceAdd', 'presenceRemove', 'presence', 'close']

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
    adapter: resolveAdapter(options.adapter)
  })
}
