/**
 * The metrics seam. The core reports what happens through this small interface; the default is
 * a no-op, so embedding the plugin never requires prom-client. A Prometheus implementation
 * plugs in through the `metrics` option.
 */

import type { ResubscribeCause } from '../adapters/broker.js'
import type { UpgradeRejection } from '../errors.js'

export type { ResubscribeCause, UpgradeRejection }

/** Receives the events worth counting. Every method must be cheap and must not throw. */
export interface RealtimeMetrics {
  /** A socket was accepted. */
  connectionOpened: () => void
  /** A socket closed with `code`. */
  connectionClosed: (code: number) => void
  /** An upgrade was refused. */
  upgradeRejected: (reason: UpgradeRejection) => void
  /** A client frame arrived (`type`: a protocol type, `text`, `binary` or `invalid`). */
  frameIn: (type: string, bytes: number) => void
  /** Frames left for `count` sockets (`type`: the server message type). */
  frameOut: (type: string, bytes: number, count: number) => void
  /** A tick was replaced by a newer one for a slow client instead of being queued. */
  tickCoalesced: () => void
  /** A heartbeat round trip completed. */
  heartbeatRtt: (ms: number) => void
  /** Time from a publication to its delivery on this node. */
  publishLatency: (ms: number) => void
  /** The adapter (e.g. Redis) failed an operation. */
  adapterError: (operation: string) => void
  /**
   * A webhook: `sent` (delivered), `failed` (an attempt failed), `retried` (a retry was
   * scheduled) or `dropped` (given up: attempts exhausted, refused, or the queue was full).
   */
  webhook: (outcome: WebhookOutcome, event: string) => void
  /**
   * A gap in a channel's stream on this node (publications its broker did not deliver live) was
   * `recovered` from the history, or could not be (`trimmed`, `epoch`, `fork`: the causes of
   * `GapCause` in adapters/broker.ts), and its subscribers were told `recovered: false`.
   */
  streamGap: (outcome: StreamGapOutcome) => void
  /** The broker's periodic position check read `channels` followed channels and found `behind` of them behind. */
  positionCheck: (channels: number, behind: number) => void
  /**
   * The broker subscribed again to `channels` channels after their subscription was cut
   * (`reconnect`: its subscriber connection came back; `shard`: a Redis Cluster shard's was re-made).
   */
  resubscribe: (cause: ResubscribeCause, channels: number) => void
}

/** What became of a gap; see {@link RealtimeMetrics.streamGap}. */
export type StreamGapOutcome = 'recovered' | 'trimmed' | 'epoch' | 'fork'

/** What happened to a webhook; see {@link RealtimeMetrics.webhook}. */
export type WebhookOutcome = 'sent' | 'failed' | 'retried' | 'dropped'

const noop = (): void => {}

/** The default: counts nothing. */
export const noopMetrics: RealtimeMetrics = Object.freeze({
  connectionOpened: noop,
  connectionClosed: noop,
  upgradeRejected: noop,
  frameIn: noop,
  frameOut: noop,
  tickCoalesced: noop,
  heartbeatRtt: noop,
  publishLatency: noop,
  adapterError: noop,
  webhook: noop,
  streamGap: noop,
  positionCheck: noop,
  resubscribe: noop
})
