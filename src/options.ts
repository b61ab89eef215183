/**
 * Plugin options: ONE row per tunable ({@link OPTIONS}: its documentation comment, type, bounds,
 * default, unit, description), the types derived from those rows (what the application writes,
 * {@link RealtimePluginOptions}, and what the parts read, {@link ResolvedOptions}), and the one
 * function that validates them. Bad options fail registration with {@link InvalidOptionError};
 * nothing is silently coerced. The demo server reads the same rows from its environment
 * (src/app/config.ts), and the docs' option table and `.env.example` are generated from them.
 *
 * A new option is one row here (its comment is what an editor shows the application, its
 * `description` what the generated docs say): both option types follow from it.
 */
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import type { RealtimeAdapter } from './adapters/adapter.js'
import { resolveChannels, type ChannelDefinition } from './channels/policy.js'
import { TOKEN_ALGORITHMS, parsePublicKey } from './auth/tokens.js'
import { InvalidOptionError } from './errors.js'
import { noopMetrics, type RealtimeMetrics } from './metrics/metrics.js'
import type { ConnectionInfo } from './node/connection.js'
import type { TickContext } from './node/ticker.js'
import type { Visitor } from './node/visitor.js'
import { resolveRpc, type RpcMethod } from './rpc/methods.js'
import { API_TUNABLE, WEBHOOKS_TUNABLE } from './api/options.js'
import { PUSHER_TUNABLE } from './protocols/pusher/options.js'
import { aFunction, DAY_MS, envName, HOUR_MS, implementing, integer, MAX_RATE, offOr, opaque, option, resolveTunable, TunableProblem, type OptionsOf, type ResolvedOptionsOf, type Tunable } from './tunables.js'

/** Normalise an allow-list: each entry an http(s) origin without path, or the list is `['*']`. */
function resolveOrigins (value: unknown): { value: readonly string[] } | { problem: string } {
  const entries = value as string[]
  if (entries.includes('*')) {
    return entries.length > 1 ? { problem: '"*" allows every origin and cannot be combined with others' } : { value: Object.freeze(['*']) }
  }
  const origins: string[] = []
  for (const entry of entries) {
    let url: URL | null = null
    try { url = new URL(entry) } catch { url = null }
    const bare = url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') &&
      url.search === '' && url.hash === '' && url.username === '' && !entry.endsWith('/')
    if (url === null || !bare) return { problem: `${JSON.stringify(entry)} is not an origin; write scheme://host[:port] with no path, e.g. "https://app.example.com"` }
    origins.push(url.origin)
  }
  return { value: Object.freeze(origins) }
}

/** An http(s) URL (a JWKS endpoint). */
function httpUrl (value: unknown): { value: string } | { problem: string } {
  try {
    const url = new URL(value as string)
    if (url.protocol === 'https:' || url.protocol === 'http:') return { value: value as string }
  } catch {}
  return { problem: 'is not an http:// or https:// URL' }
}

const ADAPTER_METHODS = ['init', 'publish', 'subscribe', 'unsubscribe', 'since', 'recent', 'presenceAdd', 'presenceRemove', 'presence', 'control', 'stateSet', 'stateClaim', 'stateGet', 'stateDelete', 'close'] as const

/**
 * Every tunable of the plugin, once. The key is the option's name; those with `env` are also
 * environment variables of the demo server (the name in SCREAMING_SNAKE_CASE). The comment on a
 * row is the option's documentation in the application's editor (it travels through the derived
 * {@link RealtimePluginOptions}); `test/unit/options-types.test.ts` checks every row has one.
 */
