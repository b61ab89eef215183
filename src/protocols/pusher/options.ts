/**
 * The `pusher` option: Pusher's protocol on this node (off when absent). Its one row of OPTIONS
 * (src/options.ts), its schema, its checks and its resolved form, with the apps found by key (the
 * WebSocket's `/app/:key`) and by id (the HTTP API's `/apps/:appId`).
 */
import { Type } from '@sinclair/typebox'
import { integer, option, typedAs } from '../../tunables.js'
import type { ChannelNamespace } from './channel-names.js'

/** The Pusher webhook events (Pusher's names). */
export const PUSHER_WEBHOOK_EVENTS = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'] as const
/** One Pusher webhook event. */
export type PusherWebhookEvent = typeof PUSHER_WEBHOOK_EVENTS[number]

/** One Pusher app: its credentials, as the Pusher SDKs and clients are given them. */
export interface PusherAppOptions {
  /** The app id (the HTTP API's `/apps/<id>`): 1–32 letters, digits, `_ - .`. */
  id: string
  /** The public key clients connect with (`/app/<key>`): 1–128 letters, digits, `_ - .`. */
  key: string
  /** The secret channel auth, user sign-in and the HTTP API are signed with (8+ characters). */
  secret: string
  /** Where this app's Pusher-format webhooks go, and which events each gets. */
  webhooks?: Array<{ url: string, events: PusherWebhookEvent[] }>
}

/** What the application writes for the `pusher` option. */
export interface PusherOptions {
  /** The apps (at least one); the first shares our channel namespace, the others each have their own. */
  apps: PusherAppOptions[]
  /** The WebSocket route's prefix: clients connect to `<path>/<key>`. @default '/app' */
  path?: string
  /** The HTTP API's prefix, before `/apps/<id>/…`. @default '' */
  apiPath?: string
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
      events: Type.Array(Type.Union(PUSHER_WEBHOOK_EVENTS.map((event) => Type.Literal(event))), { minItems: 1 })
    }, { additionalProperties: false })))
  }, { additionalProperties: false }), { minItems: 1, maxItems: 1000 }),
  path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9_\\-./]*[A-Za-z0-9_\\-.]$' })),
  apiPath: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9_\\-./]*[A-Za-z0-9_\\-.])?$' })),
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
}

/** The `pusher` option, resolved: defaults applied, apps by key and by id. Frozen. */
export interface ResolvedPusherOptions {
  readonly apps: readonly ResolvedPusherApp[]
  readonly byKey: ReadonlyMap<string, ResolvedPusherApp>
  readonly byId: ReadonlyMap<string, ResolvedPusherApp>
  readonly path: string
  readonly apiPath: string
  readonly activityTimeoutS: number
  readonly userAuthenticationTimeoutMs: number
  readonly maxClientEventsPerSecond: number
}

/** The defaults of the `pusher` option's fields. */
export const PUSHER_DEFAULTS = Object.freeze({ path: '/app', apiPath: '', activityTimeoutS: 120, userAuthenticationTimeoutMs: 0, maxClientEventsPerSecond: 10 })

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
      webhooks: Object.freeze((app.webhooks ?? []).map((hook) => Object.freeze({ url: hook.url, events: Object.freeze([...hook.events]) }))),
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
  expected: 'an object { apps: [{ id, key, secret (8+ characters), webhooks? }], path?, apiPath?, activityTimeoutS?, userAuthenticationTimeoutMs?, maxClientEventsPerSecond? }',
  validate: resolvePusher,
  secret: true,
  description: 'Speak Pusher\'s protocol too (pusher-js, Laravel Echo, the Pusher server SDKs), on `<path>/<key>` on the same port, behind the same gate (see docs/pusher.md).'
})
