/**
 * Delivers webhook events: signed POSTs (signature.ts, or another format's body and signature,
 * Pusher's) through undici, a few at a time, from a bounded queue. A failed attempt (a network
 * error, a timeout, a 5xx, a 408 or a 429) is retried with exponential backoff until
 * `maxAttempts`; a refusal (any other 4xx) is not. Nothing here
 * blocks the event loop or grows without bound: past `maxQueue` waiting events, a new one is
 * dropped and counted. One timer serves every waiting retry.
 */
import { request } from 'undici'
import type { FastifyBaseLogger } from 'fastify'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import { signWebhook, SIGNATURE_HEADER } from './signature.js'

/** What a webhook request carries. */
export interface WebhookBody {
  /** Unique per event (the same on every attempt): receivers deduplicate retries by it. */
  id: string
  type: string
  /** When the event happened, epoch milliseconds. */
  created: number
  data: Record<string, unknown>
}

/** A webhook body already written in its format (Pusher's), and what it is called in metrics and logs. */
export interface WrittenWebhook {
  /** The event's name, for metrics and logs. */
  type: string
  /** An id for logs (and our format's `Realtime-Event-Id`). */
  id: string
  /** The body, exactly as it is sent and signed. */
  json: string
}

/** How a {@link WebhookSender} delivers. */
export interface WebhookSenderOptions {
  url: string
  secret: string
  /**
   * The headers that sign a body (besides `content-type` and `user-agent`).
   * @default ours: `Realtime-Signature` (signature.ts, with `secret`) and `Realtime-Event-Id`
   */
  sign?: (body: WrittenWebhook) => Record<string, string>
  timeoutMs: number
  maxAttempts: number
  /** The first retry waits this long; each next one twice as long. */
  retryBaseMs: number
  maxQueue: number
  concurrency: number
  metrics: RealtimeMetrics
  log: FastifyBaseLogger
}

interface Job {
  body: WrittenWebhook
  attempt: number
  /** When it may be tried next (epoch ms). */
  dueAt: number
}

/** Whether an HTTP status means "try again later" rather than "no". */
const retryable = (status: number): boolean => status >= 500 || status === 408 || status === 429

/** See the module comment. */
export class WebhookSender {
  readonly #options: WebhookSenderOptions
  readonly #sign: (body: WrittenWebhook) => Record<string, string>
  /** Jobs that may be tried now, oldest first. */
  readonly #ready: Job[] = []
  /** Jobs waiting for a retry, soonest first. */
  readonly #waiting: Job[] = []
  #inFlight = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #closed = false

  constructor (options: WebhookSenderOptions) {
    this.#options = options
    this.#sign = options.sign ?? ((body) => ({ 'realtime-event-id': body.id, [SIGNATURE_HEADER]: signWebhook(options.secret, body.json, Math.floor(Date.now() / 1000)) }))
  }

  /** Events waiting or in flight (for tests and shutdown). */
  get pending (): number {
    return this.#ready.length + this.#waiting.length + this.#inFlight
  }

  /** Queue an event for delivery, in our format; dropped (and counted) when the queue is full. */
  send (body: WebhookBody): void {
    this.sendWritten({ type: body.type, id: body.id, json: JSON.stringify(body) })
  }

  /** Queue a body written in another format (Pusher's); dropped (and counted) when the queue is full. */
  sendWritten (body: WrittenWebhook): void {
    if (this.#closed) return
    if (this.#ready.length + this.#waiting.length >= this.#options.maxQueue) {
      this.#options.metrics.webhook('dropped', body.type)
      this.#options.log.warn({ event: body.type, id: body.id }, 'webhook dropped: the queue is full')
      return
    }
    this.#ready.push({ body, attempt: 0, dueAt: Date.now() })
    this.#pump()
  }

  /** Stop: nothing new is sent, waiting retries are dropped (counted); attempts in flight finish. */
  close (): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    for (const job of [...this.#ready, ...this.#waiting]) this.#options.metrics.webhook('dropped', job.body.type)
    this.#ready.length = 0
    this.#waiting.length = 0
  }

  #pump (): void {
    while (!this.#closed && this.#inFlight < this.#options.concurrency) {
      const job = this.#ready.shift()
      if (job === undefined) return
      this.#inFlight++
      this.#attempt(job).catch((err: unknown) => { this.#options.log.error({ err }, 'webhook delivery failed unexpectedly') }).finally(() => {
        this.#inFlight--
        this.#pump()
      })
    }
  }

  async #attempt (job: Job): Promise<void> {
    job.attempt++
    const { url, timeoutMs, metrics } = this.#options
    let problem: string
    try {
      const response = await request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'fastify-realtime-webhooks',
          ...this.#sign(job.body)
        },
        body: job.body.json,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs
      })
      // The body is not read, but it must be consumed for the connection to be reused.
      await response.body.dump()
      if (response.statusCode >= 200 && response.statusCode < 300) {
        metrics.webhook('sent', job.body.type)
        return
      }
      problem = `HTTP ${response.statusCode}`
      if (!retryable(response.statusCode)) {
        metrics.webhook('failed', job.body.type)
        this.#giveUp(job, `${problem}: refused, not retried`)
        return
      }
    } catch (err) {
      problem = (err as Error).message
    }
    metrics.webhook('failed', job.body.type)
    if (job.attempt >= this.#options.maxAttempts) {
      this.#giveUp(job, `${problem}: no attempt left (${job.attempt})`)
      return
    }
    metrics.webhook('retried', job.body.type)
    job.dueAt = Date.now() + this.#options.retryBaseMs * 2 ** (job.attempt - 1)
    this.#wait(job)
  }

  #giveUp (job: Job, why: string): void {
    this.#options.metrics.webhook('dropped', job.body.type)
    this.#options.log.warn({ event: job.body.type, id: job.body.id, attempts: job.attempt, why }, 'webhook dropped')
  }

  /** Put a job among the waiting ones, soonest first, and make sure the one timer wakes for the soonest. */
  #wait (job: Job): void {
    if (this.#closed) return
    let at = this.#waiting.length
    while (at > 0 && (this.#waiting[at - 1]?.dueAt ?? 0) > job.dueAt) at--
    this.#waiting.splice(at, 0, job)
    this.#arm()
  }

  #arm (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const soonest = this.#waiting[0]
    if (soonest === undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      const now = Date.now()
      while ((this.#waiting[0]?.dueAt ?? Infinity) <= now) {
        const job = this.#waiting.shift()
        if (job !== undefined) this.#ready.push(job)
      }
      this.#pump()
      this.#arm()
    }, Math.max(0, soonest.dueAt - Date.now()))
    this.#timer.unref()
  }
}