export const OPTIONS = Object.freeze({
  /** Path of the WebSocket endpoint, relative to the registration prefix. @default '/ws' */
  path: option({
    schema: Type.String({ pattern: '^/[^\\s?#]*$' }),
    default: '/ws',
    expected: 'a route path starting with "/" (no spaces, query or hash)',
    description: 'WebSocket route, under the registration `prefix`.'
  }),
  /**
   * Path of the Server-Sent Events fallback (the stream is a GET, its client requests a POST),
   * relative to the registration prefix; `''` turns the fallback off. @default '/sse'
   */
  ssePath: option({
    schema: Type.String({ pattern: '^(/[^\\s?#]*)?$' }),
    default: '/sse',
    expected: 'a route path starting with "/" (no spaces, query or hash), or "" for none',
    description: 'Server-Sent Events fallback route (GET: the stream, POST: its requests), under the registration `prefix`; `""` turns it off.'
  }),
  /** Milliseconds between two ticks on one connection; `0` turns the ticker off. @default 3000 */
  tickIntervalMs: option({
    schema: offOr(10, DAY_MS),
    default: 3000,
    unit: 'milliseconds',
    description: 'Milliseconds between two ticks on one connection; `0` turns the ticker off.',
    env: envName('tickIntervalMs'),
    group: 'Ticker and shutdown'
  }),
  /**
   * Produces the `data` of a tick. Called once per batch of connections due at the same moment
   * (not once per socket), so the same frame is shared by the batch. @default () => null
   */
  tick: option({
    ...aFunction<(context: TickContext) => unknown>(),
    default: () => null,
    defaultText: '() => null',
    description: '`({ connections, now }) => data`: the `data` of a tick, called once per batch of sockets due together (not once per socket).'
  }),
  /**
   * Identifies the visitor from the upgrade request (sync or async). Hooks such as
   * `@fastify/session` have run by then, so `request.session` is available. A valid bearer token,
   * when tokens are configured, takes precedence. @default () => null
   */
  identify: option({
    ...aFunction<(request: FastifyRequest) => Visitor | null | Promise<Visitor | null>>(),
    default: () => null,
    defaultText: '() => null',
    description: '`(request) => { id, name? } | null`: the visitor, from the upgrade request (session hooks have run).'
  }),
  /** Called once a connection is set up and welcomed. */
  onConnection: option({
    ...aFunction<(connection: ConnectionInfo) => void>(),
    default: undefined,
    defaultText: '—',
    description: '`(connection) => void`, once a connection is welcomed.'
  }),
  /** Called with every text message a client sends, after it is logged. */
  onMessage: option({
    ...aFunction<(connection: ConnectionInfo, text: string) => void>(),
    default: undefined,
    defaultText: '—',
    description: '`(connection, text) => void`, for each plain-text client message, after it is logged.'
  }),
  /** Channels clients may use, by exact name or `*` pattern, with their policy. @default [] (none) */
  channels: option({
    schema: opaque<ChannelDefinition[]>(),
    default: resolveChannels(undefined),
    defaultText: '[]',
    validate: (value) => ({ value: resolveChannels(value) }),
    description: 'The channels clients may use, by exact name or `*` pattern, with their policy (see the channel fields).'
  }),
  /** Most channels one connection may subscribe to at once. @default 128 */
  maxSubscriptionsPerConnection: option({
    schema: integer(1, 100_000),
    default: 128,
    description: 'Most channels one connection may subscribe to at once; more are refused (`too_many_subscriptions`).',
    env: envName('maxSubscriptionsPerConnection'),
    group: 'Channels'
  }),
  /** A presence entry or a node's hold on a channel not refreshed for this long disappears (a node that died), in ms. @default 30000 */
  presenceTtlMs: option({
    schema: integer(1000, DAY_MS),
    default: 30_000,
    unit: 'milliseconds',
    description: 'A presence entry or a node\'s hold on a channel not refreshed for this long disappears: how a node that died leaves its channels (the presence.leave and channel.vacated webhooks).',
    env: envName('presenceTtlMs'),
    group: 'Channels'
  }),
  /**
   * How long the idempotency key of a publish is remembered, in ms: a retry with the same key
   * (the HTTP API's `idempotencyKey`, a client `pub` frame's `key`) within it publishes nothing
   * again and answers the first publication's position. @default 300000
   */
  idempotencyTtlMs: option({
    schema: integer(1000, DAY_MS),
    default: 5 * 60 * 1000,
    unit: 'milliseconds',
    description: 'How long the idempotency key of a publish is remembered (the HTTP API\'s idempotencyKey, a client pub frame\'s key): a retry within it publishes nothing again and answers the first publication\'s position.',
    env: envName('idempotencyTtlMs'),
    group: 'Channels'
  }),
  /** Where publications, history and presence live. @default the in-process memory adapter */
  adapter: option({
    ...implementing<RealtimeAdapter>('RealtimeAdapter', ADAPTER_METHODS),
    default: undefined,
    defaultText: 'memory',
    description: 'Where publications, history and presence live: `MemoryAdapter` (one process, the default) or `RedisAdapter` (`fastify-realtime/redis`, many nodes).'
  }),
  /**
   * The HTTP API for other services (publish, target users, presence, history…), under its own
   * prefix and API keys; see docs/api.md. @default off
   */
  api: API_TUNABLE,
  /** Signed webhooks of channel and presence changes (once across all nodes, debounced); see docs/api.md. @default off */
  webhooks: WEBHOOKS_TUNABLE,
  /**
   * Pusher's protocol (pusher-js, Laravel Echo, the Pusher server SDKs) on `<path>/<key>`, same
   * port, same gate, same channels; its HTTP API (`<apiPath>/apps/<id>/…`, signed requests) and
   * webhooks in Pusher's format; see docs/pusher.md. @default off
   */
  pusher: PUSHER_TUNABLE,
  /** Where the core reports what it counts (connections, frames, rejections…). @default a no-op */
  metrics: option({
    ...implementing<RealtimeMetrics>('RealtimeMetrics', Object.keys(noopMetrics)),
    default: noopMetrics,
    defaultText: 'no-op',
    description: 'Where the core reports what it counts: a `RealtimeMetrics`, e.g. `PrometheusMetrics` from `fastify-realtime/prometheus`.'
  }),
  /** Largest client message accepted, in bytes; a larger one closes the socket with 1009. @default 65536 */
  maxPayloadBytes: option({
    schema: integer(1, 64 * 1024 * 1024),
    default: 64 * 1024,
    unit: 'bytes',
    description: 'Largest client message; a larger one closes the socket with 1009.',
    env: envName('maxPayloadBytes'),
    group: 'Connection limits'
  }),
  /** On shutdown, how long clients get to close cleanly after the 1001 before they are cut, in ms. @default 10000 */
  closeGraceMs: option({
    schema: integer(0, 10 * 60 * 1000),
    default: 10_000,
    unit: 'milliseconds',
    description: 'On shutdown, how long clients get to close after the 1001 before they are cut.',
    env: envName('closeGraceMs'),
    group: 'Ticker and shutdown'
  }),
  /** Milliseconds between two heartbeat pings on one connection; `0` turns heartbeats off. @default 25000 */
  heartbeatIntervalMs: option({
    schema: offOr(10, HOUR_MS),
    default: 25_000,
    unit: 'milliseconds',
    description: 'Ping every connection this often; `0` turns heartbeats off.',
    env: envName('heartbeatIntervalMs'),
    group: 'Connection limits'
  }),
  /** A connection whose pong has not arrived this many ms after its ping is terminated. @default 10000 */
  heartbeatTimeoutMs: option({
    schema: integer(10, HOUR_MS),
    default: 10_000,
    unit: 'milliseconds',
    description: 'A connection whose pong has not come this long after its ping is terminated; a dead peer is gone within interval + timeout.',
    env: envName('heartbeatTimeoutMs'),
    group: 'Connection limits'
  }),
  /**
   * Send budget of one connection, in bytes not yet written to the network (`bufferedAmount`).
   * Past it, ticks are coalesced (only the latest is kept) and any other message closes the
   * socket with 4008 `slow consumer`. @default 1048576
   */
  maxBufferedBytes: option({
    schema: integer(1024, 1024 * 1024 * 1024),
    default: 1024 * 1024,
    unit: 'bytes',
    description: 'Send budget of one connection: bytes the client failed to take (still waiting after the kernel was offered them). Past it ticks are coalesced (only the newest waits), a replay waits and is streamed as the socket drains, and any other message closes the socket with 4008; live messages queued behind a replay get the same budget again.',
    env: envName('maxBufferedBytes'),
    group: 'Connection limits'
  }),
  /**
   * Origins (`scheme://host[:port]`) allowed to open a socket from a browser; `['*']` allows any.
   * Empty: only the same origin as the request's Host. @default []
   */
  allowedOrigins: option({
    schema: Type.Array(Type.String()),
    default: Object.freeze([]) as readonly string[],
    defaultText: 'same origin',
    expected: 'a list of origins (scheme://host[:port]), or ["*"] for any',
    validate: resolveOrigins,
    description: 'Origins allowed to open a socket from a browser (`scheme://host[:port]`, comma-separated in the environment), or `*` for any; empty: only the same origin as the request\'s Host. Others get 403.',
    env: envName('allowedOrigins'),
    group: 'Connection limits'
  }),
  /** Refuse upgrades that carry no `Origin` header (non-browser clients) with 403. @default false */
  requireOrigin: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Refuse upgrades that carry no `Origin` header (non-browser clients) with 403.',
    env: envName('requireOrigin'),
    group: 'Connection limits'
  }),
  /** Refuse upgrades whose `identify` returns null (no valid session) with 401. @default false */
  requireSession: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Refuse upgrades whose `identify` returns null (no valid session) with 401.',
    env: envName('requireSession'),
    group: 'Connection limits'
  }),
  /** Concurrent connections allowed from one client IP; more get 429. @default 64 */
  maxConnectionsPerIp: option({
    schema: integer(1, 10_000_000),
    default: 64,
    description: 'Concurrent connections allowed from one client IP (trusted-proxy aware); more get 429.',
    env: envName('maxConnectionsPerIp'),
    group: 'Connection limits'
  }),
  /** Concurrent connections allowed on this node; more get 503. @default 10000 */
  maxConnections: option({
    schema: integer(1, 10_000_000),
    default: 10_000,
    description: 'Concurrent connections allowed on this node; more get 503.',
    env: envName('maxConnections'),
    group: 'Connection limits'
  }),
  /** Upgrade handshakes per second allowed from one client IP (token bucket rate); more get 429. @default 20 */
  handshakeRatePerSec: option({
    schema: integer(1, MAX_RATE),
    default: 20,
    unit: 'per second',
    description: 'Upgrade handshakes per second allowed from one client IP (token bucket rate); more get 429.',
    env: envName('handshakeRatePerSec'),
    group: 'Connection limits'
  }),
  /** Handshakes one client IP may make at once (token bucket capacity). @default 40 */
  handshakeBurst: option({
    schema: integer(1, MAX_RATE),
    default: 40,
    description: 'Upgrade handshakes one client IP may make at once (token bucket capacity).',
    env: envName('handshakeBurst'),
    group: 'Connection limits'
  }),
  /** Client messages per second allowed on one connection; more get a `rate_limited` error frame. @default 20 */
  messageRatePerSec: option({
    schema: integer(1, MAX_RATE),
    default: 20,
    unit: 'per second',
    description: 'Client messages per second allowed on one connection; more are dropped with a `rate_limited` error, and 10 in a row close the socket with 1008.',
    env: envName('messageRatePerSec'),
    group: 'Connection limits'
  }),
  /** Client messages one connection may send at once (token bucket capacity). @default 40 */
  messageBurst: option({
    schema: integer(1, MAX_RATE),
    default: 40,
    description: 'Client messages one connection may send at once (token bucket capacity).',
    env: envName('messageBurst'),
    group: 'Connection limits'
  }),
  /**
   * New connections (WebSocket upgrades and event streams) this node admits per second, from all
   * clients together; the others wait their turn. @default 1000
   */
  admissionRatePerSec: option({
    schema: integer(1, MAX_RATE),
    default: 1000,
    unit: 'per second',
    description: 'New connections (upgrades and event streams) this node admits per second from all clients together; the others wait their turn, so a reconnect storm is paced.',
    env: envName('admissionRatePerSec'),
    group: 'Reconnects and recovery'
  }),
  /** New connections admitted at once before pacing starts. @default 200 */
  admissionBurst: option({
    schema: integer(1, MAX_RATE),
    default: 200,
    description: 'New connections admitted at once before pacing starts (token bucket capacity).',
    env: envName('admissionBurst'),
    group: 'Reconnects and recovery'
  }),
  /**
   * Longest a new connection waits for its turn; one that would wait longer is refused with 503
   * `FRT_SERVER_BUSY` and a jittered `Retry-After`. @default 10000
   */
  maxAdmissionWaitMs: option({
    schema: integer(0, 10 * 60 * 1000),
    default: 10_000,
    unit: 'milliseconds',
    description: 'Longest a new connection waits for its turn; past it, 503 `FRT_SERVER_BUSY` with a jittered `Retry-After`.',
    env: envName('maxAdmissionWaitMs'),
    group: 'Reconnects and recovery'
  }),
  /**
   * Most publications one recovery replays (a `sub` with `since`, a resumed subscription); a larger
   * gap is answered `recovered: false` with the newest ones. @default 1000
   */
  maxRecoveryReplay: option({
    schema: integer(0, 10_000),
    default: 1000,
    description: 'Most publications one recovery replays (a `sub` with `since`, a resumed subscription); a larger gap is answered `recovered: false` with the newest ones.',
    env: envName('maxRecoveryReplay'),
    group: 'Reconnects and recovery'
  }),
  /**
   * How long after a connection ends it can be resumed: its resume state (identity, every
   * subscription and position) and its event-stream cursors are kept this long in the adapter,
   * in ms. @default 300000
   */
  resumeTtlMs: option({
    schema: integer(1000, DAY_MS),
    default: 300_000,
    unit: 'milliseconds',
    description: 'How long after a connection ends it can be resumed: its resume state (identity, subscriptions, positions) and its event-stream cursors are kept this long in the adapter.',
    env: envName('resumeTtlMs'),
    group: 'Reconnects and recovery'
  }),
  /**
   * Signs the resume tokens of the `welcome` frame (HMAC-SHA256), at least 32 characters. Every
   * node behind one balancer must share it, or a token is refused by the others.
   * @default a random secret per process (tokens then resume on this process only)
   */
  resumeSecret: option({
    schema: Type.String({ minLength: 32 }),
    default: undefined,
    defaultText: 'random',
    expected: 'at least 32 characters',
    secret: true,
    description: 'Signs the resume tokens of `welcome` (HMAC-SHA256), at least 32 characters; every node behind one balancer needs the same. Unset: a random one per process (tokens resume on that process only).',
    env: envName('resumeSecret'),
    group: 'Reconnects and recovery'
  }),
  /**
   * HMAC secret (at least 32 characters) that connection and channel tokens are signed with
   * (HS256/384/512). One key source at most: this, `jwtPublicKey` or `jwksUrl`. @default undefined (tokens off)
   */
  jwtSecret: option({
    schema: Type.String({ minLength: 32 }),
    default: undefined,
    defaultText: 'tokens off',
    expected: 'at least 32 characters',
    secret: true,
    description: 'HMAC secret (HS256/384/512) that connection and channel tokens are signed with, e.g. `openssl rand -hex 32`; one key source at most (this, `jwtPublicKey` or `jwksUrl`).',
    details: 'Empty: no tokens, the demo page relies on its cookie session. Set: the demo also serves GET /token (a two-minute token for the page\'s visitor, signed with it) and its page authenticates with that token, refreshed before it expires.',
    env: envName('jwtSecret'),
    group: 'Tokens and RPC'
  }),
  /** PEM public key (RSA, EC P-256/384/521 or Ed25519) that tokens are verified with. @default undefined */
  jwtPublicKey: option({
    schema: Type.String({ minLength: 1 }),
    default: undefined,
    defaultText: '—',
    expected: 'a PEM public key (-----BEGIN PUBLIC KEY-----)',
    validate: (value) => {
      const key = parsePublicKey(value as string)
      return typeof key === 'string' ? { problem: key } : { value: value as string }
    },
    description: 'PEM public key (RSA, EC P-256/384/521 or Ed25519) that tokens are verified with.',
    env: envName('jwtPublicKey'),
    group: 'Tokens and RPC'
  }),
  /** URL of a JWKS (JSON Web Key Set) to verify tokens with; fetched, cached and refetched on an unknown key id. @default undefined */
  jwksUrl: option({
    schema: Type.String({ minLength: 1 }),
    default: undefined,
    defaultText: '—',
    expected: 'an http:// or https:// URL',
    validate: httpUrl,
    description: 'URL of a JWKS to verify tokens with (RSA, EC, Ed25519 keys); cached, and fetched again when a token names an unknown key id.',
    env: envName('jwksUrl'),
    group: 'Tokens and RPC'
  }),
  /** Algorithms a token may be signed with; empty: every one the key source can verify (never `none`, never HMAC with a public key). @default [] */
  jwtAlgorithms: option({
    schema: Type.Array(Type.String()),
    default: Object.freeze([]) as readonly string[],
    defaultText: 'from the key',
    expected: `a list of ${TOKEN_ALGORITHMS.join(', ')}`,
    validate: (value) => {
      const unknown = (value as string[]).filter((alg) => !TOKEN_ALGORITHMS.includes(alg))
      return unknown.length > 0 ? { problem: `${unknown.join(', ')} is not an algorithm tokens may use; use ${TOKEN_ALGORITHMS.join(', ')}` } : { value: Object.freeze([...(value as string[])]) }
    },
    description: 'Algorithms a token may be signed with (comma-separated in the environment); empty: every one the key source can verify. Never `none`, never HMAC with a public key or a JWKS.',
    env: envName('jwtAlgorithms'),
    group: 'Tokens and RPC'
  }),
  /** Required `iss` claim of every token. @default undefined (not checked) */
  jwtIssuer: option({
    schema: Type.String({ minLength: 1 }),
    default: undefined,
    defaultText: 'not checked',
    expected: 'a non-empty string',
    description: 'The `iss` claim every token must carry.',
    env: envName('jwtIssuer'),
    group: 'Tokens and RPC'
  }),
  /** Required `aud` claim of every token (one of its audiences). @default undefined (not checked) */
  jwtAudience: option({
    schema: Type.String({ minLength: 1 }),
    default: undefined,
    defaultText: 'not checked',
    expected: 'a non-empty string',
    description: 'An `aud` every token must carry.',
    env: envName('jwtAudience'),
    group: 'Tokens and RPC'
  }),
  /** How long a fetched JWKS is trusted before it is fetched again, in ms. @default 600000 */
  jwksCacheMaxAgeMs: option({
    schema: integer(1000, DAY_MS),
    default: 600_000,
    unit: 'milliseconds',
    description: 'How long a fetched JWKS is trusted before it is fetched again.',
    env: envName('jwksCacheMaxAgeMs'),
    group: 'Tokens and RPC'
  }),
  /** Least time between two JWKS fetches triggered by an unknown key id, in ms. @default 30000 */
  jwksCooldownMs: option({
    schema: integer(0, HOUR_MS),
    default: 30_000,
    unit: 'milliseconds',
    description: 'Least time between two JWKS fetches caused by a token with an unknown key id (how soon a rotated key is picked up).',
    env: envName('jwksCooldownMs'),
    group: 'Tokens and RPC'
  }),
  /** How long one JWKS fetch may take before it counts as failed (`key set unavailable`), in ms. @default 5000 */
  jwksTimeoutMs: option({
    schema: integer(100, 60_000),
    default: 5000,
    unit: 'milliseconds',
    description: 'How long one JWKS fetch may take; a fetch that takes longer fails like a refused connection (tokens that need it are refused with `key set unavailable`).',
    env: envName('jwksTimeoutMs'),
    group: 'Tokens and RPC'
  }),
  /**
   * Every connection must be identified (cookie session, bearer token, or an `auth` frame within
   * `authTimeoutMs`); an anonymous one may send only `auth` and is closed with 4400 after the timeout. @default false
   */
  requireAuth: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Every connection must be identified (cookie session, bearer token, or an `auth` frame within `authTimeoutMs`); until then it may send only `auth`, and it is closed with 4400 when the time is up.',
    env: envName('requireAuth'),
    group: 'Tokens and RPC'
  }),
  /** With `requireAuth`, how long an anonymous connection has to send a valid `auth` frame, in ms. @default 10000 */
  authTimeoutMs: option({
    schema: integer(1000, 10 * 60 * 1000),
    default: 10_000,
    unit: 'milliseconds',
    description: 'With `requireAuth`, how long an anonymous connection has to send a valid `auth` frame.',
    env: envName('authTimeoutMs'),
    group: 'Tokens and RPC'
  }),
  /** How long before its token expires, at the least, a connection gets a `refresh` frame (at most a second earlier), in ms. @default 30000 */
  tokenRefreshLeadMs: option({
    schema: integer(0, DAY_MS),
    default: 30_000,
    unit: 'milliseconds',
    description: 'How long before its token expires, at the least, a connection gets a `refresh` frame (at most a second earlier than that); without a new token by `exp` it is closed with 4401.',
    env: envName('tokenRefreshLeadMs'),
    group: 'Tokens and RPC'
  }),
  /**
   * Server-side subscriptions at connect: the channels a connection is subscribed to as soon as it
   * is welcomed (and when an anonymous one first authenticates with an `auth` frame; `request` is
   * then undefined). The client is told with `subscribed` frames and never resubscribes these itself.
   */
  subscribe: option({
    ...aFunction<(visitor: Visitor | null, request: FastifyRequest | undefined) => readonly string[] | Promise<readonly string[]>>(),
    default: undefined,
    defaultText: '—',
    description: '`(visitor, request) => channels`: server-side subscriptions made when a connection is welcomed (or first authenticates); the client gets `subscribed` frames.'
  }),
  /** Methods clients may call with `rpc` frames, by name: `{ add: { schema, handler, timeoutMs? } }`. @default {} */
  rpc: option({
    schema: opaque<Record<string, RpcMethod>>(),
    default: resolveRpc(undefined),
    defaultText: '{}',
    validate: (value) => ({ value: resolveRpc(value) }),
    description: 'Methods clients may call with `rpc` frames: `{ name: { schema, handler, timeoutMs? } }` (a TypeBox schema checked before the handler runs).'
  }),
  /** How long an RPC handler has to answer before the client gets `rpc_timeout`, in ms (a method may set its own). @default 10000 */
  rpcTimeoutMs: option({
    schema: integer(10, 10 * 60 * 1000),
    default: 10_000,
    unit: 'milliseconds',
    description: 'How long an RPC handler has to answer before the client gets `rpc_timeout` (a method may set its own).',
    env: envName('rpcTimeoutMs'),
    group: 'Tokens and RPC'
  }),
  /** How many RPCs of one connection may wait for their answers at once; one more is answered `too_many_calls`. @default 16 */
  maxRpcInFlight: option({
    schema: integer(1, 10_000),
    default: 16,
    description: 'How many RPCs of one connection may wait for their answers at once (slow handlers cannot pile up without bound); one more is answered `too_many_calls` and its handler does not run.',
    env: envName('maxRpcInFlight'),
    group: 'Tokens and RPC'
  })
})

