/**
 * Fastify server options derived from the configuration: logger (with credentials censored) and
 * trustProxy. Shared by the fastify-cli entry (`app.ts`) and the plain node entry (`server.ts`).
 */
import type { FastifyServerOptions } from 'fastify'
import { stdSerializers } from 'pino'
import type { AppConfig } from './config.js'
import { redactHeaders, redactLogObject, serializeErrorRedacted, serializeRequestRedacted } from './log-redaction.js'

/**
 * Build Fastify's constructor options.
 * `trustProxy` gets the configured proxy list, or false: without a configured proxy,
 * X-Forwarded-For is ignored and `request.ip` is the socket's peer.
 */
export function buildServerOptions (config: AppConfig): FastifyServerOptions {
  return {
    logger: {
      level: config.logLevel,
      // Credentials are censored by log-redaction.ts (see there why not pino's `redact`); request
      // lines show paths without their query strings.
      formatters: { log: redactLogObject },
      serializers: { req: serializeRequestRedacted, headers: redactHeaders, err: serializeErrorRedacted(stdSerializers.err) }
    },
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    // Never hang up a request because a client was slow to send its headers, but do bound it.
    requestTimeout: 30_000
  }
}
