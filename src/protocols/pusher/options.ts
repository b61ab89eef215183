/**
 * The `pusher` option: Pusher's protocol on this node (off when absent). Its one row of OPTIONS
 * (src/options.ts), its schema, its checks and its resolved form, with the apps found by key (the
 * WebSocket's `/app/:key`) and by id (the HTTP API's `/apps/:appId`); the settings of the HTTP
 * API and the webhooks too. The defaults are written once, in {@link PUSHER_DEFAULTS}.
 */
import { Type } from '@sinclair/typebox'
import { integer, option, typedAs } from '../../tunables.js'
import type { ChannelNamespace } from './channel-names.js'
import { PUSHER_WEBHOOK_EVENTS, type PusherWebhookEvent } from './webhook-events.js'

export type { PusherWebhookEvent } from './webhook-events.js'

/** One webhook of a Pusher app: where its events are POSTed, in Pusher's format. */
export interface PusherWebhookOptions {
  /** Where the events are POSTed (http or https). */
  url: string
  /** Which events to send. @default every one */
  events?: PusherWebhookEvent[]
}

/** One Pusher app: its credentials, as the Pusher SDKs and clients are given them. */
export interface PusherAppOptions {
  /** The app id (the HTTP API's `/apps/<id>`): 1–32 letters, digits, `_ - .`. */
  id: string
  /** The public key clients connect with (`/app/<key>`): 1–128 letters, digits, `_ - .`. */
  key: string
  /** The secret channel auth, user sign-in and the HTTP API are signed with (8+ characters). */
  secret: string
  /** Where this app's Pusher-format webhooks go (signed with the secret), and which events each gets. @default none */
  webhooks?: PusherWebhookOptions[]
  /** Largest `data` of one event published through the HTTP API, in bytes (Pusher's own limit is 10 KB). @default 10240 */
  maxEventDataBytes?: number
}

/** What the application writes for the `pusher` option. */
export interface PusherOptions {
  /** The apps (at least one); the first shares our channel namespace, the others each have their own. */
  apps: PusherAppOptions[]
  /** The WebSocket route's prefix: clients connect to `<path>/<key>`. @default '/app' */
  path?: string
  /**
   * Where the HTTP API's `/apps/<id>/…` routes live, under the registration prefix; a request is
   * verified against the path the SDK signed (`/apps/<id>/…`), whatever prefix it arrived under. @default ''
   */
  apiPath?: string
  /** How far an API request's `auth_timestamp` may be from the server's clock, in seconds (Pusher's is 600). @default 600 */
  apiTimestampWindowS?: number
  /** A `channel_vacated` or `member_removed` webhook is sent only if nobody came back within this long, in ms. @default 5000 */
  webhookDebounceMs?: number
  /** The `activity_timeout` sent in `pusher:connection_established`, in seconds: how long a client stays quiet before it pings. @default 120 */
  activityTimeoutS?: number
  /** Close a connection that has not signed in (`pusher:signin`) within this many ms, with 4009; 0: never. @default 0 */
  userAuthenticationTimeoutMs?: number
  /** Most client events one connection may send per second; more are refused with a `pusher:error` of code 4301. @default 10 */
  maxClientEventsPerSecond?: number
}

const NAME = '^[A-Za-z0-9_\\-.]+$'

const PusherSchema = Type.Object({
  apps: Type.Array(Type.Object({
    id: Type.String({ pattern: NAME, minLength: 1, maxLength: 32 }),
    key: Type.String({ pattern: NAME, minLength: 1, maxLength: 128 }),
    secret: Type.String({ minLength: 8, maxLength: 1024 }),
    webhooks: Type.Optional(Type.Array(Type.Object({
      url: Type.String({ pattern: '^https?://' }),
      events: Type.Optional(Type.Array(Type.Union(PUSHER_WEBHOOK_EVENTS.map((event) => Type.Literal(event))), { minItems: 1 }))
    }, { additionalProperties: false }))),
    maxEventDataBytes: Type.Optional(integer(1, 10 * 1024 * 1024))
  }, { additionalProperties: false }), { minItems: 1, maxItems: 1000 }),
  path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9_\\-./]*[A-Za-z0-9_\\-.]$' })),
  apiPath: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9_\\-./]*[A-Za-z0-9_\\-.])?$' })),
  apiTimestampWindowS: Type.Optional(integer(1, 24 * 60 * 60)),
  webhookDebounceMs: Type.Optional(integer(0, 10 * 60 * 1000)),
  activityTimeoutS: Type.Optional(integer(1, 3600)),
  userAuthenticationTimeoutMs: Type.Optional(integer(0, 24 * 60 * 60 * 1000)),
  maxClientEventsPerSecond: Type.Optional(integer(1, 10_000))
}, { additionalProperties: false })

