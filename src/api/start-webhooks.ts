/**
 * Webhooks, assembled from the `webhooks` option: the sender (signed POSTs, retries, a bounded
 * queue) and the debounce in front of it.
 */
import { randomUUID } from 'node:crypto'
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
  const wanted = new Set<string>(options.events)
  const deliver = (event: LifecycleEvent, at: number): void => {
    if (!wanted.has(event.type)) return
    const data: Record<string, unknown> = { channel: event.channel }
    if ('member' in event) data.member = event.member
    sender.send({ id: randomUUID(), type: event.type, created: at, data })
  }
  const webhooks = new Webhooks({ adapter, deliver, debounceMs: options.debounceMs, log })
  return {
    notify: (event) => { webhooks.notify(event) },
    close: () => {
      webhooks.close()
      sender.close()
    }
  }
}
