/**
 * The demo server's configuration, from the environment and `.env`, validated at boot.
 *
 * The only module that reads `process.env` or a `.env` file. Its variables are the plugin's own
 * tunables ({@link OPTIONS} entries with an `env` name: `tickIntervalMs` is `TICK_INTERVAL_MS`),
 * parsed and checked by the very entries the plugin validates its options with, plus the
 * server's own settings ({@link SERVER_SETTINGS}), written down the same way. So a value can never
 * pass here and fail at registration, and a bad one is always named by its variable.
 *
 * Variables already set in the environment win over `.env` (as with fastify-cli, which loads
 * `.env` the same way); an empty value, in either, counts as unset; `process.env` is never modified.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import createError from '@fastify/error'
import { Type } from '@sinclair/typebox'
import { parse as parseDotenv } from 'dotenv'
import { API_DEFAULTS, WEBHOOK_DEFAULTS, type ApiKey, type ApiScope } from '../api/options.js'
import { OPTIONS, type ResolvedOptions } from '../options.js'
import { MAX_RATE } from '../tunables.js'

const API_SCOPES: readonly ApiScope[] = ['publish', 'broadcast', 'users', 'read', '*']
import { fromEnvText, resolveTunable, TunableProblem, type Tunable } from '../tunables.js'

/** The environment configuration failed validation; boot stops with it (the demo server's own error). */
export const InvalidConfigError = createError<[string]>('FRT_INVALID_CONFIG', 'Invalid configuration: %s', 500)

/** Log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const PROXY_ADDR_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isTrustedProxyEntry (entry: string): boolean {
  if (PROXY_ADDR_NAMES.has(entry)) return true
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (bits === undefined) return true
  const max = family === 4 ? 32 : 128
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max
}

function trustedProxies (value: unknown): { value: string[] } | { problem: string } {
  const entries = value as string[]
  for (const entry of entries) {
    if (entry === 'true' || entry === '*') return { problem: 'trusting every peer lets any client forge X-Forwarded-For; list your proxies\' addresses or CIDRs instead' }
    if (!isTrustedProxyEntry(entry)) return { problem: `entry "${entry}" is not an IP address, a CIDR range, or one of loopback, linklocal, uniquelocal` }
  }
  return { value: entries }
}

/** `name:key:scope+scope` entries of API_KEYS, as the api option's keys. */
function apiKeys (value: unknown): { value: ApiKey[] } | { problem: string } {
  const keys: ApiKey[] = []
  for (const entry of value as string[]) {
    const [name = '', key = '', scopes = '*', ...rest] = entry.split(':')
    const wanted = scopes.split('+')
    if (rest.length > 0 || !/^[\w.-]{1,64}$/.test(name) || key.length < 32 || !wanted.every((scope) => API_SCOPES.includes(scope as ApiScope))) {
      return { problem: `an entry is not name:key:scope+scope (a name of letters and digits, a key of 32+ characters, scopes among ${API_SCOPES.join(', ')})` }
    }
    keys.push({ name, key, scopes: wanted as ApiScope[] })
  }
  return { value: keys }
}

