/**
 * Application configuration from the environment and `.env`, validated at boot.
 *
 * The only module that reads `process.env` or a `.env` file. Variables already set in the
 * environment win over `.env` (as with fastify-cli, which loads `.env` the same way), and
 * `process.env` is never modified. An invalid value throws {@link InvalidConfigError} naming it.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import createError from '@fastify/error'
import envSchema from 'env-schema'

/** The environment configuration failed validation; boot stops with it (the demo server's own error). */
export const InvalidConfigError = createError<[string]>('FRT_INVALID_CONFIG', 'Invalid configuration: %s', 500)

/** Log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The validated configuration of the demo server. */
export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test'
  port: number
  host: string
  logLevel: typeof LOG_LEVELS[number]
  tickIntervalMs: number
  /** Addresses/CIDRs (or proxy-addr names) of trusted proxies; empty: X-Forwarded-For is ignored. */
  trustProxy: string[]
  sessionSecret: string
  /** True when no SESSION_SECRET was given and a random one was made (development only). */
  sessionSecretGenerated: boolean
  closeGraceMs: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  maxBufferedBytes: number
  maxPayloadBytes: number
  /** Origins allowed to open a socket from a browser; empty: the Host's own origin only; `['*']`: any. */
  allowedOrigins: string[]
  requireOrigin: boolean
  requireSession: boolean
  maxConnectionsPerIp: number
  maxConnections: number
  handshakeRatePerSec: number
  handshakeBurst: number
  messageRatePerSec: number
  messageBurst: number
  /** Port of a separate metrics listener; undefined: `GET /metrics` is served on the main port. */
  metricsPort: number | undefined
  /** Address the separate metrics listener binds (only with `metricsPort`). */
  metricsHost: string
  /** Redis URL: set → Redis adapter and Redis sessions (scale-out); undefined → memory (one node). */
  redisUrl: string | undefined
  /** Prefix of every Redis key and pub/sub channel of this app. */
  redisKeyPrefix: string
  /** A presence entry not refreshed for this long disappears (a node that died leaves presence within it). */
  presenceTtlMs: number
}

/** Where {@link loadConfig} reads from; both default to the real process environment and `./.env`. */
export interface LoadConfigOptions {
  env?: Record<string, string | undefined>
  /** Path of the dotenv file, or false to read none. @default '.env' in the working directory */
  envFile?: string | false
}

const schema = {
  type: 'object',
  properties: {
    NODE_ENV: { type: 'string', enum: ['development', 'production', 'test'], default: 'development' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8005 },
    HOST: { type: 'string', minLength: 1, default: 'localhost' },
    LOG_LEVEL: { type: 'string', enum: [...LOG_LEVELS], default: 'info' },
    TICK_INTERVAL_MS: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 3000 },
    TRUST_PROXY: { type: 'string', default: '' },
    SESSION_SECRET: { type: 'string', minLength: 32 },
    CLOSE_GRACE_MS: { type: 'integer', minimum: 0, maximum: 600_000, default: 10_000 },
    HEARTBEAT_INTERVAL_MS: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 25_000 },
    HEARTBEAT_TIMEOUT_MS: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 10_000 },
    MAX_BUFFERED_BYTES: { type: 'integer', minimum: 1024, maximum: 1_073_741_824, default: 1_048_576 },
    MAX_PAYLOAD_BYTES: { type: 'integer', minimum: 1, maximum: 67_108_864, default: 65_536 },
    ALLOWED_ORIGINS: { type: 'string', default: '' },
    REQUIRE_ORIGIN: { type: 'boolean', default: false },
    REQUIRE_SESSION: { type: 'boolean', default: false },
    MAX_CONNECTIONS_PER_IP: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 64 },
    MAX_CONNECTIONS: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 10_000 },
    HANDSHAKE_RATE_PER_SEC: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20 },
    HANDSHAKE_BURST: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 40 },
    MESSAGE_RATE_PER_SEC: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20 },
    MESSAGE_BURST: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 40 },
    METRICS_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    METRICS_HOST: { type: 'string', minLength: 1 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
    REDIS_KEY_PREFIX: { type: 'string', pattern: '^[A-Za-z0-9_:.-]{0,64}$', default: 'rt:' },
    PRESENCE_TTL_MS: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 30_000 }
  }
} as const

interface RawEnv {
  NODE_ENV: AppConfig['nodeEnv']
  PORT: number
  HOST: string
  LOG_LEVEL: AppConfig['logLevel']
  TICK_INTERVAL_MS: number
  TRUST_PROXY: string
  SESSION_SECRET?: string
  CLOSE_GRACE_MS: number
  HEARTBEAT_INTERVAL_MS: number
  HEARTBEAT_TIMEOUT_MS: number
  MAX_BUFFERED_BYTES: number
  MAX_PAYLOAD_BYTES: number
  ALLOWED_ORIGINS: string
  REQUIRE_ORIGIN: boolean
  REQUIRE_SESSION: boolean
  MAX_CONNECTIONS_PER_IP: number
  MAX_CONNECTIONS: number
  HANDSHAKE_RATE_PER_SEC: number
  HANDSHAKE_BURST: number
  MESSAGE_RATE_PER_SEC: number
  MESSAGE_BURST: number
  METRICS_PORT?: number
  METRICS_HOST?: string
  REDIS_URL?: string
  REDIS_KEY_PREFIX: string
  PRESENCE_TTL_MS: number
}

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

