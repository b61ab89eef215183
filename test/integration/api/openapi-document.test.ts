/**
 * The OpenAPI document says what the API does, checked against the server over real HTTP.
 *
 * For every operation the document lists, every way of refusing a request we know (no key, the
 * wrong scope, bad JSON, an empty or oversize body, another media type, a body or a parameter
 * that does not fit, an overlong path parameter, an undeclared channel, a used-up rate) is sent
 * to a real server. Each answer must be one the operation declares, with a body that fits the
 * declared schema, and a refusal's code must be one its response's description names; and every
 * code a description names must have been answered by at least one of them. A valid request must
 * get the declared success, its body fitting its schema too. Then the document's own shape: named
 * components (no `def-N`), described responses and operations, unique operation ids, resolvable
 * references.
 */
import type { FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import type { TestLike } from '../../helpers/app.js'
import { schemaProblems, type JsonSchema } from '../../helpers/json-schema.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { connect } from '../../helpers/ws-client.js'

const ADMIN = 'a'.repeat(48)
const READER = 'r'.repeat(48)
const PUBLISHER = 'p'.repeat(48)
const BODY_LIMIT = 4096
const MAX_PARAM_LENGTH = 100

interface Response { description: string, headers?: Record<string, unknown>, content?: Record<string, { schema: JsonSchema }> }
interface Parameter { in: string, name: string }
interface Operation { operationId: string, summary?: string, description?: string, tags?: string[], parameters?: Parameter[], requestBody?: unknown, responses: Record<string, Response> }
interface Document { openapi: string, paths: Record<string, Record<string, Operation>>, components: { schemas: Record<string, JsonSchema> }, tags?: Array<{ name: string }> }

/** A request as a test sends it. */
interface Call { method: string, path: string, key: string | null, body?: string, contentType?: string }

/** A valid request of each operation (the `jobs` channel is declared, `nope` is not). */
const VALID: Record<string, { params?: Record<string, string>, body?: unknown, query?: string }> = {
  publish: { body: { channel: 'jobs', data: 1 } },
  publishBatch: { body: { publications: [{ channel: 'jobs', data: 1 }] } },
  broadcast: { body: { data: 1 } },
  sendToUser: { params: { user: 'u1' }, body: { data: 1 } },
  subscribeUser: { params: { user: 'u1' }, body: { channel: 'jobs' } },
  unsubscribeUser: { params: { user: 'u1', channel: 'jobs' } },
  disconnectUser: { params: { user: 'u1' }, body: {} },
  disconnectConnection: { params: { connId: 'c1' }, body: {} },
  channels: {},
  presence: { params: { channel: 'jobs' } },
  presenceCount: { params: { channel: 'jobs' } },
  history: { params: { channel: 'jobs' }, query: 'limit=5' },
  nodes: {}
}

/**
 * Refusals of one operation only, beyond those of its shape (a route's `also` in routes.ts), each
 * a request that provokes it: publish's 409 for an idempotency key reused with another body is
 * two publishes with one key (the first, sent before, then this one).
 */
const reused = (path: string, first: unknown, second: unknown): { what: string, before: Call[], call: Call } => ({
  what: 'an idempotency key reused with another body',
  before: [{ method: 'POST', path, key: ADMIN, body: JSON.stringify(first), contentType: 'application/json' }],
  call: { method: 'POST', path, key: ADMIN, body: JSON.stringify(second), contentType: 'application/json' }
})
const OWN_REFUSALS: Record<string, Array<{ what: string, before?: Call[], call: Call }>> = {
  publish: [reused('/api/publish', { channel: 'jobs', data: 1, idempotencyKey: 'doc-k1' }, { channel: 'jobs', data: 2, idempotencyKey: 'doc-k1' })],
  publishBatch: [reused('/api/publish/batch', { publications: [{ channel: 'jobs', data: 1, idempotencyKey: 'doc-k2' }] }, { publications: [{ channel: 'jobs', data: 2, idempotencyKey: 'doc-k2' }] })]
}

/** Path parameter values that do not fit their schema but are within maxParamLength. */
const BAD_PARAM: Record<string, string> = { channel: 'bad name', connId: 'c'.repeat(80) }

async function apiApp (t: TestLike, rateLimit: { max: number, timeWindowMs: number }): Promise<string> {
  const identify = (request: FastifyRequest): { id: string } | null => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null
  const { http } = await bareApp(t, {
    identify,
    channels: [{ name: 'jobs', historySize: 10, presence: true }],
    api: { prefix: '/api', keys: [{ key: ADMIN }, { key: READER, scopes: ['read'] }, { key: PUBLISHER, scopes: ['publish'] }], rateLimit }
  }, { bodyLimit: BODY_LIMIT, routerOptions: { maxParamLength: MAX_PARAM_LENGTH } })
  return http
}

async function send (base: string, call: Call): Promise<{ status: number, body: unknown, headers: Headers }> {
  const headers: Record<string, string> = {}
  if (call.key !== null) headers.authorization = `Bearer ${call.key}`
  if (call.contentType !== undefined) headers['content-type'] = call.contentType
  const response = await fetch(`${base}${call.path}`, { method: call.method, headers, ...(call.body === undefined ? {} : { body: call.body }) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) as unknown, headers: response.headers }
}

/** The scope an operation's description says its key needs. */
function scopeOf (operation: Operation): string {
  const scope = /with the `(\w+)` scope/.exec(operation.description ?? '')?.[1]
  if (scope === undefined) throw new Error(`${operation.operationId}: its description does not name the scope it needs`)
  return scope
}

/** The codes a response's description names. */
const codesOf = (response: Response): string[] => [...response.description.matchAll(/`(F[RS]T_[A-Z_]+)`/g)].map((match) => match[1] ?? '')

/**
 * Every known way of refusing a request of this operation, each a request to send: the valid
 * request with one thing wrong. (A body is sent to every operation but a GET, even where none is
 * expected: Fastify parses one sent with a DELETE, and the answer must be a declared one.)
 */
function refusals (method: string, template: string, operation: Operation): Array<{ what: string, call: Call, status?: number }> {
  const valid = VALID[operation.operationId]
  if (valid === undefined) throw new Error(`no valid request known for ${operation.operationId}: add one to VALID`)
  const path = (params: Record<string, string> = valid.params ?? {}, query = valid.query): string =>
    template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? '')) + (query === undefined ? '' : `?${query}`)
  const json = valid.body === undefined ? undefined : JSON.stringify(valid.body)
  const withBody = (call: Partial<Call>): Call => ({ method, path: path(), key: ADMIN, ...(json === undefined ? {} : { body: json, contentType: 'application/json' }), ...call })
  const wrongKey = scopeOf(operation) === 'read' ? PUBLISHER : READER
  const list: Array<{ what: string, call: Call, status?: number }> = [
    { what: 'no key', call: withBody({ key: null }) },
    { what: 'a key of another server', call: withBody({ key: 'x'.repeat(48) }) },
    { what: 'a key without the scope', call: withBody({ key: wrongKey }) }
  ]
  // A GET has no body (fetch will not even send one).
  if (method !== 'GET') {
    list.push(
      { what: 'a body that is not JSON', call: withBody({ body: '{"oops', contentType: 'application/json' }) },
      { what: 'an empty JSON body', call: withBody({ body: '', contentType: 'application/json' }) },
      { what: 'a body over bodyLimit', call: withBody({ body: JSON.stringify({ data: 'x'.repeat(BODY_LIMIT) }), contentType: 'application/json' }) },
      { what: 'a body of another media type', call: withBody({ body: '<data/>', contentType: 'application/xml' }) },
      // Fastify reads text/plain as a string: a body schema refuses it (docs/api.md says so).
      { what: 'a text/plain body', call: withBody({ body: 'hello', contentType: 'text/plain' }), ...(operation.requestBody === undefined ? {} : { status: 400 }) },
      { what: 'a body with a field its schema does not have', call: withBody({ body: JSON.stringify({ ...(valid.body as object | undefined), unexpected: 1 }), contentType: 'application/json' }) }
    )
  }
  const params = valid.params ?? {}
  for (const name of Object.keys(params)) {
    list.push({ what: `an overlong ${name}`, call: withBody({ path: path({ ...params, [name]: 'x'.repeat(MAX_PARAM_LENGTH + 50) }) }) })
    const bad = BAD_PARAM[name]
    if (bad !== undefined) list.push({ what: `a ${name} that does not fit its schema`, call: withBody({ path: path({ ...params, [name]: bad }) }) })
  }
  if (valid.query !== undefined) list.push({ what: 'a query that does not fit its schema', call: withBody({ path: path(params, 'limit=0') }) })
  if (json?.includes('"jobs"') === true) list.push({ what: 'an undeclared channel in the body', call: withBody({ body: json.replaceAll('"jobs"', '"nope"') }) })
  if (params.channel !== undefined) list.push({ what: 'an undeclared channel in the path', call: withBody({ path: path({ ...params, channel: 'nope' }) }) })
  return list
}