/** One app, resolved. Frozen. */
export interface ResolvedPusherApp extends ChannelNamespace {
  readonly id: string
  readonly key: string
  readonly secret: string
  readonly webhooks: ReadonlyArray<{ readonly url: string, readonly events: readonly PusherWebhookEvent[] }>
  readonly maxEventDataBytes: number
}

/** The `pusher` option, resolved: defaults applied, apps by key and by id. Frozen. */
export interface ResolvedPusherOptions {
  readonly apps: readonly ResolvedPusherApp[]
  readonly byKey: ReadonlyMap<string, ResolvedPusherApp>
  readonly byId: ReadonlyMap<string, ResolvedPusherApp>
  readonly path: string
  readonly apiPath: string
  readonly apiTimestampWindowS: number
  readonly webhookDebounceMs: number
  readonly activityTimeoutS: number
  readonly userAuthenticationTimeoutMs: number
  readonly maxClientEventsPerSecond: number
}

/** The defaults of the `pusher` option's fields. */
export const PUSHER_DEFAULTS = Object.freeze({
  path: '/app',
  apiPath: '',
  apiTimestampWindowS: 600,
  webhookDebounceMs: 5000,
  maxEventDataBytes: 10 * 1024,
  activityTimeoutS: 120,
  userAuthenticationTimeoutMs: 0,
  maxClientEventsPerSecond: 10
})

/** Resolve the `pusher` option: ids and keys distinct. */
function resolvePusher (value: unknown): { value: ResolvedPusherOptions } | { problem: string } {
  const given = value as PusherOptions
  const byKey = new Map<string, ResolvedPusherApp>()
  const byId = new Map<string, ResolvedPusherApp>()
  const apps: ResolvedPusherApp[] = []
  for (const [index, app] of given.apps.entries()) {
    if (byId.has(app.id)) return { problem: `apps[${index}].id: "${app.id}" is used by two apps; give each app its own id` }
    if (byKey.has(app.key)) return { problem: `apps[${index}].key: two apps have the same key; give each app its own key` }
    const resolved: ResolvedPusherApp = Object.freeze({
      id: app.id,
      key: app.key,
      secret: app.secret,
      webhooks: Object.freeze((app.webhooks ?? []).map((hook) => Object.freeze({ url: hook.url, events: Object.freeze([...(hook.events ?? PUSHER_WEBHOOK_EVENTS)]) }))),
      maxEventDataBytes: app.maxEventDataBytes ?? PUSHER_DEFAULTS.maxEventDataBytes,
      channelPrefix: index === 0 ? '' : `${app.id}/`
    })
    apps.push(resolved)
    byKey.set(app.key, resolved)
    byId.set(app.id, resolved)
  }
  return {
    value: Object.freeze({
      apps: Object.freeze(apps),
      byKey,
      byId,
      path: given.path ?? PUSHER_DEFAULTS.path,
      apiPath: given.apiPath ?? PUSHER_DEFAULTS.apiPath,
      apiTimestampWindowS: given.apiTimestampWindowS ?? PUSHER_DEFAULTS.apiTimestampWindowS,
      webhookDebounceMs: given.webhookDebounceMs ?? PUSHER_DEFAULTS.webhookDebounceMs,
      activityTimeoutS: given.activityTimeoutS ?? PUSHER_DEFAULTS.activityTimeoutS,
      userAuthenticationTimeoutMs: given.userAuthenticationTimeoutMs ?? PUSHER_DEFAULTS.userAuthenticationTimeoutMs,
      maxClientEventsPerSecond: given.maxClientEventsPerSecond ?? PUSHER_DEFAULTS.maxClientEventsPerSecond
    })
  }
}

/** The `pusher` option, as the one schema lists it: the application writes a {@link PusherOptions}. */
export const PUSHER_TUNABLE = option({
  schema: typedAs<PusherOptions, typeof PusherSchema>(PusherSchema),
  default: undefined,
  defaultText: 'off',
  expected: 'an object { apps: [{ id, key, secret (8+ characters), webhooks?, maxEventDataBytes? }], path?, apiPath?, apiTimestampWindowS?, webhookDebounceMs?, activityTimeoutS?, userAuthenticationTimeoutMs?, maxClientEventsPerSecond? }',
  validate: resolvePusher,
  secret: true,
  description: 'Speak Pusher\'s protocol too (pusher-js, Laravel Echo, the Pusher server SDKs): WebSockets on `<path>/<key>` on the same port, behind the same gate; the HTTP API on `<apiPath>/apps/<id>/…` (signed requests); webhooks in Pusher\'s format (see docs/pusher.md).'
})
