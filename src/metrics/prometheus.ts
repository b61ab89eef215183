/**
 * A prom-client implementation of the {@link RealtimeMetrics} seam. Opt in with
 * `import { PrometheusMetrics } from 'fastify-realtime/prometheus'`; the main entry never imports
 * this file, so an app that does not use it never loads prom-client.
 *
 * Metric names follow Centrifugo's (a transport-level view of a realtime server) under a
 * `realtime_` namespace, in Prometheus base units (seconds, bytes). Each instance owns its own
 * {@link Registry} (never prom-client's global one), so several apps in one process, as in tests,
 * do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { InvalidOptionError, UpgradeRefusal } from '../errors.js'
import type { RealtimeMetrics, ResubscribeCause, StreamGapOutcome, UpgradeRejection, WebhookOutcome } from './metrics.js'

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Registry to register into. @default a new Registry of its own */
  registry?: Registry
  /** Prefix of every realtime metric name. @default 'realtime_' */
  prefix?: string
  /**
   * Also collect prom-client's default process metrics (CPU, heap, GC, event loop lag, handles)
   * into the registry, under their standard names so stock Node.js dashboards work.
   * Turn off when the app already collects them into the same registry. @default true
   */
  collectDefaultMetrics?: boolean
  /** Buckets of the heartbeat round-trip histogram, in seconds. @default HEARTBEAT_RTT_BUCKETS_SECONDS */
  heartbeatRttBucketsSeconds?: number[]
  /** Buckets of the publish-to-deliver latency histogram, in seconds. @default PUBLISH_LATENCY_BUCKETS_SECONDS */
  publishLatencyBucketsSeconds?: number[]
}

/** Default heartbeat round-trip buckets: 1 ms (same host) to 10 s (a phone on a bad network). */
export const HEARTBEAT_RTT_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

/** Default publish-to-deliver buckets: sub-millisecond in memory, tens of ms through Redis. */
export const PUBLISH_LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])

/** Every upgrade rejection reason, so each series exists (at 0) from the first scrape and `rate()` works before the first rejection. */
const REJECTION_REASONS: readonly string[] = Object.values(UpgradeRefusal)

/** Message types the core sends or receives from the start: their series are pre-created too. */
const SENT_TYPES = ['welcome', 'tick', 'broadcast', 'error']
const RECEIVED_TYPES = ['text', 'binary', 'invalid']

/** Every outcome of a stream gap, pre-created: an unrecoverable one is rare, and an alert on it must see 0 first. */
const GAP_OUTCOMES: readonly StreamGapOutcome[] = ['recovered', 'trimmed', 'epoch', 'fork']
/** Every cause of a resubscribe, each a series from the first scrape. */
const RESUBSCRIBE_CAUSES: readonly ResubscribeCause[] = ['reconnect', 'shard']

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

function validBuckets (name: string, value: unknown, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback]
  const ok = Array.isArray(value) && value.length > 0 &&
    value.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && bound > 0 && (i === 0 || bound > (value[i - 1] as number)))
  if (!ok) throw new InvalidOptionError(name, `expected a non-empty, strictly increasing array of positive seconds, got ${JSON.stringify(value)}`)
  return [...(value as number[])]
}

/** A count argument worth adding to a counter (prom-client throws on NaN or negative values). */
const countable = (n: number): boolean => Number.isFinite(n) && n > 0

/** Counts what the realtime core reports, in a prom-client registry. */
export class PrometheusMetrics implements RealtimeMetrics {
  /** The registry holding every metric of this instance (and the default ones unless turned off). */
  readonly registry: Registry
  readonly #connections: Gauge
  readonly #upgrades: Counter<'outcome' | 'reason'>
  readonly #disconnections: Counter<'code'>
  readonly #received: Counter<'type'>
  readonly #receivedBytes: Counter<'type'>
  readonly #sent: Counter<'type'>
  readonly #sentBytes: Counter<'type'>
  readonly #ticksSent: Counter
  readonly #ticksCoalesced: Counter
  readonly #heartbeatRtt: Histogram
  readonly #publishLatency: Histogram
  readonly #adapterErrors: Counter<'operation'>
  readonly #webhooks: Counter<'event' | 'outcome'>
  readonly #streamGaps: Counter<'outcome'>
  readonly #positionChecks: Counter
  readonly #resubscribes: Counter<'cause'>
  readonly #channelsBehind: Counter

