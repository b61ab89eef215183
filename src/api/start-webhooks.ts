/**
 * Webhooks, assembled from the `webhooks` option: the sender (signed POSTs, retries, a bounded
 * queue) and the debounce in front of it.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { LifecycleEvent, SharedState } from '../adapters/state.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { ResolvedWebhookOptions } from './options.js'
import { WebhookSender } from './webhook-sender.js'
import { Webhooks } from './webhooks.js'

/** Running webhooks: what the node hands its lifecycle events to, and how to stop them. */
export interface RunningWebhooks {
  notify: (event: LifecycleEvent) => void
  close: () => void
}

/** Start the webhooks of a node. */
export function startWebhooks (options: ResolvedWebhookOptions, adapter: SharedState, metrics: RealtimeMetrics, log: FastifyBaseLogger): RunningWebhooks {
  const sender = new WebhookSender({ ...options, metrics, log })
  const webhooks = new Webhooks({ adapter, sender, events: options.events, debounceMs: options.debounceMs, log })
  return {
    notify: (event) => { webhooks.notify(event) },
    close: () => {
      webhooks.close()
      sender.close()
    }
  }
}