function redisUrl (value: unknown): { value: string } | { problem: string } {
  try {
    const url = new URL(value as string)
    if ((url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '') return { value: value as string }
  } catch {}
  return { problem: 'is not a valid redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379)' }
}

/** `host:port` entries of REDIS_SENTINELS, as ioredis's `sentinels` option takes them. */
function sentinelAddresses (value: unknown): { value: SentinelAddress[] } | { problem: string } {
  const addresses: SentinelAddress[] = []
  for (const entry of value as string[]) {
    // The port is after the last colon, so an IPv6 address may be written in brackets: [::1]:26379.
    const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    if (match?.[1] === undefined || port < 1 || port > 65535) return { problem: `entry "${entry}" is not host:port (e.g. 10.0.0.5:26379)` }
    addresses.push({ host: match[1].replace(/^\[|\]$/g, ''), port })
  }
  return addresses.length === 0 ? { problem: 'lists no sentinel' } : { value: addresses }
}

/** The server's own settings (not plugin options), each with its variable. */
export const SERVER_SETTINGS = Object.freeze({
  nodeEnv: {
    schema: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')]),
    default: 'development',
    expected: 'development, production or test',
    description: 'Runtime mode. Production requires SESSION_SECRET and caches templates and static assets.',
    env: 'NODE_ENV',
    group: 'Server'
  },
  port: {
    schema: Type.Integer({ minimum: 0, maximum: 65535 }),
    default: 8005,
    description: 'Port of the web app and the WebSocket (one port for both; 8005 is the tutorial\'s).',
    env: 'PORT',
    group: 'Server'
  },
  host: {
    schema: Type.String({ minLength: 1 }),
    default: 'localhost',
    expected: 'a host name or an IP address',
    description: 'Interface to listen on; 0.0.0.0 for every interface.',
    env: 'HOST',
    group: 'Server'
  },
  logLevel: {
    schema: Type.Union(LOG_LEVELS.map((level) => Type.Literal(level))),
    default: 'info',
    expected: `one of ${LOG_LEVELS.join(', ')}`,
    description: 'pino log level.',
    env: 'LOG_LEVEL',
    group: 'Server'
  },
  trustProxy: {
    schema: Type.Array(Type.String()),
    default: [],
    defaultText: '',
    expected: 'a comma-separated list of IP addresses, CIDR ranges, or loopback, linklocal, uniquelocal',
    validate: trustedProxies,
    description: 'Trusted reverse proxies: only requests arriving from these addresses have their X-Forwarded-For honoured.',
    details: 'Empty: the client IP is always the socket\'s peer address. "true" and "*" are refused: trusting every peer lets any client forge its IP. Behind nginx on the same host: TRUST_PROXY=127.0.0.1,::1',
    env: 'TRUST_PROXY',
    group: 'Server'
  },
  sessionSecret: {
    schema: Type.String({ minLength: 32 }),
    default: undefined,
    expected: 'at least 32 characters',
    secret: true,
    description: 'Signs the session cookie: at least 32 characters, e.g. `openssl rand -hex 32`.',
    details: 'Required in production. Empty in development: a random one is made at each start (with a warning), so sessions end when the server restarts. Sessions survive a restart only with this set AND `REDIS_URL` or `REDIS_SENTINELS` (without Redis they are kept in the process\'s memory).',
    env: 'SESSION_SECRET',
    group: 'Server'
  },
  metricsPort: {
    schema: Type.Integer({ minimum: 0, maximum: 65535 }),
    default: undefined,
    description: 'Serve GET /metrics (Prometheus) on a separate listener on this port, and not on PORT.',
    details: 'Empty: /metrics is served on the main port (block it at your proxy in production). Must differ from PORT; 0 picks a free port. Example: METRICS_PORT=9100',
    env: 'METRICS_PORT',
    group: 'Metrics'
  },
  metricsHost: {
    schema: Type.String({ minLength: 1 }),
    default: undefined,
    defaultText: 'HOST',
    expected: 'a host name or an IP address',
    description: 'Interface of the separate metrics listener (with METRICS_PORT only); empty: the same as HOST. Keep it reachable by Prometheus only.',
    env: 'METRICS_HOST',
    group: 'Metrics'
  },
  redisUrl: {
    schema: Type.String(),
    default: undefined,
    expected: 'a redis:// or rediss:// URL',
    validate: redisUrl,
    secret: true,
    description: 'Set it to run several nodes behind a load balancer: publications, history, presence and sessions are then shared through Redis.',
    details: 'Format: redis://[user:password@]host:port[/db] (rediss:// for TLS). Empty: everything stays in this process.',
    env: 'REDIS_URL',
    group: 'Scale-out on Redis'
  },
  redisSentinels: {
    schema: Type.Array(Type.String()),
    default: undefined,
    expected: 'comma-separated host:port entries',
    validate: sentinelAddresses,
    description: 'Instead of REDIS_URL: the Redis Sentinel deployment to ask where the master is; every Redis connection then follows a failover (see docs/operations.md).',
    details: 'Example: REDIS_SENTINELS=10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379 with REDIS_SENTINEL_NAME. Not together with REDIS_URL.',
    env: 'REDIS_SENTINELS',
    group: 'Scale-out on Redis'
  },
  redisSentinelName: {
    schema: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
    default: undefined,
    expected: 'letters, digits and _ . -',
    description: 'The master group\'s name, as the sentinels\' `sentinel monitor <name> …` says; required with REDIS_SENTINELS.',
    env: 'REDIS_SENTINEL_NAME',
    group: 'Scale-out on Redis'
  },
  apiKeys: {
    schema: Type.Array(Type.String()),
    default: [],
    defaultText: '',
    expected: 'comma-separated name:key:scope+scope entries (a key of 32+ characters; scopes publish, broadcast, users, read or *)',
    validate: apiKeys,
    secret: true,
    description: 'Turns the HTTP API on (see docs/api.md): the keys other services call it with, each with a name and what it may do.',
    details: 'Example: API_KEYS=worker:<64 hex chars>:publish,admin:<another key>:* (make keys with openssl rand -hex 32). Empty: no HTTP API.',
    env: 'API_KEYS',
    group: 'HTTP API and webhooks'
  },
  apiPrefix: {
    schema: Type.String({ pattern: '^/[A-Za-z0-9_\\-./]*$' }),
    default: '/api',
    expected: 'a path starting with /',
    description: 'Where the HTTP API\'s routes live (with API_KEYS set).',
    env: 'API_PREFIX',
    group: 'HTTP API and webhooks'
  },
  apiRateLimitPerMinute: {
    // The api option's own bound, so a value cannot pass here and fail at registration.
    schema: Type.Integer({ minimum: 1, maximum: MAX_RATE }),
    // The api option's own default (its window is a minute).
    default: API_DEFAULTS.rateLimit.max,
    unit: 'requests per minute',
    description: 'Requests each API key may make per minute (counted across nodes when on Redis); more get 429.',
    env: 'API_RATE_LIMIT_PER_MINUTE',
    group: 'HTTP API and webhooks'
  },
  webhookUrl: {
    schema: Type.String({ pattern: '^https?://' }),
    default: undefined,
    expected: 'an http:// or https:// URL',
    description: 'Where webhooks are POSTed: channel.occupied, channel.vacated, presence.join, presence.leave (see docs/api.md). Empty: no webhooks.',
    env: 'WEBHOOK_URL',
    group: 'HTTP API and webhooks'
  },
  webhookSecret: {
    schema: Type.String({ minLength: 32 }),
    default: undefined,
    expected: 'at least 32 characters',
    secret: true,
    description: 'Signs every webhook (HMAC-SHA256); required with WEBHOOK_URL.',
    env: 'WEBHOOK_SECRET',
    group: 'HTTP API and webhooks'
  },
  webhookDebounceMs: {
    schema: Type.Integer({ minimum: 0, maximum: 600_000 }),
    default: WEBHOOK_DEFAULTS.debounceMs,
    unit: 'milliseconds',
    description: 'A channel.vacated or presence.leave is sent only if nobody came back within this long (a page reload sends nothing).',
    env: 'WEBHOOK_DEBOUNCE_MS',
    group: 'HTTP API and webhooks'
  },
  pusherAppId: {
    // The pusher option's own rules (src/protocols/pusher/options.ts), so a value cannot pass here and fail at registration.
    schema: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,32}$' }),
    default: undefined,
    expected: '1 to 32 letters, digits and _ . -',
    description: 'Turns Pusher\'s protocol on for the demo (see docs/pusher.md, "The demo\'s Pusher app"): the app id the Pusher server SDKs call the HTTP API with. Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET together, or none.',
    details: 'Example: PUSHER_APP_ID=1001 PUSHER_APP_KEY=demo-key PUSHER_APP_SECRET=<openssl rand -hex 32>. The page then shows a pusher-js panel; pusher-js clients connect to /app/<key>.',
    env: 'PUSHER_APP_ID',
    group: 'Pusher protocol'
  },
  pusherAppKey: {
    schema: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
    default: undefined,
    expected: '1 to 128 letters, digits and _ . -',
    description: 'The Pusher app\'s public key: pusher-js clients connect to /app/<key>, and the demo page shows it.',
    env: 'PUSHER_APP_KEY',
    group: 'Pusher protocol'
  },
  pusherAppSecret: {
    schema: Type.String({ minLength: 8, maxLength: 1024 }),
    default: undefined,
    expected: '8 to 1024 characters',
    secret: true,
    description: 'The Pusher app\'s secret: signs channel auth (the demo\'s POST /pusher/auth), the HTTP API and webhooks. Never sent to a page nor logged.',
    env: 'PUSHER_APP_SECRET',
    group: 'Pusher protocol'
  },
  redisKeyPrefix: {
    schema: Type.String({ pattern: '^[A-Za-z0-9_:.-]{0,64}$' }),
    default: 'rt:',
    expected: 'up to 64 letters, digits and _ : . -',
    description: 'Prefix of every Redis key and pub/sub channel, so several apps can share one Redis.',
    env: 'REDIS_KEY_PREFIX',
    group: 'Scale-out on Redis'
  }
} satisfies Record<string, Tunable>)