  /** @throws InvalidOptionError on a bad prefix or bucket list */
  constructor (options: PrometheusMetricsOptions = {}) {
    const prefix = options.prefix ?? 'realtime_'
    if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
      throw new InvalidOptionError('prefix', `expected a Prometheus metric name prefix such as "realtime_", got ${JSON.stringify(prefix)}`)
    }
    if (options.registry !== undefined && !(options.registry instanceof Registry)) {
      throw new InvalidOptionError('registry', 'expected a prom-client Registry')
    }
    const registry = options.registry ?? new Registry()
    this.registry = registry
    const registers = [registry]
    const name = (suffix: string): string => `${prefix}${suffix}`

    this.#connections = new Gauge({ name: name('connections'), help: 'WebSocket connections open on this node.', registers })
    this.#upgrades = new Counter({
      name: name('upgrades_total'),
      help: 'WebSocket upgrade requests by outcome (accepted, rejected) and rejection reason.',
      labelNames: ['outcome', 'reason'] as const,
      registers
    })
    this.#disconnections = new Counter({ name: name('disconnections_total'), help: 'Closed connections by WebSocket close code.', labelNames: ['code'] as const, registers })
    this.#received = new Counter({ name: name('messages_received_total'), help: 'Client frames received, by message type.', labelNames: ['type'] as const, registers })
    this.#receivedBytes = new Counter({ name: name('messages_received_bytes_total'), help: 'Payload bytes of client frames received, by message type.', labelNames: ['type'] as const, registers })
    this.#sent = new Counter({ name: name('messages_sent_total'), help: 'Frames sent to clients, by message type (one per receiving socket).', labelNames: ['type'] as const, registers })
    this.#sentBytes = new Counter({ name: name('messages_sent_bytes_total'), help: 'Payload bytes sent to clients, by message type.', labelNames: ['type'] as const, registers })
    this.#ticksSent = new Counter({ name: name('ticks_sent_total'), help: 'Tick frames sent (one per receiving socket).', registers })
    this.#ticksCoalesced = new Counter({ name: name('ticks_coalesced_total'), help: 'Ticks replaced by a newer one for a slow client instead of being queued.', registers })
    this.#heartbeatRtt = new Histogram({
      name: name('heartbeat_rtt_seconds'),
      help: 'Round-trip time from a heartbeat ping to its pong.',
      buckets: validBuckets('heartbeatRttBucketsSeconds', options.heartbeatRttBucketsSeconds, HEARTBEAT_RTT_BUCKETS_SECONDS),
      registers
    })
    this.#publishLatency = new Histogram({
      name: name('publish_latency_seconds'),
      help: 'Time from a publication to its delivery to local subscribers on this node.',
      buckets: validBuckets('publishLatencyBucketsSeconds', options.publishLatencyBucketsSeconds, PUBLISH_LATENCY_BUCKETS_SECONDS),
      registers
    })
    this.#adapterErrors = new Counter({ name: name('adapter_errors_total'), help: 'Failed adapter operations (e.g. Redis publish), by operation.', labelNames: ['operation'] as const, registers })
    this.#webhooks = new Counter({ name: name('webhooks_total'), help: 'Webhooks by event and outcome: sent, failed (an attempt), retried, dropped (given up).', labelNames: ['event', 'outcome'] as const, registers })
    this.#streamGaps = new Counter({
      name: name('stream_gaps_total'),
      help: 'Gaps in a channel\'s stream on this node (publications not delivered live), by outcome: recovered from history, or not (trimmed, epoch, fork: subscribers told recovered: false).',
      labelNames: ['outcome'] as const,
      registers
    })
    this.#positionChecks = new Counter({ name: name('position_checks_total'), help: 'Periodic position checks of the channels this node follows.', registers })
    this.#channelsBehind = new Counter({ name: name('position_check_channels_behind_total'), help: 'Channels a position check found behind what this node delivered (each then recovered).', registers })

    this.#resubscribes = new Counter({
      name: name('resubscribed_channels_total'),
      help: 'Channels this node subscribed to again after their subscription was cut, by cause: reconnect (its subscriber connection came back), shard (a Redis Cluster shard\'s subscription was re-made).',
      labelNames: ['cause'] as const,
      registers
    })

    // Create the known series at 0, so dashboards and rate() see them before the first event.
    this.#upgrades.inc({ outcome: 'accepted' }, 0)
    for (const reason of REJECTION_REASONS) this.#upgrades.inc({ outcome: 'rejected', reason }, 0)
    for (const type of SENT_TYPES) {
      this.#sent.inc({ type }, 0)
      this.#sentBytes.inc({ type }, 0)
    }
    for (const type of RECEIVED_TYPES) {
      this.#received.inc({ type }, 0)
      this.#receivedBytes.inc({ type }, 0)
    }
    for (const outcome of GAP_OUTCOMES) this.#streamGaps.inc({ outcome }, 0)
    for (const cause of RESUBSCRIBE_CAUSES) this.#resubscribes.inc({ cause }, 0)

    if (options.collectDefaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  }

  /** The Content-Type of {@link scrape}'s text (Prometheus text exposition format 0.0.4). */
  get contentType (): string {
    return this.registry.contentType
  }

  /** Render every metric of the registry in the Prometheus text format. */
  async scrape (): Promise<string> {
    return await this.registry.metrics()
  }

  /** A socket was accepted: the gauge goes up, `upgrades_total{outcome="accepted"}` too. */
  connectionOpened (): void {
    this.#connections.inc()
    this.#upgrades.inc({ outcome: 'accepted' })
  }

  /** A socket closed: the gauge goes down, `disconnections_total{code}` up. */
  connectionClosed (code: number): void {
    this.#connections.dec()
    this.#disconnections.inc({ code: String(code) })
  }

  /** An upgrade was refused before the 101: `upgrades_total{outcome="rejected",reason}`. */
  upgradeRejected (reason: UpgradeRejection): void {
    this.#upgrades.inc({ outcome: 'rejected', reason })
  }

  /** A client frame arrived: `messages_received_total{type}` and its bytes. */
  frameIn (type: string, bytes: number): void {
    this.#received.inc({ type })
    if (countable(bytes)) this.#receivedBytes.inc({ type }, bytes)
  }

  /** One frame went to `count` sockets: `messages_sent_total{type}` += count, bytes += bytes × count; ticks also count in `ticks_sent_total`. */
  frameOut (type: string, bytes: number, count: number): void {
    if (!countable(count)) return
    this.#sent.inc({ type }, count)
    if (countable(bytes)) this.#sentBytes.inc({ type }, bytes * count)
    if (type === 'tick') this.#ticksSent.inc(count)
  }

  /** A slow client's pending tick was replaced by a newer one. */
  tickCoalesced (): void {
    this.#ticksCoalesced.inc()
  }

  /** A heartbeat round trip of `ms` milliseconds (observed in seconds). */
  heartbeatRtt (ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.#heartbeatRtt.observe(ms / 1000)
  }

  /** A publication reached local subscribers `ms` milliseconds after it was made (observed in seconds). */
  publishLatency (ms: number): void {
    // Clocks of two machines may disagree by a little: a negative latency counts as zero.
    if (Number.isFinite(ms)) this.#publishLatency.observe(Math.max(0, ms) / 1000)
  }

  /** A webhook's `outcome`: `webhooks_total{event,outcome}`. */
  webhook (outcome: WebhookOutcome, event: string): void {
    this.#webhooks.inc({ event, outcome })
  }

  /** The adapter failed `operation` (e.g. `publish`). */
  adapterError (operation: string): void {
    this.#adapterErrors.inc({ operation })
  }

  /** A gap in a channel's stream on this node: `stream_gaps_total{outcome}`. */
  streamGap (outcome: StreamGapOutcome): void {
    this.#streamGaps.inc({ outcome })
  }

  /** One position check: `position_checks_total`, and the channels it found behind. */
  positionCheck (_channels: number, behind: number): void {
    this.#positionChecks.inc()
    if (countable(behind)) this.#channelsBehind.inc(behind)
  }

  /** The broker subscribed again to `channels` channels: `resubscribed_channels_total{cause}`. */
  resubscribe (cause: ResubscribeCause, channels: number): void {
    if (countable(channels)) this.#resubscribes.inc({ cause }, channels)
  }
}

/**
 * Make a {@link PrometheusMetrics} to pass as the plugin's `metrics` option.
 * @example
 * const metrics = createPrometheusMetrics()
 * await app.register(realtime, { metrics })
 * app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.scrape()))
 */
export function createPrometheusMetrics (options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  return new PrometheusMetrics(options)
}

export { Registry } from 'prom-client'
