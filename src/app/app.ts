/**
 * The demo application, as fastify-cli loads it (`fastify start -o dist/src/app/app.js`):
 * autoloads ../plugins (config, session, view, realtime) then ../routes.
 * `options` are the Fastify server options fastify-cli applies with `-o`.
 */
import { join } from 'node:path'
import autoload from '@fastify/autoload'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { exitOnBootFailure } from './boot-failure.js'
import { loadConfig, type AppConfig } from './config.js'
import { codeRoot } from './paths.js'
import { buildServerOptions } from './server-options.js'

/** Options of the demo app plugin. */
export interface AppOptions {
  /**
   * Validated configuration. Absent, the app is its own entry (fastify-cli): it loaded the
   * configuration from the environment itself and, if it cannot start, logs one fatal line and
   * exits 1, as it does for an invalid environment. Given, the caller handles a failed boot.
   */
  config?: AppConfig
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated application configuration. */
    config: AppConfig
  }
}

/**
 * Load the configuration for an entry point; on an invalid environment, print which variable is
 * wrong and exit 1, before anything listens. (This module is an entry, not library code.)
 */
function loadConfigOrExit (): AppConfig {
  try {
    return loadConfig()
  } catch (err) {
    process.stderr.write(`fastify-realtime: ${(err as Error).message}\n`)
    process.exit(1)
  }
}

/** The configuration read at import, so an invalid environment stops `fastify start` before it listens. */
export const bootConfig: AppConfig = loadConfigOrExit()

/** Fastify server options for fastify-cli (`-o`): logger with redaction, trustProxy. */
export const options: FastifyServerOptions = buildServerOptions(bootConfig)

/**
 * What the boot warns about sessions, or null. A session survives a restart only when the cookie's
 * signing secret is fixed (SESSION_SECRET) AND the sessions are kept outside the process
 * (REDIS_URL or REDIS_SENTINELS: the shared store); the warning says which of the two is missing.
 */
export function sessionWarning (config: Pick<AppConfig, 'sessionSecretGenerated' | 'redis'>): string | null {
  if (!config.sessionSecretGenerated) return null
  return config.redis === undefined
    ? 'SESSION_SECRET is not set: using a random one, and sessions are kept in this process\'s memory (REDIS_URL is not set), so they end when the server restarts. To keep them across restarts, set SESSION_SECRET and REDIS_URL (a shared session store)'
    : 'SESSION_SECRET is not set: using a random one, so sessions end when the server restarts although they are kept in Redis (set SESSION_SECRET in .env, the same on every node)'
}

/** The demo app: config decorator, then every plugin, then every route. */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const config = opts.config ?? bootConfig
  fastify.decorate('config', config)
  const warning = sessionWarning(config)
  if (warning !== null) fastify.log.warn(warning)
  try {
    await fastify.register(autoload, { dir: join(codeRoot, 'plugins'), forceESM: true, encapsulate: false })
  } catch (err) {
    // Under fastify-cli nothing else would report it but an unhandled rejection's stack trace.
    if (opts.config === undefined) exitOnBootFailure(fastify.log, err)
    throw err
  }
  await fastify.register(autoload, { dir: join(codeRoot, 'routes'), forceESM: true })
}