function parseTrustProxy (value: string): string[] {
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  for (const entry of entries) {
    if (entry === 'true' || entry === '*') {
      throw new InvalidConfigError(`TRUST_PROXY="${value}": trusting every peer lets any client forge X-Forwarded-For; list your proxies' addresses or CIDRs instead`)
    }
    if (!isTrustedProxyEntry(entry)) {
      throw new InvalidConfigError(`TRUST_PROXY entry "${entry}" is not an IP address, a CIDR range, or one of loopback, linklocal, uniquelocal`)
    }
  }
  return entries
}

function parseRedisUrl (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  try {
    const url = new URL(value)
    if (url.hostname === '') throw new Error('no host')
  } catch {
    throw new InvalidConfigError(`REDIS_URL="${value}" is not a valid redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379)`)
  }
  return value
}

function parseAllowedOrigins (value: string): string[] {
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  for (const entry of entries) {
    if (entry === '*') continue
    let url: URL | null = null
    try { url = new URL(entry) } catch { url = null }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry) {
      throw new InvalidConfigError(`ALLOWED_ORIGINS entry "${entry}" is not an origin; write scheme://host[:port] with no path or trailing slash, e.g. https://app.example.com`)
    }
  }
  if (entries.includes('*') && entries.length > 1) throw new InvalidConfigError('ALLOWED_ORIGINS: "*" allows every origin and cannot be combined with others')
  return entries
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
 * @throws InvalidConfigError with the variable's name and what it must be
 */
export function loadConfig (options: LoadConfigOptions = {}): AppConfig {
  const fromFile = readEnvFile(options.envFile ?? '.env')
  // Set variables win over the file. An empty value, in either, counts as unset so the default
  // applies: `.env.example` lists optional variables empty, and a copy of it must boot as it is.
  const merged: Record<string, string> = {}
  for (const source of [fromFile, options.env ?? process.env]) {
    for (const [key, value] of Object.entries(source)) {
      if (value !== undefined && value !== '') merged[key] = value
    }
  }
  let raw: RawEnv
  try {
    raw = envSchema<RawEnv>({ schema, data: merged, env: false, dotenv: false })
  } catch (err) {
    // env-schema says e.g. "env/TICK_INTERVAL_MS must be integer"; name the value too.
    const message = (err as Error).message.replace(/env\/(\w+)/g, (_match, name: string) => `${name} (got ${JSON.stringify(merged[name] ?? '')})`)
    throw new InvalidConfigError(message)
  }
  if (raw.METRICS_PORT !== undefined && raw.METRICS_PORT !== 0 && raw.METRICS_PORT === raw.PORT) {
    throw new InvalidConfigError(`METRICS_PORT=${raw.METRICS_PORT} is the same as PORT: give the metrics listener its own port, or unset METRICS_PORT to serve /metrics on the main port`)
  }
  if (raw.NODE_ENV === 'production' && raw.SESSION_SECRET === undefined) {
    throw new InvalidConfigError('SESSION_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -hex 32`)')
  }
  return {
    nodeEnv: raw.NODE_ENV,
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    tickIntervalMs: raw.TICK_INTERVAL_MS,
    trustProxy: parseTrustProxy(raw.TRUST_PROXY),
    sessionSecret: raw.SESSION_SECRET ?? randomBytes(32).toString('hex'),
    sessionSecretGenerated: raw.SESSION_SECRET === undefined,
    closeGraceMs: raw.CLOSE_GRACE_MS,
    heartbeatIntervalMs: raw.HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: raw.HEARTBEAT_TIMEOUT_MS,
    maxBufferedBytes: raw.MAX_BUFFERED_BYTES,
    maxPayloadBytes: raw.MAX_PAYLOAD_BYTES,
    allowedOrigins: parseAllowedOrigins(raw.ALLOWED_ORIGINS),
    requireOrigin: raw.REQUIRE_ORIGIN,
    requireSession: raw.REQUIRE_SESSION,
    maxConnectionsPerIp: raw.MAX_CONNECTIONS_PER_IP,
    maxConnections: raw.MAX_CONNECTIONS,
    handshakeRatePerSec: raw.HANDSHAKE_RATE_PER_SEC,
    handshakeBurst: raw.HANDSHAKE_BURST,
    messageRatePerSec: raw.MESSAGE_RATE_PER_SEC,
    messageBurst: raw.MESSAGE_BURST,
    metricsPort: raw.METRICS_PORT,
    metricsHost: raw.METRICS_HOST ?? raw.HOST,
    redisUrl: parseRedisUrl(raw.REDIS_URL),
    redisKeyPrefix: raw.REDIS_KEY_PREFIX,
    presenceTtlMs: raw.PRESENCE_TTL_MS
  }
}
