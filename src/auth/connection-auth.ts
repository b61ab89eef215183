/**
 * Authentication on an open connection: the `auth` frame (a browser's token, since a browser
 * cannot set headers on a WebSocket, and every refreshed token), and the deadlines that follow a
 * token: a `refresh` frame at least `tokenRefreshLeadMs` before it expires (at most one bucket,
 * a second, more: the deadline is set a bucket early, since the wheel fires within a bucket
 * after a deadline, never before it), and a close with 4401 when it
 * expires without a new one. With `requireAuth`, an anonymous socket gets `authTimeoutMs` to
 * authenticate, else it is closed with 4400, and meanwhile only `auth` is answered.
 *
 * Every deadline of every connection lives on ONE {@link DeadlineWheel} (coarse buckets, one
 * timer): ten thousand tokens expiring in the same second are one bucket, never ten thousand timers.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ClientErrorCode, CloseCode, CloseReason } from '../errors.js'
import { connectionSlotIndex, type Connection } from '../node/connection.js'
import { DeadlineWheel } from '../node/deadline-wheel.js'
import type { WheelClock } from '../node/timer-wheel.js'
import type { Visitor } from '../node/visitor.js'
import type { AuthRequest, ClientMessage } from '../protocols/ours/client-messages.js'
import type { ErrorMessage } from '../protocols/ours/server-messages.js'
import type { MessageFlow } from '../node/realtime-node.js'
import type { Identity } from './identity.js'
import type { TokenRefusal, TokenVerifier } from './tokens.js'

/** Width of a deadline bucket: a token expiry fires within a second after `exp`. */
export const AUTH_BUCKET_MS = 1000

/** What a connection's auth deadline is for (kept in `connection.authPhase`). */
const Phase = Object.freeze({ NONE: 0, REFRESH: 1, EXPIRE: 2, AUTH_TIMEOUT: 3 })

/** What {@link ConnectionAuth} needs from the node and the options. */
export interface ConnectionAuthOptions {
  /** Null: tokens are off (no `auth` frame, no token deadlines). */
  tokens: TokenVerifier | null
  requireAuth: boolean
  authTimeoutMs: number
  refreshLeadMs: number
  /** The node's one-message send path, and its hold and release of a connection's messages. */
  node: MessageFlow
  /** An anonymous connection was identified by an `auth` frame. */
  onIdentified: (connection: Connection, visitor: Visitor) => void
  log: FastifyBaseLogger
  clock?: WheelClock
}

/** What the auth deadlines hold, for leak checks. */
export interface AuthResources {
  /** Connections with a deadline (refresh, expiry or auth timeout). */
  authDeadlines: number
  /** Buckets of the deadline wheel (ten thousand sockets expiring in one second: one). */
  authBuckets: number
  /** Whether the deadline wheel's one timer is armed. */
  authTimerArmed: boolean
}

/** See the module comment. */
export class ConnectionAuth {
  readonly #options: ConnectionAuthOptions
  readonly #wheel: DeadlineWheel<Connection>
  readonly #now: () => number

