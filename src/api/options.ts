/**
 * The options of the HTTP API and of the webhooks: their types, their schemas and defaults, as
 * the plugin's one schema (options.ts) composes them, beside the code that uses them. The
 * defaults of their optional fields are written once, in {@link API_DEFAULTS} and
 * {@link WEBHOOK_DEFAULTS}: the resolvers apply them, the demo server's variables default to
 * them, and a test checks the `@default` of each field's documentation against them.
 */
import { Type } from '@sinclair/typebox'
import { HOUR_MS, integer, MAX_RATE, option, typedAs } from '../tunables.js'
import { WEBHOOK_EVENTS, type WebhookEventType } from './webhooks.js'

/** What a key of the HTTP API may do. `*`: everything. */
export type ApiScope = 'publish' | 'broadcast' | 'users' | 'read' | '*'

/** One API key, and what it may do. */
export interface ApiKey {
  /** The secret the caller sends as `Authorization: Bearer <key>`: at least 32 characters. */
  key: string
  /** What it may do. @default ['*'] */
  scopes?: ApiScope[]
  /** A name for logs (never the key itself). */
  name?: string
}

/** Options of the HTTP API. */
export interface ApiOptions {
  /** Where its routes live, e.g. `/api/realtime` (under the registration prefix). */
  prefix: string
  /** The keys that may call it. */
  keys: ApiKey[]
  /** Requests per key per window (@fastify/rate-limit), and per client address for requests without a valid key; `redis` shares the counts across nodes. @default { max: 600, timeWindowMs: 60000 } */
  rateLimit?: { max?: number, timeWindowMs?: number, redis?: unknown }
  /** Most publications in one batch request. @default 100 */
  maxBatch?: number
}

/** Options of the webhooks. */
export interface WebhookOptions {
  /** Where the events are POSTed. */
  url: string
  /** Signs every request (HMAC-SHA256): at least 32 characters. */
  secret: string
  /** Which events to send. @default every one */
  events?: WebhookEventType[]
  /** A vacate or a leave is sent only if nobody came back within this long, in ms. @default 5000 */
  debounceMs?: number
  /** How long one attempt may take, in ms. @default 5000 */
  timeoutMs?: number
  /** Attempts per event before it is dropped. @default 6 */
  maxAttempts?: number
  /** The first retry waits this long, each next one twice as long, in ms. @default 1000 */
  retryBaseMs?: number
  /** Events waiting at most; past it new ones are dropped. @default 10000 */
  maxQueue?: number
  /** Requests in flight at once. @default 4 */
  concurrency?: number
}

/** The values the `api` option's optional fields take when not given. */
export const API_DEFAULTS = Object.freeze({
  rateLimit: Object.freeze({ max: 600, timeWindowMs: 60_000 }),
  maxBatch: 100
})

/** The values the `webhooks` option's optional fields take when not given (`events`: every one). */
export const WEBHOOK_DEFAULTS = Object.freeze({
  events: WEBHOOK_EVENTS,
  debounceMs: 5000,
  timeoutMs: 5000,
  maxAttempts: 6,
  retryBaseMs: 1000,
  maxQueue: 10_000,
  concurrency: 4
})

/** The HTTP API's options with their defaults. */
export interface ResolvedApiOptions {
  readonly prefix: string
  readonly keys: ReadonlyArray<{ readonly key: string, readonly scopes: readonly ApiScope[], readonly name: string }>
  readonly rateLimit: { readonly max: number, readonly timeWindowMs: number, readonly redis: unknown }
  readonly maxBatch: number
}

/** The webhooks' options with their defaults. */
export type ResolvedWebhookOptions = Readonly<Required<WebhookOptions>>

const API_SCOPES = ['publish', 'broadcast', 'users', 'read', '*'] as const

