/**
 * Credentials never reach the logs. A request line (Fastify's `req`) logs the path without its
 * query string ({@link serializeRequestRedacted}): a client that puts `?token=` (or any secret)
 * in a URL by mistake does not leak it. The values of `cookie`, `authorization`,
 * `proxy-authorization`, `set-cookie` and `realtime-stream` (an event stream's key; names in
 * any case) are replaced in any headers object logged at the top level
 * (`{ headers }`, also as a child logger's binding), one level down (`{ request: { headers } }`,
 * `{ upgrade: … }`), and on a serialised error (`{ err }` whose error carries `headers`).
 * Wired in server-options.ts: {@link redactHeaders} and {@link serializeErrorRedacted} as pino
 * serializers, {@link redactLogObject} as its `formatters.log`.
 *
 * Why not pino's `redact` option: its engine (@pinojs/redact 0.4) parses every path again on
 * every call, and a path that starts with `*` (needed for "one level down, under any key") runs
 * it for every key of every line. Measured on the benchmark's upgrades: 21.5 KB of garbage per
 * WebSocket connect, 43% of all the server allocated for it. This walk allocates nothing unless
 * a line does carry a secret header, and then copies only the objects on the way to it.
 */

/** What a credential is replaced with. */
export const LOG_CENSOR = '[redacted]'

/** Header names (lower case) whose values are credentials: a session cookie or a token. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(['cookie', 'authorization', 'proxy-authorization', 'set-cookie', 'realtime-stream'])

/**
 * Keys that pino hands to a serializer: Fastify's `req` and `res` (their output has no headers),
 * `err` ({@link serializeErrorRedacted}) and `headers` ({@link redactHeaders}). A copy made by
 * {@link redactLogObject} would break the first three, and the last is already handled.
 */
const SERIALIZED_KEYS: ReadonlySet<string> = new Set(['req', 'res', 'err', 'headers'])

type LogRecord = Record<string, unknown>

function isRecord (value: unknown): value is LogRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A copy of `headers` with every credential censored (names matched in any case), or `headers` itself when it holds none. */
function censorHeaders (headers: LogRecord): LogRecord {
  let censored: LogRecord | null = null
  for (const name in headers) {
    if (Object.hasOwn(headers, name) && SECRET_HEADERS.has(name.toLowerCase()) && headers[name] !== undefined) {
      censored ??= { ...headers }
      censored[name] = LOG_CENSOR
    }
  }
  return censored ?? headers
}

/** `value` with its own `headers` censored: a shallow copy of its own enumerable fields when needed, else `value`. */
function censorNestedHeaders<T extends LogRecord> (value: T): T {
  const headers = Object.hasOwn(value, 'headers') ? value.headers : undefined
  if (!isRecord(headers)) return value
  const censored = censorHeaders(headers)
  return censored === headers ? value : { ...value, headers: censored }
}

/**
 * pino serializer of the `headers` key, in log lines and in child-logger bindings alike: the
 * headers with credentials censored (the same object when it holds none).
 */
export function redactHeaders (headers: unknown): unknown {
  return isRecord(headers) ? censorHeaders(headers) : headers
}

/**
 * pino's `formatters.log`: the log object with credentials censored in the `headers` of each of
 * its fields (one level down). Returns the same object when it carries none, so ordinary lines
 * cost no allocation. (pino offers no such hook for child bindings: there only a top-level
 * `headers` binding is censored, by {@link redactHeaders}.)
 */
export function redactLogObject (object: LogRecord): LogRecord {
  let result = object
  for (const key in object) {
    if (!Object.hasOwn(object, key) || SERIALIZED_KEYS.has(key)) continue
    const value = object[key]
    if (!isRecord(value)) continue
    const redacted = censorNestedHeaders(value)
    if (redacted === value) continue
    if (result === object) result = { ...object }
    result[key] = redacted
  }
  return result
}

/**
 * Wrap an error serializer (pino's `stdSerializers.err`) so that the headers an error carries
 * (`err.headers`, as HTTP client errors have) are censored in its output.
 */
export function serializeErrorRedacted<E, S extends LogRecord> (serialize: (error: E) => S): (error: E) => S {
  return (error) => censorNestedHeaders(serialize(error))
}

/** What a request line shows of a request (Fastify's own `req` serializer's fields). */
interface LoggedRequest {
  [field: string]: unknown
  method: string
  url: string
  version: string | undefined
  host: string | undefined
  remoteAddress: string | undefined
  remotePort: number | undefined
}

/** The part of a request Fastify hands to the `req` serializer that it reads. */
interface RequestLike {
  method?: string
  url?: string
  headers?: Record<string, string | string[] | undefined>
  host?: string
  ip?: string
  socket?: { remotePort?: number } | null
}

/**
 * pino serializer of Fastify's `req` (its request lines): Fastify's own fields, with the URL cut
 * before its query string. The query is where a misplaced credential would be (`?token=…`); no
 * route of fastify-realtime reads a secret from it (a `?resume=` is refused).
 */
export function serializeRequestRedacted (request: RequestLike): LoggedRequest {
  const url = request.url ?? ''
  const query = url.indexOf('?')
  const version = request.headers?.['accept-version']
  return {
    method: request.method ?? '',
    url: query === -1 ? url : url.slice(0, query),
    version: typeof version === 'string' ? version : undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