  constructor (options: ConnectionAuthOptions) {
    this.#options = options
    this.#now = options.clock?.now ?? Date.now
    this.#wheel = new DeadlineWheel({
      bucketMs: AUTH_BUCKET_MS,
      slotIndex: connectionSlotIndex('authSlot'),
      onExpire: (due) => { this.#expire(due) },
      ...(options.clock === undefined ? {} : { clock: options.clock })
    })
  }

  /** Whether `auth` frames are taken (a token key is configured). */
  get enabled (): boolean {
    return this.#options.tokens !== null
  }

  /** What the deadlines hold now. */
  resources (): AuthResources {
    return { authDeadlines: this.#wheel.size, authBuckets: this.#wheel.buckets, authTimerArmed: this.#wheel.running }
  }

  /** A connection was accepted with `identity`: schedule its token's refresh, or its auth timeout. */
  start (connection: Connection, identity: Identity): void {
    if (identity.expiresAt !== null) {
      this.#scheduleRefresh(connection, identity.expiresAt)
    } else if (this.#options.requireAuth && connection.visitor === null) {
      connection.authPhase = Phase.AUTH_TIMEOUT
      this.#wheel.schedule(connection, this.#now() + this.#options.authTimeoutMs)
    }
  }

  /** The connection closed: forget its deadline. */
  remove (connection: Connection): void {
    this.#wheel.cancel(connection)
  }

  /** Stop every deadline (the node drains or closes). */
  stop (): void {
    this.#wheel.clear()
  }

  /**
   * The node's message guard: with `requireAuth`, an anonymous connection may only send `auth`,
   * or `resume` (which may bring its identity back).
   */
  guard (connection: Connection, message: ClientMessage): Pick<ErrorMessage, 'code' | 'message'> | null {
    if (!this.#options.requireAuth || connection.visitor !== null || message.type === 'auth' || message.type === 'resume') return null
    return { code: ClientErrorCode.AUTH_REQUIRED, message: 'Authenticate first: send {"type":"auth","token":"…"}.' }
  }

  /**
   * An `auth` frame: verify its token (holding the connection's next messages meanwhile), then
   * take the identity and its new expiry, or refuse with `token_invalid` and close with 4403.
   */
  authenticate (connection: Connection, message: AuthRequest): void {
    const tokens = this.#options.tokens
    if (tokens === null) return
    this.#options.node.hold(connection)
    tokens.verifyConnection(message.token).then((verified) => {
      if (connection.closed) return
      const current = connection.visitor
      if (current !== null && current.id !== verified.visitor.id) {
        this.#refuse(connection, message, 'a token for another user')
        return
      }
      connection.visitor = verified.visitor
      this.#scheduleRefresh(connection, verified.expiresAt)
      connection.log.debug({ visitor: verified.visitor.id, expiresAt: verified.expiresAt }, current === null ? 'authenticated' : 'token refreshed')
      if (message.id !== undefined) this.#options.node.sendTo(connection, { type: 'ack', id: message.id, visitor: verified.visitor.id, expiresAt: verified.expiresAt })
      if (current === null) this.#options.onIdentified(connection, verified.visitor)
    }, (refusal: TokenRefusal) => {
      if (!connection.closed) this.#refuse(connection, message, refusal.message)
    }).finally(() => {
      this.#options.node.release(connection)
    })
  }

  #refuse (connection: Connection, message: AuthRequest, reason: string): void {
    connection.log.warn({ reason }, 'token refused: closing')
    const error: ErrorMessage = { type: 'error', code: ClientErrorCode.TOKEN_INVALID, message: `Token refused: ${reason}.` }
    if (message.id !== undefined) error.id = message.id
    this.#options.node.sendTo(connection, error)
    connection.close(CloseCode.TOKEN_INVALID, `${CloseReason.TOKEN_INVALID}: ${reason}`)
  }

  #scheduleRefresh (connection: Connection, expiresAt: number): void {
    connection.tokenExpiresAt = expiresAt
    connection.authPhase = Phase.REFRESH
    // A bucket early: the wheel fires up to a bucket after a deadline, and the lead is a promise.
    this.#wheel.schedule(connection, Math.max(this.#now(), expiresAt - this.#options.refreshLeadMs - AUTH_BUCKET_MS))
  }

  #expire (due: ReadonlySet<Connection>): void {
    for (const connection of due) {
      if (connection.closed) continue
      const phase = connection.authPhase
      connection.authPhase = Phase.NONE
      if (phase === Phase.REFRESH) {
        // Ask for a new token; the socket is closed at expiry unless one comes.
        connection.authPhase = Phase.EXPIRE
        this.#wheel.schedule(connection, connection.tokenExpiresAt)
        this.#options.node.sendTo(connection, { type: 'refresh', expiresAt: connection.tokenExpiresAt })
      } else if (phase === Phase.EXPIRE) {
        connection.log.info({ expiredAt: connection.tokenExpiresAt }, 'token expired: closing')
        connection.close(CloseCode.TOKEN_EXPIRED, CloseReason.TOKEN_EXPIRED)
      } else if (phase === Phase.AUTH_TIMEOUT && connection.visitor === null) {
        connection.log.info({ authTimeoutMs: this.#options.authTimeoutMs }, 'no authentication in time: closing')
        connection.close(CloseCode.AUTH_REQUIRED, CloseReason.AUTH_REQUIRED)
      }
    }
  }
}
