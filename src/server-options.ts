/**
 * Fastify server options derived from the configuration: logger (with secrets redacted) and
 * trustProxy. Shared by the fastify-cli entry (`app.ts`) and the plain node entry (`server.ts`).
 */
import type { FastifyServerOptions } from 'fastify'
import type { AppConfig } from './config.js'

/** Header names whose values are credentials: a session cookie or a token. */
const SECRET_HEADERS = ['cookie', 'authorization', 'proxy-authorization', 'set-cookie']

/**
 * Paths pino must never print: session cookies and credentials, in a headers object logged at
 * the top level (`{ headers }`) or one level down (`{ req: { headers } }`, `{ request: … }`,
 * `{ res: … }`, `{ upgrade: … }`), whoever logs it.
 */
export const REDACTED_LOG_PATHS = SECRET_HEADERS.flatMap((name) => [`headers["${name}"]`, `*.headers["${name}"]`])

/**
 * Build Fastify's constructor options.
 * `trustProxy` gets the configured proxy list, or false: without a configured proxy,
 * X-Forwarded-For is ignored and `request.ip` is the socket's peer.
 */
export function buildServerOptions (config: AppConfig): FastifyServerOptions {
  return {
    logger: {
      level: config.logLevel,
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }
    },
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    // Never hang up a request because a client was slow to send its headers, but do bound it.
    requestTimeout: 30_000
  }
}
