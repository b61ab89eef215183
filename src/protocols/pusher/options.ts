/**
 * The `pusher` option: the Pusher apps a node serves (each an id, a key and a secret, as Pusher's
 * dashboard gives them), and the settings of their HTTP API and webhooks. Its type, schema and
 * defaults, as the plugin's one schema (src/options.ts) composes them; the defaults are written
 * once, in {@link PUSHER_DEFAULTS}.
 */
import { Type } from '@sinclair/typebox'
import { integer, option, typedAs } from '../../tunables.js'
import { PUSHER_WEBHOOK_EVENTS, type PusherWebhookEvent } from './webhook-events.js'

/** One webhook of a Pusher app: where its events are POSTed, in Pusher's format. */
export interface PusherWebhookOptions {
  /** Where the events are POSTed (http or https). */
  url: string
  /** Which events to send. @default every one */
  events?: PusherWebhookEvent[]
}

/** One Pusher app: the credentials its clients and server SDKs are configured with. */
export interface PusherAppOptions {
  /** The app id (the SDK's `appId`, in `/apps/{id}/…`): 1–64 letters, digits, `_` or `-`. */
  id: string
  /** The app key (the clients' `key`, the SDK's `auth_key`): 1–128 letters, digits, `_`, `.` or `-`. */
  key: string
  /** The app secret (signs API requests, channel auth and webhooks): at least 16 characters. */
  secret: string
  /** Its webhooks, in Pusher's format (signed with the secret). @default none */
  webhooks?: PusherWebhookOptions[]
  /** Largest `data` of one event published through the HTTP API, in bytes (Pusher's own limit is 10 KB). @default 10240 */
  maxEventDataBytes?: number
}

/** Options of the Pusher protocol. */
export interface PusherOptions {
  /** The apps this node serves; the first shares its channels with our own protocol. */
  apps: PusherAppOptions[]
  /**
   * Where the HTTP API's `/apps/{id}/…` routes live, under the registration prefix; a request is
   * verified against the path the SDK signed (`/apps/{id}/…`), whatever prefix it arrived under. @default ''
   */
  apiPath?: string
  /** How far an API request's `auth_timestamp` may be from the server's clock, in seconds (Pusher's is 600). @default 600 */
  apiTimestampWindowS?: number
  /** A `channel_vacated` or `member_removed` webhook is sent only if nobody came back within this long, in ms. @default 5000 */
  webhookDebounceMs?: number
}

/** The values the `pusher` option's optional fields take when not given. */
export const PUSHER_DEFAULTS = Object.freeze({
  apiPath: '',
  apiTimestampWindowS: 600,
  webhookDebounceMs: 5000,
  maxEventDataBytes: 10 * 1024
})

/** One app with its defaults. */
export interface ResolvedPusherApp {
  readonly id: string
  readonly key: string
  readonly secret: string
  /** Its position in `apps`: the first (0) shares its channels with our own protocol. */
  readonly index: number
  readonly webhooks: ReadonlyArray<{ readonly url: string, readonly events: readonly PusherWebhookEvent[] }>
  readonly maxEventDataBytes: number
}

/** The `pusher` option with its defaults; apps by id and by key. */
export interface ResolvedPusherOptions {
  readonly apps: readonly ResolvedPusherApp[]
  readonly appsById: ReadonlyMap<string, ResolvedPusherApp>
  readonly appsByKey: ReadonlyMap<string, ResolvedPusherApp>
  readonly apiPath: string
  readonly apiTimestampWindowS: number
  readonly webhookDebounceMs: number
}

const PusherSchema = Type.Object({
  apps: Type.Array(Type.Object({
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    key: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
    secret: Type.String({ minLength: 16, maxLength: 256 }),
    webhooks: Type.Optional(Type.Array(Type.Object({
      url: Type.String({ pattern: '^https?://' }),
      events: Type.Optional(Type.Array(Type.Union(PUSHER_WEBHOOK_EVENTS.map((event) => Type.Literal(event))), { minItems: 1 }))
    }, { additionalProperties: false }))),
    maxEventDataBytes: Type.Optional(integer(1, 10 * 1024 * 1024))
  }, { additionalProperties: false }), { minItems: 1 }),
  apiPath: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9_\\-./]*)?$' })),
  apiTimestampWindowS: Type.Optional(integer(1, 24 * 60 * 60)),
  webhookDebounceMs: Type.Optional(integer(0, 10 * 60 * 1000))
}, { additionalProperties: false })

/** The option with its defaults; ids and keys distinct. */
function resolvePusher (value: unknown): { value: ResolvedPusherOptions } | { problem: string } {
  const pusher = value as PusherOptions
  const apps = pusher.apps.map((app, index): ResolvedPusherApp => Object.freeze({
    id: app.id,
    key: app.key,
    secret: app.secret,
    index,
    webhooks: Object.freeze((app.webhooks ?? []).map((hook) => Object.freeze({ url: hook.url, events: Object.freeze([...(hook.events ?? PUSHER_WEBHOOK_EVENTS)]) }))),
    maxEventDataBytes: app.maxEventDataBytes ?? PUSHER_DEFAULTS.maxEventDataBytes
  }))
  const appsById = new Map(apps.map((app) => [app.id, app]))
  const appsByKey = new Map(apps.map((app) => [app.key, app]))
  if (appsById.size !== apps.length) return { problem: 'two apps have the same id: give each its own' }
  if (appsByKey.size !== apps.length) return { problem: 'two apps have the same key: give each its own' }
  return {
    value: Object.freeze({
      apps: Object.freeze(apps),
      appsById,
      appsByKey,
      apiPath: pusher.apiPath ?? PUSHER_DEFAULTS.apiPath,
      apiTimestampWindowS: pusher.apiTimestampWindowS ?? PUSHER_DEFAULTS.apiTimestampWindowS,
      webhookDebounceMs: pusher.webhookDebounceMs ?? PUSHER_DEFAULTS.webhookDebounceMs
    })
  }
}

/** The `pusher` option, as the one schema lists it: the application writes a {@link PusherOptions}. */
export const PUSHER_TUNABLE = option({
  schema: typedAs<PusherOptions, typeof PusherSchema>(PusherSchema),
  default: undefined,
  defaultText: 'off',
  expected: 'an object { apps: [{ id, key, secret (16+ characters), webhooks?, maxEventDataBytes? }], apiPath?, apiTimestampWindowS?, webhookDebounceMs? }',
  validate: resolvePusher,
  secret: true,
  description: 'Speak Pusher\'s protocol too: the apps (id, key, secret) whose Pusher server SDKs call the HTTP API (`/apps/{id}/…`, signed requests) and whose webhooks are sent in Pusher\'s format (see docs/pusher.md).'
})
