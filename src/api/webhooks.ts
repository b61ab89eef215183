/**
 * Webhooks: a channel's lifecycle events (adapter.ts `LifecycleEvent`: occupied, vacated, a
 * visitor's join and leave), told to exactly one node by the adapter, sent from that node as
 * signed POSTs (webhook-sender.ts).
 *
 * Debounced: a `channel.vacated` or `presence.leave` is sent only if nobody came back within
 * `debounceMs`, so a page reload (leave, then join a moment later) sends nothing at all. The
 * pending leave is kept in the adapter's shared state, so the node that sees the return (maybe
 * another) can cancel it and hold back its own `occupied` or `join`: the pair never happened.
 * One timer serves every pending leave: they all wait the same time, so they fall due in order.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { LifecycleEvent, SharedState } from '../adapters/state.js'

/** The events a webhook can report. */
export const WEBHOOK_EVENTS = ['channel.occupied', 'channel.vacated', 'presence.join', 'presence.leave'] as const

/** One of {@link WEBHOOK_EVENTS}. */
export type WebhookEventType = typeof WEBHOOK_EVENTS[number]

/** What {@link Webhooks} is made from. */
export interface WebhooksOptions {
  adapter: SharedState
  /**
   * Where an event goes once it is due (not cancelled by a return), with when it happened (epoch
   * ms): a format's senders (ours, Pusher's), which pick the events they want.
   */
  deliver: (event: LifecycleEvent, at: number) => void
  debounceMs: number
  log: FastifyBaseLogger
  /**
   * The shared-state keys of pending leaves start with it: two formats debouncing the same events
   * on the same adapter keep their own (one's return must not cancel the other's leave). @default 'webhook'
   */
  keyPrefix?: string
}

interface PendingLeave {
  key: string
  token: string
  event: LifecycleEvent
  /** When it happened (epoch ms): the webhook's `created`. */
  at: number
  dueAt: number
}

/** The shared-state key of a leave waiting out its debounce. */
function pendingKey (prefix: string, event: LifecycleEvent): string {
  return 'member' in event ? `${prefix}:leave:${event.channel}:${event.member.id}` : `${prefix}:vacated:${event.channel}`
}

/** The leave a return cancels. */
function leaveOf (event: LifecycleEvent): LifecycleEvent {
  return event.type === 'presence.join' ? { type: 'presence.leave', channel: event.channel, member: event.member } : { type: 'channel.vacated', channel: event.channel }
}

/** See the module comment. */
export class Webhooks {
  readonly #options: WebhooksOptions
  readonly #keyPrefix: string
  readonly #pending: PendingLeave[] = []
  #timer: ReturnType<typeof setTimeout> | null = null

  constructor (options: WebhooksOptions) {
    this.#options = options
    this.#keyPrefix = options.keyPrefix ?? 'webhook'
  }

  /** A lifecycle event this node was told of (the adapter's `onLifecycle`). */
  notify (event: LifecycleEvent): void {
    this.#notify(event).catch((err: unknown) => { this.#options.log.error({ err, event: event.type, channel: event.channel }, 'webhook event failed') })
  }

  /** Stop the debounce timer; pending leaves are not sent from here (their state expires). */
  close (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#pending.length = 0
  }

  async #notify (event: LifecycleEvent): Promise<void> {
    const { adapter, debounceMs } = this.#options
    if (event.type === 'channel.vacated' || event.type === 'presence.leave') {
      const at = Date.now()
      const pending = { key: pendingKey(this.#keyPrefix, event), token: randomUUID(), event, at, dueAt: at + debounceMs }
      // Kept a while past the debounce, so a return just after it still finds and cancels nothing stale.
      await adapter.stateSet(pending.key, pending.token, debounceMs * 2 + 1000)
      this.#pending.push(pending)
      this.#arm()
      return
    }
    // A return within the window: the leave and this come-back cancel out.
    const leaveKey = pendingKey(this.#keyPrefix, leaveOf(event))
    if (await adapter.stateGet(leaveKey) !== undefined) {
      await adapter.stateDelete(leaveKey)
      return
    }
    this.#options.deliver(event, Date.now())
  }

  #arm (): void {
    if (this.#timer !== null) return
    const next = this.#pending[0]
    if (next === undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      const now = Date.now()
      while ((this.#pending[0]?.dueAt ?? Infinity) <= now) {
        const pending = this.#pending.shift()
        if (pending !== undefined) this.#settle(pending).catch((err: unknown) => { this.#options.log.error({ err }, 'webhook debounce failed') })
      }
      this.#arm()
    }, Math.max(0, next.dueAt - Date.now()))
    this.#timer.unref()
  }

  /** The window is over: send the leave unless a return cancelled it (then the state is gone or new). */
  async #settle (pending: PendingLeave): Promise<void> {
    const { adapter } = this.#options
    if (await adapter.stateGet(pending.key) !== pending.token) return
    await adapter.stateDelete(pending.key)
    this.#options.deliver(pending.event, pending.at)
  }
}
