/**
 * The upgrade gate: checks that run in a Fastify `onRequest` hook on the upgrade request, before
 * the 101, so a refused client gets an ordinary HTTP status and costs no WebSocket.
 *
 * In order: draining (503), handshake rate per IP (429), Origin allow-list (403), identity (the
 * ONE resolver of auth/identity.ts: a refused bearer token is 401, and with `requireSession` so is
 * no identity), concurrent connections per IP (429) and in total (503), then admission pacing:
 * past the node's admission rate a newcomer waits its turn (limits/admission.ts), and is refused
 * (503) only when the line is too long. Every refusal is logged with its reason and counted
 * through `metrics.upgradeRejected`. The IP is the trusted-proxy-aware client IP, so writing
 * `X-Forwarded-For` does not move a client into another IP's budget.
 *
 * {@link UpgradeGate.admit} is the gate itself, for any transport's opening request; the
 * `onRequest` hook runs it (and the admission pacing) on WebSocket upgrades, and
 * {@link UpgradeGate.onStreamRequest} on every request of an event stream's route. The identity
 * it resolved is handed to the transport with {@link UpgradeGate.identityOf}.
 */
import type { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { clientIp, normalizeIp } from './client-ip.js'
import { Admission } from '../limits/admission.js'
import { ConnectionSlots } from '../limits/connection-slots.js'
import {
  DrainingError, ForbiddenOriginError, HandshakeRateError, ServerBusyError, ServerFullError, SessionRequiredError, TokenInvalidError, TooManyConnectionsPerIpError,
  UpgradeRefusal, type UpgradeRejection
} from '../errors.js'
import { ANONYMOUS, type Identity, type IdentityResolver } from '../auth/identity.js'
import { TokenRefusal } from '../auth/tokens.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { ReadinessProbe } from '../node/readiness.js'
import { KeyedTokenBuckets } from '../limits/token-bucket.js'

/** The gate's settings: the plugin's options of these names, once resolved. */
export interface UpgradeGateSettings {
  readonly allowedOrigins: readonly string[]
  readonly requireOrigin: boolean
  readonly requireSession: boolean
  readonly maxConnectionsPerIp: number
  readonly maxConnections: number
  readonly handshakeRatePerSec: number
  readonly handshakeBurst: number
  readonly admissionRatePerSec: number
  readonly admissionBurst: number
  readonly maxAdmissionWaitMs: number
}

/** What the gate needs from the plugin. */
export interface UpgradeGateInit {
  options: UpgradeGateSettings
  /** Who is connecting: the one resolver every transport's opening request goes through. */
  identity: IdentityResolver
  metrics: RealtimeMetrics
  /** The node, read for whether it is draining. */
  node: { readonly draining: boolean }
}

/** Counts the gate holds, for leak checks. */
export interface UpgradeGateState {
  /** Connection slots held (open sockets plus handshakes in flight). */
  slots: number
  /** IPs holding a slot. */
  slotIps: number
  /** IPs whose handshake bucket is not full yet. */
  rateLimitedIps: number
  /** Handshakes holding a slot that have not become connections yet. */
  handshakesInFlight: number
  /** Newcomers waiting for their turn (admission pacing). */
  admissionWaiting: number
}

/** A listener of a server's `upgrade` event, as `EventEmitter.removeListener` takes it. */
export type UpgradeListener = Parameters<EventEmitter['removeListener']>[1]

/** Why the gate refused an opening request: the reason (log, metric) and the coded HTTP error. */
export interface GateRefusal {
  reason: UpgradeRejection
  error: Error
}

/** Seconds a client refused by a draining node should wait, sent as `Retry-After`. */
export const DRAINING_RETRY_AFTER_SECONDS = 5
const RETRY_AFTER_SECONDS: Partial<Record<UpgradeRejection, number>> = {
  [UpgradeRefusal.RATE]: 1,
  [UpgradeRefusal.PER_IP_LIMIT]: 5,
  [UpgradeRefusal.GLOBAL_LIMIT]: 5,
  [UpgradeRefusal.DRAINING]: DRAINING_RETRY_AFTER_SECONDS
}

/**
 * Whether an Origin header is acceptable.
 * @param origin - the request's Origin header
 * @param host - the request's host (trusted-proxy aware), for the same-origin default
 * @param allowed - normalised allow-list; empty means same origin only; `['*']` means any
 */
export function originAllowed (origin: string, host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed[0] === '*') return true
  let parsed: URL
  try {
    parsed = new URL(origin)
  } catch {
    return false // "null" (sandboxed iframes, file://) and garbage
  }
  if (allowed.length > 0) return allowed.includes(parsed.origin)
  // Same origin as the Host: compare host[:port]. The scheme is not compared, because behind a
  // TLS-terminating proxy the page is https while this server sees plain http.
  return host !== undefined && parsed.host === host.toLowerCase()
}

/**
 * The upgrade gate of one plugin instance.
 *
 * A connection slot taken here is held until the socket closes. While the handshake is in flight
 * the TCP socket's `close` releases it (one listener shared by every socket, and a map entry that
 * lives only as long as the handshake); once the connection is in service, {@link adopt} hands
 * the slot over and the connection's close releases it ({@link release}), so an idle socket
 * carries no listener or closure of the gate.
 */
