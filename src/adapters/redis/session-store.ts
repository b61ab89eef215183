/**
 * A session store for @fastify/session on Redis, so a visitor keeps their session whichever node
 * they reach. Sessions are JSON under `<prefix>sess:<id>` with a TTL from the cookie's expiry.
 *
 * It takes any client with ioredis's `get`/`set`/`del` signatures (structural type), so this file
 * does not import ioredis; the connection comes from the Redis adapter module.
 * (connect-redis 8 would do this too, but needs express-session as a peer; ours is 40 lines.)
 *
 * Nor does it import @fastify/session's `Session` type: `fastify` exports `Session` only once
 * @fastify/session's declarations are loaded, and this file ships in the `fastify-realtime/redis`
 * entry, whose declarations must compile with fastify and ioredis alone.
 */
import type { FastifyRequest } from 'fastify'

/**
 * A session as the store sees it: @fastify/session's `Session` when the app loads its
 * declarations (they add `request.session`), so the class is a `SessionStore` as it is; any
 * object otherwise. Stored as JSON; its `cookie.expires` (when present) sets the key's TTL.
 */
export type StoredSession = FastifyRequest extends { session: infer S extends object } ? S : object

/** The Redis commands the store needs (ioredis's signatures). */
export interface SessionRedisCommands {
  get: (key: string) => Promise<string | null>
  set: (key: string, value: string, mode: 'PX', ttlMs: number) => Promise<unknown>
  del: (key: string) => Promise<number>
}

type Callback = (err?: unknown) => void
type SessionCallback = (err: unknown, session?: StoredSession | null) => void

/** Options of {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /** Key prefix shared with the rest of the app's Redis keys. @default 'rt:' */
  prefix?: string
  /** TTL for sessions whose cookie has no expiry, in ms. @default 86400000 (1 day) */
  defaultTtlMs?: number
}

/** @fastify/session store on Redis. */
export class RedisSessionStore {
  readonly #redis: SessionRedisCommands
  readonly #prefix: string
  readonly #defaultTtlMs: number

  constructor (redis: SessionRedisCommands, options: RedisSessionStoreOptions = {}) {
    this.#redis = redis
    this.#prefix = `${options.prefix ?? 'rt:'}sess:`
    this.#defaultTtlMs = options.defaultTtlMs ?? 86_400_000
  }

  /** Store a session until its cookie expires. */
  set (sessionId: string, session: StoredSession, callback: Callback): void {
    const ttlMs = this.#ttlOf(session)
    if (ttlMs <= 0) {
      this.destroy(sessionId, callback)
      return
    }
    this.#redis.set(this.#prefix + sessionId, JSON.stringify(session), 'PX', ttlMs).then(() => callback(), callback)
  }

  /** Load a session (null when absent or expired). */
  get (sessionId: string, callback: SessionCallback): void {
    this.#redis.get(this.#prefix + sessionId).then((json) => {
      callback(null, json === null ? null : JSON.parse(json) as StoredSession)
    }, (err: unknown) => callback(err))
  }

  /** Delete a session. */
  destroy (sessionId: string, callback: Callback): void {
    this.#redis.del(this.#prefix + sessionId).then(() => callback(), callback)
  }

  #ttlOf (session: StoredSession): number {
    const cookie = (session as { cookie?: { expires?: Date | string | null } }).cookie
    if (cookie?.expires === undefined || cookie.expires === null) return this.#defaultTtlMs
    return new Date(cookie.expires).getTime() - Date.now()
  }
}
