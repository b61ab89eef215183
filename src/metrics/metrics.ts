/**
 * The metrics seam. The core reports what happens through this small interface; the default is
 * a no-op, so embedding the plugin never requires prom-client. A Prometheus implementation
 * plugs in through the `metrics` option.
 */

import type { UpgradeRejection } from '../errors.js'

export type { UpgradeRejection }

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
}

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
  webhook: noop
})