/** The plugin options that are environment variables of the demo server. */
type EnvOptionName = { [K in keyof typeof OPTIONS]: (typeof OPTIONS)[K] extends { env: string } ? K : never }[keyof typeof OPTIONS]

/** The plugin's tunables read from the environment, resolved (their defaults where unset). */
export type EnvOptions = Pick<ResolvedOptions, EnvOptionName>

/** The validated configuration of the demo server. */
export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test'
  port: number
  host: string
  logLevel: typeof LOG_LEVELS[number]
  /** Addresses/CIDRs (or proxy-addr names) of trusted proxies; empty: X-Forwarded-For is ignored. */
  trustProxy: string[]
  sessionSecret: string
  /** True when no SESSION_SECRET was given and a random one was made (development only). */
  sessionSecretGenerated: boolean
  /** Port of a separate metrics listener; undefined: `GET /metrics` is served on the main port. */
  metricsPort: number | undefined
  /** Address the separate metrics listener binds (only with `metricsPort`). */
  metricsHost: string
  /** Redis URL: set → Redis adapter and Redis sessions (scale-out); undefined → memory (one node). */
  redisUrl: string | undefined
  /** REDIS_SENTINELS: the sentinels to ask for the master (instead of REDIS_URL); undefined: none. */
  redisSentinels: SentinelAddress[] | undefined
  /** REDIS_SENTINEL_NAME: the master group's name (with REDIS_SENTINELS). */
  redisSentinelName: string | undefined
  /**
   * Where Redis is, as the Redis connections take it (REDIS_URL, or REDIS_SENTINELS with
   * REDIS_SENTINEL_NAME); undefined: no Redis, everything stays in this process.
   */
  redis: RedisTarget | undefined
  /** Prefix of every Redis key and pub/sub channel of this app. */
  redisKeyPrefix: string
  /** The plugin options read from the environment, ready to pass to `register`. */
  realtime: EnvOptions
  /** API keys (API_KEYS); empty: no HTTP API. */
  apiKeys: ApiKey[]
  /** Where the HTTP API lives. */
  apiPrefix: string
  /** Requests per API key per minute. */
  apiRateLimitPerMinute: number
  /** Where webhooks go; undefined: none. */
  webhookUrl: string | undefined
  webhookSecret: string | undefined
  webhookDebounceMs: number
  /** The demo's Pusher app (PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET); undefined: Pusher's protocol is off. */
  pusherApp: PusherApp | undefined
}