export class UpgradeGate {
  readonly #init: UpgradeGateInit
  readonly #slots: ConnectionSlots
  readonly #handshakes: KeyedTokenBuckets
  /** Sockets of handshakes that hold a slot and have not been adopted, with the slot's IP. */
  readonly #inFlight = new Map<EventEmitter, string>()
  /** `close` listener of in-flight handshake sockets; `this` is the socket. */
  readonly #onHandshakeSocketClose: (this: EventEmitter) => void
  /** The identity each admitted request resolved to, until its transport takes it. */
  readonly #identities = new WeakMap<FastifyRequest, Identity>()

  readonly #admission: Admission
  /** The `onRequest` hook; it lets every request that is not a WebSocket upgrade through. */
  readonly onRequest: onRequestHookHandler
  /** The same checks for a request that opens an event stream (every request of its route). */
  readonly onStreamRequest: onRequestHookHandler

  constructor (init: UpgradeGateInit) {
    this.#init = init
    const { options } = init
    this.#slots = new ConnectionSlots({ maxPerIp: options.maxConnectionsPerIp, maxTotal: options.maxConnections })
    this.#handshakes = new KeyedTokenBuckets({ ratePerSec: options.handshakeRatePerSec, burst: options.handshakeBurst })
    this.#admission = new Admission({ ratePerSec: options.admissionRatePerSec, burst: options.admissionBurst, maxWaitMs: options.maxAdmissionWaitMs })
    const inFlight = this.#inFlight
    const slots = this.#slots
    this.#onHandshakeSocketClose = function (this: EventEmitter): void {
      const ip = inFlight.get(this)
      if (ip === undefined) return
      inFlight.delete(this)
      slots.release(ip)
    }
    this.onRequest = (request, reply, done) => {
      // `request.ws` is set by @fastify/websocket for requests that arrived as an upgrade.
      if (request.ws !== true) {
        done()
        return
      }
      this.#pass(request, reply, done)
    }
    this.onStreamRequest = (request, reply, done) => { this.#pass(request, reply, done) }
  }