/**
 * Options of the fastify-realtime plugin: every row of {@link OPTIONS}, optional, typed as the row's
 * schema says (a hook's or a seam's own type), documented by the row's comment; and the `prefix`
 * Fastify's `register` takes.
 */
export interface RealtimePluginOptions extends OptionsOf<typeof OPTIONS> {
  /** Route prefix, given by `register(plugin, { prefix })`. */
  prefix?: string
}

/**
 * Options after validation, with every default applied (frozen): each row's resolved value (what
 * its `validate` answers, e.g. the channel registry; `undefined` where an option is unset and has
 * no default: no adapter given, no HTTP API, no webhooks, a random resume secret), and the prefix.
 */
export interface ResolvedOptions extends ResolvedOptionsOf<typeof OPTIONS> {
  readonly prefix: string
}

/** The default of every option with a plain value, so tests and docs read the same numbers. */
export const DEFAULTS = Object.freeze(Object.fromEntries(
  Object.entries(OPTIONS).filter(([, tunable]) => ['number', 'string', 'boolean'].includes(typeof tunable.default)).map(([name, tunable]) => [name, tunable.default])
) as { readonly [K in keyof typeof OPTIONS as (typeof OPTIONS)[K]['default'] extends number | string | boolean ? K : never]: (typeof OPTIONS)[K]['default'] })