t.test('every operation answers only what the document declares, and every declared refusal is answered', async (t) => {
  const base = await apiApp(t, { max: 10_000, timeWindowMs: 60_000 })
  // A second server whose rate is used up by one request: every route then answers 429 (for an
  // hour: the window cannot end during the test on a slow machine).
  const limited = await apiApp(t, { max: 1, timeWindowMs: 3_600_000 })
  const document = await (await fetch(`${base}/api/openapi.json`)).json() as Document
  // A socket of user u1, so the user routes reach someone.
  const user = await connect(`${base.replace('http', 'ws')}/ws`, { headers: { 'x-visitor': 'u1' } })
  t.teardown(() => user.socket.terminate())
  await user.waitFor('welcome')

  const check = (t: Test, operation: Operation, what: string, answer: { status: number, body: unknown, headers: Headers }, answered: Set<string>): void => {
    const response = operation.responses[String(answer.status)]
    if (response === undefined) {
      t.fail(`${operation.operationId}, ${what}: answered ${answer.status} ${JSON.stringify(answer.body)}, which the document does not declare`)
      return
    }
    const schema = response.content?.['application/json']?.schema
    t.ok(schema, `${operation.operationId} ${answer.status} declares a JSON body`)
    if (schema !== undefined) t.same(schemaProblems(document as unknown as JsonSchema, schema, answer.body), [], `${operation.operationId}, ${what}: the ${answer.status} body fits its declared schema`)
    if (answer.status < 400) return
    const code = (answer.body as { code?: string } | undefined)?.code ?? ''
    t.ok(codesOf(response).includes(code), `${operation.operationId}, ${what}: ${code} is named by the ${answer.status} response's description`)
    answered.add(`${answer.status} ${code}`)
    if (answer.status === 429) {
      t.ok(response.headers?.['retry-after'], `${operation.operationId}: the 429 declares Retry-After`)
      t.match(answer.headers.get('retry-after'), /^\d+$/, `${operation.operationId}: and it is sent`)
    }
  }

  // Use the limited server's one request.
  t.equal((await send(limited, { method: 'GET', path: '/api/nodes', key: ADMIN })).status, 200)

  for (const [template, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      await t.test(`${operation.operationId} (${method.toUpperCase()} ${template})`, async (t) => {
        const answered = new Set<string>()
        const valid = VALID[operation.operationId] ?? {}
        const path = template.replace(/\{(\w+)\}/g, (_, name: string) => valid.params?.[name] ?? '') + (valid.query === undefined ? '' : `?${valid.query}`)
        const success = await send(base, { method: method.toUpperCase(), path, key: ADMIN, ...(valid.body === undefined ? {} : { body: JSON.stringify(valid.body), contentType: 'application/json' }) })
        t.ok(success.status < 300, `a valid request succeeds (${success.status} ${JSON.stringify(success.body)})`)
        check(t, operation, 'a valid request', success, answered)
        for (const { what, call, status } of refusals(method.toUpperCase(), template, operation)) {
          const answer = await send(base, call)
          if (status !== undefined) t.equal(answer.status, status, `${what}: ${status}`)
          check(t, operation, what, answer, answered)
        }
        for (const { what, before, call } of OWN_REFUSALS[operation.operationId] ?? []) {
          for (const earlier of before ?? []) await send(base, earlier)
          check(t, operation, what, await send(base, call), answered)
        }
        check(t, operation, 'a used-up rate', await send(limited, { method: method.toUpperCase(), path, key: ADMIN }), answered)
        // The other way round: each refusal the document declares was answered by one of these.
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400) continue
          const codes = codesOf(response)
          t.ok(codes.length > 0, `${status}: its description names its codes`)
          for (const code of codes) t.ok(answered.has(`${status} ${code}`), `the declared ${status} ${code} was answered`)
        }
      })
    }
  }
})

