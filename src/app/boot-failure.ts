/**
 * What an entry point does when the app cannot start (its Redis unreachable, a port taken):
 * one fatal log line that says what and why, then exit 1. A known, coded failure is an
 * operator's problem and gets no stack trace; anything else is a bug and keeps its stack.
 */
import type { FastifyBaseLogger } from 'fastify'

/** Log why boot failed, in one line. */
export function logBootFailure (log: FastifyBaseLogger, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err))
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && (code.startsWith('FRT_') || code.startsWith('E'))) {
    log.fatal({ code }, error.message.startsWith('fastify-realtime:') ? error.message : `fastify-realtime: cannot start: ${error.message}`)
  } else {
    log.fatal({ err: error }, 'fastify-realtime: cannot start')
  }
}

/** Log why boot failed and exit 1 (entry points only). */
export function exitOnBootFailure (log: FastifyBaseLogger, err: unknown): never {
  logBootFailure(log, err)
  process.exit(1)
}