/** A Pusher app's credentials; the secret stays on the server. */
export interface PusherApp {
  id: string
  key: string
  secret: string
}

/** A sentinel's address. */
export interface SentinelAddress {
  host: string
  port: number
}

/** Where Redis is: one server's URL, or the sentinels and the master's name. */
export type RedisTarget = { url: string } | { sentinels: SentinelAddress[], name: string }

/** Where {@link loadConfig} reads from; both default to the real process environment and `./.env`. */
export interface LoadConfigOptions {
  env?: Record<string, string | undefined>
  /** Path of the dotenv file, or false to read none. @default '.env' in the working directory */
  envFile?: string | false
}

/** Every variable of the demo server, with the setting it fills: the plugin's tunables, then the server's. */
export function environmentVariables (): Array<{ name: string, key: string, tunable: Tunable, plugin: boolean }> {
  const plugin = (Object.entries(OPTIONS) as Array<[string, Tunable]>).filter(([, tunable]) => tunable.env !== undefined)
  const server = Object.entries(SERVER_SETTINGS) as Array<[string, Tunable]>
  return [
    ...plugin.map(([key, tunable]) => ({ name: tunable.env ?? '', key, tunable, plugin: true })),
    ...server.map(([key, tunable]) => ({ name: tunable.env ?? '', key, tunable, plugin: false }))
  ]
}