const ApiSchema = Type.Object({
  prefix: Type.String({ pattern: '^/[A-Za-z0-9_\\-./]*$' }),
  keys: Type.Array(Type.Object({
    key: Type.String({ minLength: 32, maxLength: 256 }),
    scopes: Type.Optional(Type.Array(Type.Union(API_SCOPES.map((scope) => Type.Literal(scope))), { minItems: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
  }, { additionalProperties: false }), { minItems: 1 }),
  rateLimit: Type.Optional(Type.Object({
    max: Type.Optional(integer(1, MAX_RATE)),
    timeWindowMs: Type.Optional(integer(1000, HOUR_MS)),
    redis: Type.Optional(Type.Unknown())
  }, { additionalProperties: false })),
  maxBatch: Type.Optional(integer(1, 1000))
}, { additionalProperties: false })

const WebhooksSchema = Type.Object({
  url: Type.String({ pattern: '^https?://' }),
  secret: Type.String({ minLength: 32 }),
  events: Type.Optional(Type.Array(Type.Union(WEBHOOK_EVENTS.map((event) => Type.Literal(event))), { minItems: 1 })),
  debounceMs: Type.Optional(integer(0, 10 * 60 * 1000)),
  timeoutMs: Type.Optional(integer(100, 60_000)),
  maxAttempts: Type.Optional(integer(1, 20)),
  retryBaseMs: Type.Optional(integer(10, 60_000)),
  maxQueue: Type.Optional(integer(1, 1_000_000)),
  concurrency: Type.Optional(integer(1, 64))
}, { additionalProperties: false })

/** The API's options with their defaults; keys distinct. */
function resolveApi (value: unknown): { value: ResolvedApiOptions } | { problem: string } {
  const api = value as ApiOptions
  const keys = api.keys.map((entry, index) => ({ key: entry.key, scopes: entry.scopes ?? ['*'], name: entry.name ?? `key ${index + 1}` }))
  if (new Set(keys.map((entry) => entry.key)).size !== keys.length) return { problem: 'two keys are the same: give each caller its own' }
  return {
    value: Object.freeze({
      prefix: api.prefix,
      keys: Object.freeze(keys),
      rateLimit: Object.freeze({ max: api.rateLimit?.max ?? API_DEFAULTS.rateLimit.max, timeWindowMs: api.rateLimit?.timeWindowMs ?? API_DEFAULTS.rateLimit.timeWindowMs, redis: api.rateLimit?.redis }),
      maxBatch: api.maxBatch ?? API_DEFAULTS.maxBatch
    })
  }
}

/** The webhooks' options with their defaults. */
function resolveWebhooks (value: unknown): { value: ResolvedWebhookOptions } {
  const webhooks = value as WebhookOptions
  return {
    value: Object.freeze({
      url: webhooks.url,
      secret: webhooks.secret,
      events: webhooks.events ?? [...WEBHOOK_DEFAULTS.events],
      debounceMs: webhooks.debounceMs ?? WEBHOOK_DEFAULTS.debounceMs,
      timeoutMs: webhooks.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs,
      maxAttempts: webhooks.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts,
      retryBaseMs: webhooks.retryBaseMs ?? WEBHOOK_DEFAULTS.retryBaseMs,
      maxQueue: webhooks.maxQueue ?? WEBHOOK_DEFAULTS.maxQueue,
      concurrency: webhooks.concurrency ?? WEBHOOK_DEFAULTS.concurrency
    })
  }
}

/** The `api` option, as the one schema lists it: the application writes an {@link ApiOptions}. */
export const API_TUNABLE = option({
  schema: typedAs<ApiOptions, typeof ApiSchema>(ApiSchema),
  default: undefined,
  defaultText: 'off',
  expected: 'an object { prefix, keys: [{ key (32+ characters), scopes? }], rateLimit?, maxBatch? }',
  validate: resolveApi,
  secret: true,
  description: 'The HTTP API for other services (publish, broadcast, target users, presence, history, channels), under its own prefix, with API keys (see docs/api.md).'
})

/** The `webhooks` option, as the one schema lists it: the application writes a {@link WebhookOptions}. */
export const WEBHOOKS_TUNABLE = option({
  schema: typedAs<WebhookOptions, typeof WebhooksSchema>(WebhooksSchema),
  default: undefined,
  defaultText: 'off',
  expected: 'an object { url, secret (32+ characters), events?, debounceMs?, timeoutMs?, maxAttempts?, retryBaseMs?, maxQueue?, concurrency? }',
  validate: resolveWebhooks,
  secret: true,
  description: 'Signed POSTs of channel.occupied, channel.vacated, presence.join and presence.leave, once across all nodes and debounced (see docs/api.md).'
})
