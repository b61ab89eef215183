/**
 * RPC method declarations: what an application passes in the `rpc` option, their validation at
 * registration (a name clients can send, a TypeBox schema compiled once, a handler, an optional
 * timeout), and the registry the service looks methods up in.
 */
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { InvalidOptionError } from '../errors.js'
import type { ConnectionInfo } from '../node/connection.js'
import type { Visitor } from '../node/visitor.js'
import { METHOD_NAME_PATTERN } from '../protocols/ours/client-messages.js'

/** What an RPC handler learns about the call. */
export interface RpcContext {
  /** The calling connection. */
  connection: ConnectionInfo
  /** Its visitor (session, token or `auth` frame), or null. */
  visitor: Visitor | null
  /** Aborted when the call times out or the connection closes: stop working on it. */
  signal: AbortSignal
}

/**
 * One method clients may call with `{"type":"rpc","method":…,"data":…}`. `S` is its TypeBox schema;
 * declare a method as `const add: RpcMethod<typeof AddData> = { … }` to have `data` typed.
 */
export interface RpcMethod<S extends TSchema = TSchema> {
  /** What `data` must be (a TypeBox schema); checked before the handler runs, `invalid_data` otherwise. */
  schema: S
  /**
   * Answers the call: its return value (or what its promise resolves to, any JSON value; undefined
   * is sent as null) is the `result`. Throw an `RpcError` to answer with your own code and message;
   * anything else thrown reaches the client as `internal_error`, with nothing of it leaked.
   */
  handler (data: Static<S>, context: RpcContext): unknown
  /** Milliseconds the handler has before the client gets `rpc_timeout`. @default the `rpcTimeoutMs` option */
  timeoutMs?: number
}

/** A method after validation. */
export interface ResolvedRpcMethod {
  readonly name: string
  readonly check: TypeCheck<TSchema>
  readonly handler: (data: unknown, context: RpcContext) => unknown
  /** Undefined: the `rpcTimeoutMs` option. */
  readonly timeoutMs: number | undefined
}

const METHOD_NAME = new RegExp(METHOD_NAME_PATTERN)
const KEYS = ['schema', 'handler', 'timeoutMs']
const MAX_TIMEOUT_MS = 10 * 60 * 1000

/** The declared methods by name. */
export class RpcRegistry {
  readonly #methods: ReadonlyMap<string, ResolvedRpcMethod>

  constructor (methods: readonly ResolvedRpcMethod[]) {
    this.#methods = new Map(methods.map((method) => [method.name, method]))
  }

  /** Number of methods. */
  get size (): number {
    return this.#methods.size
  }

  /** The method of a name, if declared. */
  get (name: string): ResolvedRpcMethod | undefined {
    return this.#methods.get(name)
  }
}

function resolveMethod (name: string, raw: unknown): ResolvedRpcMethod {
  const at = `rpc.${name}`
  if (!METHOD_NAME.test(name)) throw new InvalidOptionError(at, 'a method name is 1–128 letters, digits and _ . : / -, starting with a letter')
  if (typeof raw !== 'object' || raw === null) throw new InvalidOptionError(at, 'expected { schema, handler, timeoutMs? }')
  const method = raw as Record<string, unknown>
  for (const key of Object.keys(method)) if (!KEYS.includes(key)) throw new InvalidOptionError(`${at}.${key}`, `unknown field; known fields are ${KEYS.join(', ')}`)
  if (typeof method.handler !== 'function') throw new InvalidOptionError(`${at}.handler`, 'expected a function (data, context) => result')
  let check: TypeCheck<TSchema>
  try {
    check = TypeCompiler.Compile(method.schema as TSchema)
  } catch (err) {
    throw new InvalidOptionError(`${at}.schema`, `expected a TypeBox schema (e.g. Type.Object({ … }) from @sinclair/typebox): ${(err as Error).message}`)
  }
  const timeoutMs = method.timeoutMs
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > MAX_TIMEOUT_MS)) {
    throw new InvalidOptionError(`${at}.timeoutMs`, `expected an integer from 10 to ${MAX_TIMEOUT_MS} (milliseconds)`)
  }
  return Object.freeze({ name, check, handler: method.handler as ResolvedRpcMethod['handler'], timeoutMs })
}

/**
 * Validate the `rpc` option.
 * @throws InvalidOptionError naming the bad method and field
 */
export function resolveRpc (value: unknown): RpcRegistry {
  if (value === undefined) return new RpcRegistry([])
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError('rpc', 'expected an object of methods by name, e.g. { add: { schema, handler } }')
  return new RpcRegistry(Object.entries(value).map(([name, method]) => resolveMethod(name, method)))
}