function readEnvFile (path: string | false): Record<string, string> {
  if (path === false) return {}
  try {
    return parseDotenv(readFileSync(resolve(path)))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
}

/**
 * Load and validate the configuration.
 * @throws InvalidConfigError with the variable's name, its value and what it must be
 */
export function loadConfig (options: LoadConfigOptions = {}): AppConfig {
  const merged: Record<string, string> = {}
  for (const source of [readEnvFile(options.envFile ?? '.env'), options.env ?? process.env]) {
    for (const [key, value] of Object.entries(source)) {
      if (value !== undefined && value !== '') merged[key] = value
    }
  }
  const values: Record<string, unknown> = {}
  const realtime: Record<string, unknown> = {}
  for (const { name, key, tunable, plugin } of environmentVariables()) {
    const text = merged[name]
    const value = resolveTunable(tunable, text === undefined ? undefined : fromEnvText(tunable, text))
    if (value instanceof TunableProblem) {
      const got = tunable.secret === true ? `a value of ${text?.length ?? 0} characters` : JSON.stringify(text)
      throw new InvalidConfigError(`${name} (got ${got}): ${value.problem}`)
    }
    if (plugin) realtime[key] = value
    else values[key] = value
  }
  const config = values as Omit<AppConfig, 'sessionSecret' | 'sessionSecretGenerated' | 'realtime' | 'metricsHost' | 'redis' | 'pusherApp'> & { sessionSecret: string | undefined, metricsHost: string | undefined, pusherAppId: string | undefined, pusherAppKey: string | undefined, pusherAppSecret: string | undefined }
  if (config.metricsPort !== undefined && config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new InvalidConfigError(`METRICS_PORT=${config.metricsPort} is the same as PORT: give the metrics listener its own port, or unset METRICS_PORT to serve /metrics on the main port`)
  }
  if ((config.webhookUrl === undefined) !== (config.webhookSecret === undefined)) {
    throw new InvalidConfigError('WEBHOOK_URL and WEBHOOK_SECRET go together: set both to send webhooks, or neither')
  }
  if (config.redisUrl !== undefined && config.redisSentinels !== undefined) {
    throw new InvalidConfigError('REDIS_URL and REDIS_SENTINELS are two ways to reach Redis: set one (REDIS_SENTINELS with REDIS_SENTINEL_NAME for Sentinel), not both')
  }
  if ((config.redisSentinels === undefined) !== (config.redisSentinelName === undefined)) {
    throw new InvalidConfigError('REDIS_SENTINELS and REDIS_SENTINEL_NAME go together: the sentinels to ask, and the name of the master they monitor')
  }
  const pusherSet = [config.pusherAppId, config.pusherAppKey, config.pusherAppSecret].filter((value) => value !== undefined).length
  if (pusherSet !== 0 && pusherSet !== 3) {
    const missing = [['PUSHER_APP_ID', config.pusherAppId], ['PUSHER_APP_KEY', config.pusherAppKey], ['PUSHER_APP_SECRET', config.pusherAppSecret]].filter(([, value]) => value === undefined).map(([name]) => name)
    throw new InvalidConfigError(`PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET go together: set all three to turn Pusher's protocol on, or none (missing: ${missing.join(', ')})`)
  }
  if (pusherSet === 3 && realtime.requireAuth === true) {
    throw new InvalidConfigError('PUSHER_APP_ID (Pusher\'s protocol) cannot be combined with REQUIRE_AUTH=true: a Pusher client signs in with pusher:signin, never with our auth frame; unset one of them')
  }
  if (config.nodeEnv === 'production' && config.sessionSecret === undefined) {
    throw new InvalidConfigError('SESSION_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -hex 32`)')
  }
  const { pusherAppId, pusherAppKey, pusherAppSecret, ...rest } = config
  return {
    ...rest,
    pusherApp: pusherAppId !== undefined && pusherAppKey !== undefined && pusherAppSecret !== undefined ? { id: pusherAppId, key: pusherAppKey, secret: pusherAppSecret } : undefined,
    sessionSecret: config.sessionSecret ?? randomBytes(32).toString('hex'),
    sessionSecretGenerated: config.sessionSecret === undefined,
    metricsHost: config.metricsHost ?? config.host,
    redis: redisTarget(config.redisUrl, config.redisSentinels, config.redisSentinelName),
    realtime: realtime as unknown as EnvOptions
  }
}

function redisTarget (url: string | undefined, sentinels: SentinelAddress[] | undefined, name: string | undefined): RedisTarget | undefined {
  if (url !== undefined) return { url }
  if (sentinels !== undefined && name !== undefined) return { sentinels, name }
  return undefined
}