/** Options Fastify itself passes to every plugin; accepted and ignored here (but `prefix`, which the route takes). */
const FASTIFY_REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])

/**
 * Validate plugin options and apply defaults.
 * @param raw - what the application passed to `register`
 * @returns the frozen, complete options
 * @throws InvalidOptionError naming the option and what it expects
 */
export function resolveOptions (raw: RealtimePluginOptions | undefined): ResolvedOptions {
  const given: Record<string, unknown> = { ...(raw ?? {}) }
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(OPTIONS, key) && !FASTIFY_REGISTER_KEYS.has(key)) {
      throw new InvalidOptionError(key, `unknown option; known options are ${Object.keys(OPTIONS).join(', ')}`)
    }
  }
  const prefix = given.prefix
  if (prefix !== undefined && typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'expected a string')
  const resolved: Record<string, unknown> = { prefix: prefix ?? '' }
  for (const [name, tunable] of Object.entries(OPTIONS) as Array<[string, Tunable]>) {
    const value = resolveTunable(tunable, given[name])
    if (value instanceof TunableProblem) throw new InvalidOptionError(name, value.toString())
    resolved[name] = value
  }
  const options = resolved as unknown as ResolvedOptions
  // Across options: a private channel's tokens need a key to be checked with.
  if (options.channels.hasPrivate && options.jwtSecret === undefined && options.jwtPublicKey === undefined && options.jwksUrl === undefined) {
    throw new InvalidOptionError('channels', 'a private channel needs channel tokens: set jwtSecret, jwtPublicKey or jwksUrl')
  }
  // A Pusher client identifies itself with `pusher:signin`, never with our `auth` frame.
  if (options.pusher !== undefined && options.requireAuth) {
    throw new InvalidOptionError('pusher', 'cannot be combined with requireAuth (a Pusher client signs in with pusher:signin; use pusher.userAuthenticationTimeoutMs instead)')
  }
  return Object.freeze(options)
}
