/**
 * Test helpers: build the demo app (or a bare app with the plugin) per test, capture its logs,
 * listen on a free port, and close everything on teardown.
 */
import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import pino from 'pino'
import app from '../../src/app/app.js'
import { loadConfig, type AppConfig } from '../../src/app/config.js'
import { buildServerOptions } from '../../src/app/server-options.js'

/** A minimal view of tap's test object, enough for teardown. */
export interface TestLike {
  teardown: (fn: () => unknown) => void
}

/** A JSON log line as pino writes it. */
export type LogLine = Record<string, unknown> & { msg?: string, level: number }

/** Collects pino's output as parsed lines. */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = []

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() !== '') this.lines.push(JSON.parse(line) as LogLine)
    }
    callback()
  }

  /** Lines whose `msg` is exactly `msg`. */
  withMessage (msg: string): LogLine[] {
    return this.lines.filter((line) => line.msg === msg)
  }

  /** Resolve once a line with `msg` (and matching `where`) has been logged. */
  async waitFor (msg: string, where: (line: LogLine) => boolean = () => true, timeoutMs = 5000): Promise<LogLine> {
    const started = Date.now()
    for (;;) {
      const found = this.lines.find((line) => line.msg === msg && where(line))
      if (found) return found
      if (Date.now() - started > timeoutMs) throw new Error(`log line "${msg}" not seen within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}

/** A pino logger at `level` writing to `logs`, typed for Fastify's `loggerInstance`. */
export function testLogger (logs: LogCapture, level = 'info'): FastifyBaseLogger {
  return pino({ level }, logs)
}

/** Configuration for tests: defaults, no .env file, overridable. */
export function testConfig (overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'info', SESSION_SECRET: 'a-test-secret-that-is-long-enough-0123456789', ...overrides }, envFile: false })
}

/** Fastify options for a test app whose logs go to `logs`. */
export function testServerOptions (config: AppConfig, logs: LogCapture): FastifyServerOptions {
  const { logger, ...rest } = buildServerOptions(config)
  const loggerOptions = typeof logger === 'object' && logger !== null ? logger : {}
  return { ...rest, loggerInstance: pino(loggerOptions as pino.LoggerOptions, logs) }
}

/** The demo app, as `fastify start` builds it, with captured logs. Closed on teardown. */
export async function buildApp (t: TestLike, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, logs: LogCapture, config: AppConfig }> {
  const config = testConfig(env)
  const logs = new LogCapture()
  const server = Fastify(testServerOptions(config, logs))
  await server.register(app, { config })
  t.teardown(() => server.close())
  await server.ready()
  return { app: server, logs, config }
}

/** Listen on a free loopback port. @returns the base ws:// and http:// URLs */
export async function listen (server: FastifyInstance, host = '127.0.0.1'): Promise<{ http: string, ws: string, port: number }> {
  await server.listen({ port: 0, host })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { http: `http://${host}:${address.port}`, ws: `ws://${host}:${address.port}`, port: address.port }
}
