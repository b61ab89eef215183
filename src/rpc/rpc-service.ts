/**
 * Client RPC: `{"type":"rpc","id":…,"method":…,"data":…}` answered by one `ack` with the
 * handler's `result`, or one `error` with the same id: `unknown_method`, `invalid_data` (the
 * method's schema refused the data; the handler never ran), the handler's own `RpcError` code
 * and message, `internal_error` for anything else it threw (logged here, nothing of it sent),
 * `rpc_timeout`, or `too_many_calls` (the connection already has `maxInFlightPerConnection` calls
 * waiting; the handler never ran). An RPC is a client message like any other, so it counts against
 * the connection's message rate before it gets here; the in-flight cap bounds what the rate cannot:
 * calls to a slow handler piling up (each holds its promise, its data and a deadline).
 *
 * Timeouts are deadlines on one {@link DeadlineWheel} (one timer for every call in flight); a
 * call that times out, or whose connection closes, has its `signal` aborted.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ClientErrorCode, RpcError } from '../errors.js'
import type { Connection } from '../node/connection.js'
import { DeadlineWheel } from '../node/deadline-wheel.js'
import type { MessageFlow } from '../node/realtime-node.js'
import type { WheelClock } from '../node/timer-wheel.js'
import type { RequestId, RpcRequest } from '../protocols/ours/client-messages.js'
import type { ErrorMessage, ServerMessage } from '../protocols/ours/server-messages.js'
import type { RpcRegistry } from './methods.js'

/** Width of a timeout bucket: a call times out within this much after its deadline. */
const TIMEOUT_BUCKET_MS = 50

/** What {@link RpcService} is made from. */
export interface RpcServiceOptions {
  registry: RpcRegistry
  /** Timeout of a method that declares none. */
  timeoutMs: number
  /** How many calls of one connection may wait at once; one more is answered `too_many_calls`. */
  maxInFlightPerConnection: number
  /** The node's one-message send path. */
  node: Pick<MessageFlow, 'sendTo'>
  log: FastifyBaseLogger
  clock?: WheelClock
}

/** One call in flight. */
interface Call {
  readonly connection: Connection
  readonly id: RequestId
  readonly method: string
  readonly controller: AbortController
  settled: boolean
}

/** See the module comment. */
export class RpcService {
  readonly #options: RpcServiceOptions
  readonly #timeouts: DeadlineWheel<Call>
  /** Calls in flight by connection (only while they are in flight). */
  readonly #inFlight = new Map<Connection, Set<Call>>()
  readonly #now: () => number

  constructor (options: RpcServiceOptions) {
    this.#options = options
    this.#now = options.clock?.now ?? Date.now
    this.#timeouts = new DeadlineWheel<Call>({
      bucketMs: TIMEOUT_BUCKET_MS,
      onExpire: (due) => { for (const call of due) this.#timedOut(call) },
      ...(options.clock === undefined ? {} : { clock: options.clock })
    })
  }

  /** Calls waiting for their handler. */
  get inFlight (): number {
    return this.#timeouts.size
  }

  /** A client's `rpc`. */
  call (connection: Connection, message: RpcRequest): void {
    const { id } = message
    const method = this.#options.registry.get(message.method)
    if (method === undefined) {
      this.#send(connection, { type: 'error', id, code: ClientErrorCode.UNKNOWN_METHOD, message: `No method "${message.method}" on this server.` })
      return
    }
    if (!method.check.Check(message.data)) {
      const first = method.check.Errors(message.data).First()
      const where = first?.path === '' || first?.path === undefined ? 'data' : `data${first.path}`
      this.#send(connection, { type: 'error', id, code: ClientErrorCode.INVALID_DATA, message: `Invalid data for "${message.method}" at ${where}: ${first?.message ?? 'does not match the schema'}.` })
      return
    }
    let calls = this.#inFlight.get(connection)
    if (calls !== undefined && calls.size >= this.#options.maxInFlightPerConnection) {
      this.#send(connection, { type: 'error', id, code: ClientErrorCode.TOO_MANY_CALLS, message: `At most ${this.#options.maxInFlightPerConnection} calls may wait for their answers at once on one connection.` })
      return
    }
    const call: Call = { connection, id, method: method.name, controller: new AbortController(), settled: false }
    if (calls === undefined) {
      calls = new Set()
      this.#inFlight.set(connection, calls)
    }
    calls.add(call)
    this.#timeouts.schedule(call, this.#now() + (method.timeoutMs ?? this.#options.timeoutMs))
    // Through a promise, so a handler that throws synchronously is answered like one that rejects.
    Promise.resolve()
      .then(() => method.handler(message.data, { connection, visitor: connection.visitor, signal: call.controller.signal }))
      .then((result) => { this.#settle(call, { type: 'ack', id, result: result ?? null }) }, (err: unknown) => { this.#settle(call, this.#errorOf(call, err)) })
  }

  /** The connection closed: abort its calls (their answers have nowhere to go). */
  dropConnection (connection: Connection): void {
    const calls = this.#inFlight.get(connection)
    if (calls === undefined) return
    this.#inFlight.delete(connection)
    for (const call of calls) {
      call.settled = true
      this.#timeouts.cancel(call)
      call.controller.abort()
    }
  }

  /** Stop every timeout (the node closes). */
  stop (): void {
    for (const connection of [...this.#inFlight.keys()]) this.dropConnection(connection)
    this.#timeouts.clear()
  }

  #timedOut (call: Call): void {
    this.#settle(call, { type: 'error', id: call.id, code: ClientErrorCode.RPC_TIMEOUT, message: `"${call.method}" did not answer in time.` })
    call.controller.abort()
  }

  #errorOf (call: Call, err: unknown): ErrorMessage {
    if (err instanceof RpcError) {
      const error: ErrorMessage = { type: 'error', id: call.id, code: err.code, message: err.message }
      if (err.data !== undefined) error.data = err.data
      return error
    }
    // Nothing of an unexpected error reaches the client: its message may hold internals.
    call.connection.log.error({ err, method: call.method }, 'rpc handler failed')
    return { type: 'error', id: call.id, code: ClientErrorCode.INTERNAL_ERROR, message: 'The server failed to handle this call.' }
  }

  #settle (call: Call, answer: ServerMessage): void {
    if (call.settled) return
    call.settled = true
    this.#timeouts.cancel(call)
    const calls = this.#inFlight.get(call.connection)
    calls?.delete(call)
    if (calls?.size === 0) this.#inFlight.delete(call.connection)
    if (call.connection.closed) return
    this.#send(call.connection, answer)
  }

  /** Send an answer; a result that cannot be serialised (a BigInt, a cycle) becomes `internal_error`. */
  #send (connection: Connection, answer: ServerMessage): void {
    try {
      this.#options.node.sendTo(connection, answer)
    } catch (err) {
      connection.log.error({ err }, 'rpc answer could not be sent')
      const id = (answer as { id?: RequestId }).id
      this.#options.node.sendTo(connection, { type: 'error', ...(id === undefined ? {} : { id }), code: ClientErrorCode.INTERNAL_ERROR, message: 'The server failed to handle this call.' })
    }
  }
}