  /** The gate ({@link admit}), then the newcomer's turn (admission pacing). */
  #pass (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    this.admit(request).then((refusal) => {
      if (refusal !== null) {
        this.#refuse(request, reply, refusal)
        return
      }
      const socket = request.raw.socket as EventEmitter & { destroyed?: boolean } | undefined
      const retryAfter = this.#admission.request({
        admit: () => { done() },
        cancel: () => {
          this.abandon(socket)
          this.#refuse(request, reply, { reason: UpgradeRefusal.DRAINING, error: new DrainingError() })
        },
        gone: () => socket?.destroyed === true
      })
      if (retryAfter === null) return
      this.abandon(socket)
      this.#refuse(request, reply, { reason: UpgradeRefusal.BUSY, error: new ServerBusyError() }, retryAfter)
    }, (err: Error) => { done(err) })
  }

  /** Turn away the newcomers waiting for their turn (the node is draining). */
  cancelWaiting (): void {
    this.#admission.cancelAll()
  }

  /**
   * Give back the slot of a handshake that will not become a connection after all (its turn was
   * refused, or an event stream's request proved invalid after the checks).
   */
  abandon (socket: unknown): void {
    const ip = this.#inFlight.get(socket as EventEmitter)
    if (ip !== undefined && this.adopt(socket)) this.#slots.release(ip)
  }

  /**
   * Run the gate on an opening request (a WebSocket upgrade, an event stream): every check, the
   * identity, and a connection slot, held until the request's TCP socket closes or its connection
   * {@link adopt}s it.
   * @returns null when the request may proceed, else why not (answer it with {@link GateRefusal.error})
   * @throws what the application's `identify` threw
   */
  async admit (request: FastifyRequest): Promise<GateRefusal | null> {
    const { options } = this.#init
    if (this.#init.node.draining) return { reason: UpgradeRefusal.DRAINING, error: new DrainingError() }
    const ip = clientIp(request)
    if (!this.#handshakes.take(ip)) return { reason: UpgradeRefusal.RATE, error: new HandshakeRateError() }
    const origin = request.headers.origin
    if (origin === undefined ? options.requireOrigin : !originAllowed(origin, request.host, options.allowedOrigins)) {
      return { reason: UpgradeRefusal.ORIGIN, error: new ForbiddenOriginError(origin ?? '(none)') }
    }
    let identity: Identity
    try {
      identity = await this.#init.identity.resolve(request)
    } catch (err) {
      if (err instanceof TokenRefusal) return { reason: UpgradeRefusal.TOKEN, error: new TokenInvalidError(err.message) }
      throw err
    }
    if (options.requireSession && identity.visitor === null) return { reason: UpgradeRefusal.AUTH, error: new SessionRequiredError() }
    // The identity may have taken a while (a JWKS fetch): a drain may have begun meanwhile.
    if (this.#init.node.draining) return { reason: UpgradeRefusal.DRAINING, error: new DrainingError() }
    const refusal = this.#acquireSlot(request, ip)
    if (refusal === null) this.#identities.set(request, identity)
    return refusal
  }

  /** The identity {@link admit} resolved for a request (anonymous when it was not admitted here). */
  identityOf (request: FastifyRequest): Identity {
    return this.#identities.get(request) ?? ANONYMOUS
  }

  /**
   * Take over the slot of an upgrade that became a connection: the handshake socket's `close`
   * listener is removed, and the caller must {@link release} the slot when the connection closes.
   * The slot was taken under `clientIp(request)`, the IP the connection carries.
   * @param socket - the upgrade request's TCP socket
   * @returns whether the connection now holds a slot (false: the upgrade did not pass this gate,
   *   had no TCP socket, or its socket already closed)
   */
  adopt (socket: unknown): boolean {
    if (!this.#inFlight.delete(socket as EventEmitter)) return false
    ;(socket as EventEmitter).off('close', this.#onHandshakeSocketClose)
    return true
  }

  /** Give back the slot of an adopted connection that closed. */
  release (ip: string): void {
    this.#slots.release(ip)
  }

  /** Counts held by the gate (full handshake buckets are forgotten first). */
  /**
   * A readiness check: a node at its connection cap would refuse a new client (503), so it tells
   * the balancer first.
   */
  readonly capacityCheck: ReadinessProbe = () => {
    const max = this.#init.options.maxConnections
    return this.#slots.total >= max ? { ok: false, detail: `at the connection limit (${max})` } : { ok: true }
  }

  state (): UpgradeGateState {
    this.#handshakes.sweep()
    return { slots: this.#slots.total, slotIps: this.#slots.ips, rateLimitedIps: this.#handshakes.size, handshakesInFlight: this.#inFlight.size, admissionWaiting: this.#admission.waiting }
  }

  /**
   * On shutdown: replace the given `upgrade` listeners of `server` by one that answers 503 and
   * closes the socket itself, before anything routes the request. Fastify's own 503 while closing
   * skips the hooks that would destroy an upgrade socket, leaving it open and `close()` waiting.
   */
  takeOverUpgrades (server: EventEmitter, listeners: readonly UpgradeListener[], log: FastifyBaseLogger): void {
    for (const listener of listeners) server.removeListener('upgrade', listener)
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      const body = JSON.stringify(this.refusedWhileClosing(request, log))
      socket.on('error', () => socket.destroy())
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
        `Retry-After: ${DRAINING_RETRY_AFTER_SECONDS}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        () => socket.destroy()
      )
    })
  }

  /**
   * A request that opens a connection arrived while the server closes (before anything routed
   * it): log and count it as a draining refusal, as {@link admit} would.
   * @returns the coded body to answer it with (503, `FRT_DRAINING`; send `Retry-After: 5` with it)
   */
  refusedWhileClosing (request: IncomingMessage, log: FastifyBaseLogger): { statusCode: 503, code: string, error: string, message: string } {
    this.#recordRefusal(log, UpgradeRefusal.DRAINING, normalizeIp(request.socket.remoteAddress ?? 'unknown'), request.headers)
    const error = new DrainingError()
    return { statusCode: 503, code: error.code, error: 'Service Unavailable', message: error.message }
  }

  #acquireSlot (request: FastifyRequest, ip: string): GateRefusal | null {
    const { options } = this.#init
    const refusal = this.#slots.acquire(ip)
    if (refusal === UpgradeRefusal.PER_IP_LIMIT) return { reason: refusal, error: new TooManyConnectionsPerIpError(options.maxConnectionsPerIp) }
    if (refusal === UpgradeRefusal.GLOBAL_LIMIT) return { reason: refusal, error: new ServerFullError() }
    // The slot is held for the life of the socket: released once, whether the handshake fails,
    // the client goes away, or the server closes or terminates the socket.
    const socket = request.raw.socket as (EventEmitter & { destroyed?: boolean }) | undefined
    if (socket === undefined || typeof socket.on !== 'function') {
      this.#slots.release(ip) // no TCP socket to follow (injectWS): not counted
    } else if (socket.destroyed === true) {
      this.#slots.release(ip) // the client left while its identity was resolved: its close is gone
    } else {
      this.#inFlight.set(socket, ip)
      socket.on('close', this.#onHandshakeSocketClose)
    }
    return null
  }

  /** The one log line and count of a refusal, wherever it is answered. */
  #recordRefusal (log: FastifyBaseLogger, reason: UpgradeRejection, ip: string, headers: IncomingHttpHeaders): void {
    // Host beside Origin: an origin refusal is read against the host the client asked for.
    log.warn({ reason, ip, origin: headers.origin ?? null, host: headers.host ?? null }, 'upgrade rejected')
    this.#init.metrics.upgradeRejected(reason)
  }

  #refuse (request: FastifyRequest, reply: FastifyReply, refusal: GateRefusal, retryAfterSeconds?: number): void {
    const { reason, error } = refusal
    this.#recordRefusal(request.log, reason, clientIp(request), request.headers)
    const retryAfter = retryAfterSeconds ?? RETRY_AFTER_SECONDS[reason]
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
    reply.send(error)
  }
}