t.test('the document names its schemas, describes every operation and response, and its references resolve', async (t) => {
  const base = await apiApp(t, { max: 1000, timeWindowMs: 60_000 })
  const document = await (await fetch(`${base}/api/openapi.json`)).json() as Document
  t.match(document.openapi, /^3\.1\./)
  const names = Object.keys(document.components.schemas)
  t.same(names.filter((name) => /^def-\d+$/.test(name)), [], 'no component is named def-N')
  for (const name of ['Error', 'Publication', 'PublishRequest', 'Accepted']) t.ok(names.includes(name), `${name} is a named component`)
  const error = document.components.schemas.Error as { required?: string[], properties?: { code?: { enum?: string[] } } }
  t.match(error.required, ['code', 'message'], 'Error requires code and message')
  t.ok((error.properties?.code?.enum ?? []).length > 0, 'Error\'s code is an enum')

  const tags = new Set((document.tags ?? []).map((tag) => tag.name))
  const ids = new Set<string>()
  for (const [template, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const where = `${method.toUpperCase()} ${template}`
      t.notOk(ids.has(operation.operationId), `${where}: operationId ${operation.operationId} is unique`)
      ids.add(operation.operationId)
      t.ok((operation.summary ?? '').length > 0 && (operation.description ?? '').length > 0, `${where}: has a summary and a description`)
      t.ok((operation.tags ?? []).length > 0 && (operation.tags ?? []).every((tag) => tags.has(tag)), `${where}: is tagged with declared tags`)
      for (const [status, response] of Object.entries(operation.responses)) {
        t.not(response.description, 'Default Response', `${where} ${status}: is described`)
        t.ok(response.description.length > 0, `${where} ${status}: the description is not empty`)
      }
    }
  }
  // Every $ref resolves to a component: walking them all would throw on one that does not.
  const refs = [...JSON.stringify(document).matchAll(/"\$ref":"([^"]+)"/g)].map((match) => match[1] ?? '')
  t.ok(refs.length > 0)
  for (const ref of new Set(refs)) t.ok(/^#\/components\/schemas\/[A-Za-z]+$/.test(ref) && document.components.schemas[ref.split('/').at(-1) ?? ''] !== undefined, `${ref} resolves to a named component`)
})
