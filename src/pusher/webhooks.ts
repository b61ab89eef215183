/**
 * Webhooks in Pusher's format, for each app's `webhooks`: a POST of `{ time_ms, events: [event] }`
 * with `X-Pusher-Key` (the app's key) and `X-Pusher-Signature` (the HMAC-SHA256 hex of the body
 * with the app's secret), as Pusher's SDKs verify them (`pusher.webhook(request).isValid()`).
 *
 * The channel events come from the same machinery as our own webhooks: the adapter's lifecycle
 * events, told to exactly one node across all of them, debounced (api/webhooks.ts: a vacate or a
 * leave is sent only if nobody came back in time) under keys of their own, and delivered with
 * retries from a bounded queue (api/webhook-sender.ts). `channel_occupied`, `channel_vacated`,
 * `member_added` and `member_removed` are our `channel.occupied`, `channel.vacated`,
 * `presence.join` and `presence.leave`; `client_event` and `cache_miss` are reported by the
 * Pusher WebSocket side through {@link PusherWebhookEvents} and sent at once.
 */
import { createHmac, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { LifecycleEvent, SharedState } from '../adapters/state.js'
import { WEBHOOK_DEFAULTS } from '../api/options.js'
import { WebhookSender, type WrittenWebhook } from '../api/webhook-sender.js'
import { Webhooks } from '../api/webhooks.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import { fromInternalChannel } from '../protocols/pusher/channel-names.js'
import type { ResolvedPusherApp, ResolvedPusherOptions } from '../protocols/pusher/options.js'
import type { PusherClientEvent, PusherWebhookEvent, PusherWebhookEvents } from '../protocols/pusher/webhook-events.js'

/** One event of a Pusher webhook body. */
export interface PusherWebhookEntry {
  name: PusherWebhookEvent
  channel: string
  [field: string]: unknown
}

/** The `X-Pusher-Signature` of a body: HMAC-SHA256 hex with the app's secret. */
export function pusherWebhookSignature (secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex')
}

/** The Pusher event of a lifecycle event, under the app's name of its channel. */
function entryOf (event: LifecycleEvent, channel: string): PusherWebhookEntry {
  switch (event.type) {
    case 'channel.occupied': return { name: 'channel_occupied', channel }
    case 'channel.vacated': return { name: 'channel_vacated', channel }
    case 'presence.join': return { name: 'member_added', channel, user_id: event.member.id }
    case 'presence.leave': return { name: 'member_removed', channel, user_id: event.member.id }
  }
}

/** One webhook of one app: the events it wants and the sender of its POSTs. */
interface AppHook {
  readonly events: ReadonlySet<string>
  readonly sender: WebhookSender
}

/** Running Pusher webhooks: where lifecycle events and the WebSocket side's events go, and how to stop them. */
export interface RunningPusherWebhooks {
  /** A lifecycle event this node was told of (the adapter's `onLifecycle`): debounced, then sent. */
  notify: (event: LifecycleEvent) => void
  /** What the Pusher WebSocket side reports (client events, cache misses): sent at once. */
  events: PusherWebhookEvents
  close: () => void
}

/**
 * Start the Pusher webhooks of a node.
 * @returns null when no app has a webhook (nothing to debounce or send)
 */
export function startPusherWebhooks (pusher: ResolvedPusherOptions, adapter: SharedState, metrics: RealtimeMetrics, log: FastifyBaseLogger): RunningPusherWebhooks | null {
  const hooks = new Map<ResolvedPusherApp, AppHook[]>()
  for (const app of pusher.apps) {
    if (app.webhooks.length === 0) continue
    hooks.set(app, app.webhooks.map((hook) => ({
      events: new Set(hook.events),
      sender: new WebhookSender({
        ...WEBHOOK_DEFAULTS,
        url: hook.url,
        secret: app.secret,
        sign: (body: WrittenWebhook) => ({ 'x-pusher-key': app.key, 'x-pusher-signature': pusherWebhookSignature(app.secret, body.json) }),
        metrics,
        log
      })
    })))
  }
  if (hooks.size === 0) return null

  const send = (app: ResolvedPusherApp, entry: PusherWebhookEntry, at: number): void => {
    const json = JSON.stringify({ time_ms: at, events: [entry] })
    for (const hook of hooks.get(app) ?? []) {
      if (hook.events.has(entry.name)) hook.sender.sendWritten({ type: entry.name, id: randomUUID(), json })
    }
  }
  const deliver = (event: LifecycleEvent, at: number): void => {
    for (const app of hooks.keys()) {
      const channel = fromInternalChannel(app, event.channel)
      if (channel !== null) send(app, entryOf(event, channel), at)
    }
  }
  const appById = (appId: string): ResolvedPusherApp | undefined => {
    const app = pusher.byId.get(appId)
    return app !== undefined && hooks.has(app) ? app : undefined
  }
  // Our own webhooks debounce the same events under `webhook:…`: these keep their own keys.
  const webhooks = new Webhooks({ adapter, deliver, debounceMs: pusher.webhookDebounceMs, log, keyPrefix: 'pusher-webhook' })
  return {
    notify: (event) => { webhooks.notify(event) },
    events: {
      clientEvent: (appId: string, event: PusherClientEvent) => {
        const app = appById(appId)
        if (app === undefined) return
        const entry: PusherWebhookEntry = { name: 'client_event', channel: event.channel, event: event.event, data: event.data, socket_id: event.socketId }
        if (event.userId !== undefined) entry.user_id = event.userId
        send(app, entry, Date.now())
      },
      cacheMiss: (appId: string, channel: string) => {
        const app = appById(appId)
        if (app !== undefined) send(app, { name: 'cache_miss', channel }, Date.now())
      }
    },
    close: () => {
      webhooks.close()
      for (const appHooks of hooks.values()) for (const hook of appHooks) hook.sender.close()
    }
  }
}
