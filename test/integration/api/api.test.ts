/**
 * The HTTP API over real HTTP and real sockets: every refusal is a coded 4xx and publishes
 * nothing (wrong key, a key beyond its scope, malformed bodies, an oversize or partly undeclared
 * batch, the rate limit); what is accepted reaches the sockets; an idempotency key makes fifty
 * concurrent retries one publication with fifty identical answers.
 */
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import type { LogCapture, TestLike } from '../../helpers/app.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

const ADMIN = 'a'.repeat(48)
const READER = 'r'.repeat(48)
const PUBLISHER = 'p'.repeat(48)

/** The visitor of a socket: its `x-visitor` header. */
const byHeader = (request: FastifyRequest): { id: string } | null => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null

async function apiApp (t: TestLike, rateLimit = { max: 1000, timeWindowMs: 60_000 }, maxParamLength = 300): Promise<{ base: string, ws: string, logs: LogCapture, call: (method: string, path: string, body?: unknown, key?: string | null, raw?: string) => Promise<{ status: number, body: Record<string, unknown>, headers: Headers }> }> {
  const { http, ws, logs } = await bareApp(t, {
    identify: byHeader,
    channels: [{ name: 'news', historySize: 100 }, { name: 'room:*', presence: true, historySize: 10 }],
    api: {
      prefix: '/api',
      keys: [{ key: ADMIN, name: 'admin' }, { key: READER, scopes: ['read'], name: 'reader' }, { key: PUBLISHER, scopes: ['publish'], name: 'publisher' }],
      rateLimit,
      maxBatch: 3
    }
  }, { routerOptions: { maxParamLength } })
  const base = `${http}/api`
  const call = async (method: string, path: string, body?: unknown, key: string | null = ADMIN, raw?: string): Promise<{ status: number, body: Record<string, unknown>, headers: Headers }> => {
    const headers: Record<string, string> = {}
    if (key !== null) headers.authorization = `Bearer ${key}`
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(`${base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) })
    const text = await response.text()
    return { status: response.status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, headers: response.headers }
  }
  return { base, ws, logs, call }
}

t.test('every refusal is a clear, coded 4xx, and none publishes anything', async (t) => {
  const { call } = await apiApp(t)
  const refusals: Array<[string, Promise<{ status: number, body: Record<string, unknown> }>, number, string]> = [
    ['no key', call('POST', '/publish', { channel: 'news', data: 1 }, null), 401, 'FRT_API_KEY_REQUIRED'],
    ['a wrong key', call('POST', '/publish', { channel: 'news', data: 1 }, 'x'.repeat(48)), 401, 'FRT_API_KEY_REQUIRED'],
    ['a read-only key publishing', call('POST', '/publish', { channel: 'news', data: 1 }, READER), 403, 'FRT_API_SCOPE'],
    ['a publish-only key broadcasting', call('POST', '/broadcast', { data: 1 }, PUBLISHER), 403, 'FRT_API_SCOPE'],
    ['a publish-only key reading', call('GET', '/channels/news/history', undefined, PUBLISHER), 403, 'FRT_API_SCOPE'],
    ['no data', call('POST', '/publish', { channel: 'news' }), 400, 'FST_ERR_VALIDATION'],
    ['an unknown field', call('POST', '/publish', { channel: 'news', data: 1, priority: 'high' }), 400, 'FST_ERR_VALIDATION'],
    ['a malformed channel name', call('POST', '/publish', { channel: 'no spaces', data: 1 }), 400, 'FST_ERR_VALIDATION'],
    ['not JSON', call('POST', '/publish', undefined, ADMIN, '{"channel": "news", oops'), 400, 'FST_ERR_CTP_INVALID_JSON_BODY'],
    ['an undeclared channel', call('POST', '/publish', { channel: 'secret', data: 1 }), 404, 'FRT_UNKNOWN_CHANNEL'],
    ['a batch over maxBatch', call('POST', '/publish/batch', { publications: [1, 2, 3, 4].map((n) => ({ channel: 'news', data: n })) }), 400, 'FST_ERR_VALIDATION'],
    ['a history offset without its epoch', call('GET', '/channels/news/history?offset=1', undefined, READER), 400, 'FST_ERR_VALIDATION'],
    ['a history epoch without its offset', call('GET', '/channels/news/history?epoch=Ht0Tj1vz', undefined, READER), 400, 'FST_ERR_VALIDATION'],
    ['a batch with one undeclared channel', call('POST', '/publish/batch', { publications: [{ channel: 'news', data: 1 }, { channel: 'secret', data: 2 }] }), 404, 'FRT_UNKNOWN_CHANNEL']
  ]
  for (const [what, answer, status, code] of refusals) {
    const { status: got, body } = await answer
    t.equal(got, status, `${what}: ${status}`)
    t.equal(body.code, code, `${what}: ${code}`)
  }
  const history = await call('GET', '/channels/news/history', undefined, READER)
  t.equal(history.status, 200)
  t.same(history.body.publications, [], 'nothing was published by any of them')
})

t.test('publish, batch and broadcast reach the sockets; history, presence, channels and info read back', async (t) => {
  const { call, ws } = await apiApp(t)
  const client = await connect(`${ws}/ws`)
  client.socket.send(JSON.stringify({ type: 'sub', channel: 'news', id: 1 }))
  await client.waitFor('ack')
  const one = await call('POST', '/publish', { channel: 'news', data: { n: 1 } }, PUBLISHER)
  t.match(one, { status: 200, body: { channel: 'news', offset: 1, duplicate: false } })
  const batch = await call('POST', '/publish/batch', { publications: [{ channel: 'news', data: { n: 2 } }, { channel: 'room:7', data: 'x' }, { channel: 'news', data: { n: 3 } }] })
  t.same((batch.body.publications as Array<{ channel: string, offset: number }>).map((p) => `${p.channel}:${p.offset}`), ['news:2', 'room:7:1', 'news:3'], 'published in order')
  await client.waitFor('pub', 3)
  t.same(client.ofType('pub').map((frame) => frame.data), [{ n: 1 }, { n: 2 }, { n: 3 }], 'the socket got them, in order')
  t.equal((await call('POST', '/broadcast', { data: 'to everyone' })).status, 202)
  t.equal((await client.waitFor('broadcast'))[0]?.data, 'to everyone')

  const history = await call('GET', '/channels/news/history?limit=2', undefined, READER)
  t.same((history.body.publications as Array<{ data: unknown }>).map((p) => p.data), [{ n: 2 }, { n: 3 }], 'the newest two')
  const epoch = (history.body.position as { epoch: string }).epoch
  const since = await call('GET', `/channels/news/history?offset=1&epoch=${epoch}`, undefined, READER)
  t.match(since.body, { recovered: true, position: { offset: 3, epoch } })
  t.equal((since.body.publications as unknown[]).length, 2, 'what followed offset 1')
  const channels = await call('GET', '/channels', undefined, READER)
  t.same(channels.body.channels, [{ channel: 'news', subscribers: 1, nodes: 1 }])
  const nodes = await call('GET', '/nodes', undefined, READER)
  t.match(nodes.body.nodes, [{ connections: 1, channels: { news: 1 }, draining: false }])
  t.same((await call('GET', '/channels/room:7/presence', undefined, READER)).body, { channel: 'room:7', members: [] })
  t.same((await call('GET', '/channels/room:7/presence/count', undefined, READER)).body, { channel: 'room:7', members: 0 })
  await client.close()
})

t.test('an idempotency key: fifty concurrent retries publish once and get fifty identical answers', async (t) => {
  const { call, ws } = await apiApp(t)
  const client = await connect(`${ws}/ws`)
  client.socket.send(JSON.stringify({ type: 'sub', channel: 'news', id: 1 }))
  await client.waitFor('ack')
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await call('POST', '/publish', { channel: 'news', data: 'order 42 paid', idempotencyKey: 'order-42' })))
  t.ok(answers.every((answer) => answer.status === 200))
  const positions = new Set(answers.map((answer) => `${String(answer.body.epoch)}:${String(answer.body.offset)}:${String(answer.body.t)}`))
  t.equal(positions.size, 1, 'fifty identical positions')
  t.equal(answers.filter((answer) => answer.body.duplicate === false).length, 1, 'one of them published')
  await client.waitFor('pub', 1)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(client.ofType('pub').length, 1, 'the socket got it once')
  await client.close()
})

t.test('an idempotency key reused with another body: 409 FRT_IDEMPOTENCY_KEY_REUSED, nothing published; the same body stays a duplicate', async (t) => {
  const { call, ws } = await apiApp(t)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.close())
  client.socket.send(JSON.stringify({ type: 'sub', channel: 'news', id: 1 }))
  await client.waitFor('ack')
  const first = await call('POST', '/publish', { channel: 'news', data: { order: 42, paid: true }, idempotencyKey: 'order-42' })
  t.match(first, { status: 200, body: { offset: 1, duplicate: false } })

  const reused = await call('POST', '/publish', { channel: 'news', data: { order: 43, paid: true }, idempotencyKey: 'order-42' })
  t.equal(reused.status, 409, 'another body under the same key is a conflict')
  t.match(reused.body, { statusCode: 409, code: 'FRT_IDEMPOTENCY_KEY_REUSED', message: /already used for a different publication/ })

  const retried = await call('POST', '/publish', { channel: 'news', data: { paid: true, order: 42 }, idempotencyKey: 'order-42' })
  t.same(retried.body, { ...first.body, duplicate: true }, 'the same body (fields in any order) is still the duplicate, with the original answer')

  // In a batch: published in order up to the reused key, which stops it with the same 409.
  const batch = await call('POST', '/publish/batch', { publications: [{ channel: 'news', data: 'before', idempotencyKey: 'b-1' }, { channel: 'news', data: 'other', idempotencyKey: 'order-42' }, { channel: 'news', data: 'after' }] })
  t.match(batch, { status: 409, body: { code: 'FRT_IDEMPOTENCY_KEY_REUSED' } })
  await client.waitFor('pub', 2)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(client.ofType('pub').map((frame) => frame.data), [{ order: 42, paid: true }, 'before'], 'the socket got the first publication and the batch\'s item before the conflict; nothing under the reused key')

  const openapi = (await fetch(`${ws.replace('ws:', 'http:')}/api/openapi.json`).then(async (response) => await response.json())) as { paths: Record<string, { post?: { responses?: Record<string, unknown> } }> }
  t.ok(openapi.paths['/api/publish']?.post?.responses?.['409'], 'the OpenAPI document declares the 409 of POST /publish')
  t.ok(openapi.paths['/api/publish/batch']?.post?.responses?.['409'], 'and of POST /publish/batch')
})

t.test('the rate limit counts per key and refuses with a coded 429 and Retry-After', async (t) => {
  const { call } = await apiApp(t, { max: 3, timeWindowMs: 60_000 })
  for (let i = 0; i < 3; i++) t.equal((await call('POST', '/publish', { channel: 'news', data: i }, PUBLISHER)).status, 200)
  const limited = await call('POST', '/publish', { channel: 'news', data: 'too many' }, PUBLISHER)
  t.equal(limited.status, 429)
  t.equal(limited.body.code, 'FRT_API_RATE_LIMITED')
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'with Retry-After')
  t.equal((await call('GET', '/channels/news/history?limit=10', undefined, READER)).body.publications instanceof Array ? 3 : -1, 3)
  const history = await call('GET', '/channels/news/history?limit=10', undefined, ADMIN)
  t.equal((history.body.publications as unknown[]).length, 3, 'the refused one was not published; another key still gets through')
})

t.test('requests without a valid key are counted per address: past the rate they get 429, and a valid key still gets through', async (t) => {
  const { call } = await apiApp(t, { max: 3, timeWindowMs: 60_000 })
  const guesses = []
  for (let i = 0; i < 3; i++) guesses.push(await call('POST', '/publish', { channel: 'news', data: i }, i === 1 ? null : `guess-${i}`.padEnd(48, 'x')))
  t.same(guesses.map((g) => g.status), [401, 401, 401], 'the first guesses are refused as unauthenticated')
  const throttled = await call('POST', '/publish', { channel: 'news', data: 'again' }, 'g'.repeat(48))
  t.equal(throttled.status, 429, 'the next one is throttled')
  t.equal(throttled.body.code, 'FRT_API_RATE_LIMITED')
  t.match(throttled.body.message, /at most 3 per 60 s for this address without a valid key/)
  t.ok(Number(throttled.headers.get('retry-after')) > 0, 'with Retry-After')
  t.equal((await call('POST', '/publish', { channel: 'news', data: 'keyless' }, null)).status, 429, 'so is a request with no key at all')
  const published = await call('POST', '/publish', { channel: 'news', data: 'with the key' }, PUBLISHER)
  t.equal(published.status, 200, 'a valid key from the same address is counted on its own')
  const history = await call('GET', '/channels/news/history?limit=10', undefined, READER)
  t.same((history.body.publications as Array<{ data: unknown }>).map((p) => p.data), ['with the key'], 'nothing the refused requests sent was published')
})

t.test('the OpenAPI document describes every operation, its body and its security', async (t) => {
  const { base } = await apiApp(t)
  const doc = await (await fetch(`${base}/openapi.json`)).json() as { openapi: string, paths: Record<string, Record<string, { operationId: string, requestBody?: unknown }>>, components: { securitySchemes: Record<string, unknown> } }
  t.match(doc.openapi, /^3\./)
  const operations = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId)).sort()
  t.same(operations, ['broadcast', 'channels', 'disconnectConnection', 'disconnectUser', 'history', 'nodes', 'presence', 'presenceCount', 'publish', 'publishBatch', 'sendToUser', 'subscribeUser', 'unsubscribeUser'])
  t.ok(doc.paths['/api/publish']?.post?.requestBody, 'with the publish body')
  t.same(Object.keys(doc.components.securitySchemes), ['apiKey'])
})

t.test('users: a direct message, a server-side subscription and its end, and kicks reach the user\'s sockets on this node and nobody else', async (t) => {
  const { call, ws } = await apiApp(t)
  const as = async (visitor: string): Promise<RecordingClient> => {
    const client = await connect(`${ws}/ws`, { headers: { 'x-visitor': visitor } })
    t.teardown(() => client.close())
    await client.waitFor('welcome')
    return client
  }
  const [ann1, ann2, bob] = [await as('ann'), await as('ann'), await as('bob')]
  const anns = [ann1, ann2]

  t.equal((await call('POST', '/users/ann/messages', { data: { text: 'for ann' } })).status, 202)
  for (const ann of anns) t.match((await ann.waitFor('direct'))[0], { type: 'direct', data: { text: 'for ann' } })

  t.equal((await call('POST', '/users/ann/subscriptions', { channel: 'news' })).status, 202)
  for (const ann of anns) t.match((await ann.waitFor('subscribed'))[0], { channel: 'news', source: 'server' })
  await call('POST', '/publish', { channel: 'news', data: 'headline' })
  for (const ann of anns) t.same((await ann.waitFor('pub'))[0]?.data, 'headline')

  t.equal((await call('DELETE', '/users/ann/subscriptions/news')).status, 202)
  for (const ann of anns) t.match((await ann.waitFor('unsubscribed'))[0], { channel: 'news' })
  await call('POST', '/publish', { channel: 'news', data: 'not for ann' })

  // One of Ann's sockets by its id, then the rest of her.
  const connId = String((await ann1.waitFor('welcome'))[0]?.connId)
  t.equal((await call('POST', `/connections/${connId}/disconnect`, { code: 4000, reason: 'just this one' })).status, 202)
  t.same(await ann1.closed, { code: 4000, reason: 'just this one' })
  t.equal(ann2.socket.readyState, ann2.socket.OPEN, 'her other socket stays')
  t.equal((await call('POST', '/users/ann/disconnect', {})).status, 202)
  t.match(await ann2.closed, { code: 4500 }, 'the default code: do not reconnect')

  await sleep(100)
  t.equal(bob.socket.readyState, bob.socket.OPEN, 'bob is still connected')
  t.same(bob.frames.filter((f) => ['direct', 'subscribed', 'unsubscribed', 'pub'].includes(String(f.type))), [], 'and got none of it')
  t.same(ann2.ofType('pub').map((f) => f.data), ['headline'], 'nothing after the unsubscribe')
})

t.test('users: refusals are coded 4xx and reach nobody', async (t) => {
  const { call, ws } = await apiApp(t)
  const ann = await connect(`${ws}/ws`, { headers: { 'x-visitor': 'ann' } })
  t.teardown(() => ann.close())
  await ann.waitFor('welcome')
  const refusals: Array<[string, Promise<{ status: number, body: Record<string, unknown> }>, number, string]> = [
    ['a publish-only key', call('POST', '/users/ann/messages', { data: 1 }, PUBLISHER), 403, 'FRT_API_SCOPE'],
    ['a read-only key kicking', call('POST', '/users/ann/disconnect', {}, READER), 403, 'FRT_API_SCOPE'],
    ['no data', call('POST', '/users/ann/messages', {}), 400, 'FST_ERR_VALIDATION'],
    ['an unknown field', call('POST', '/users/ann/messages', { data: 1, to: 'bob' }), 400, 'FST_ERR_VALIDATION'],
    // Within the app's maxParamLength (raised to 300 here), the schema's bound speaks.
    ['a user id over 256 characters', call('POST', `/users/${'u'.repeat(257)}/messages`, { data: 1 }), 400, 'FST_ERR_VALIDATION'],
    ['an undeclared channel', call('POST', '/users/ann/subscriptions', { channel: 'secret' }), 404, 'FRT_UNKNOWN_CHANNEL'],
    ['unsubscribing from an undeclared channel', call('DELETE', '/users/ann/subscriptions/secret'), 404, 'FRT_UNKNOWN_CHANNEL'],
    ['a close code a server may not send', call('POST', '/users/ann/disconnect', { code: 1001 }), 400, 'FST_ERR_VALIDATION'],
    ['a close reason over 123 characters', call('POST', '/users/ann/disconnect', { reason: 'r'.repeat(124) }), 400, 'FST_ERR_VALIDATION']
  ]
  for (const [what, answer, status, code] of refusals) {
    const { status: got, body } = await answer
    t.equal(got, status, `${what}: ${status}`)
    t.equal(body.code, code, `${what}: ${code}`)
  }
  await sleep(100)
  t.equal(ann.socket.readyState, ann.socket.OPEN, 'ann is still connected')
  t.same(ann.frames.map((f) => f.type), ['welcome'], 'and got nothing')

  const long = await connect(`${ws}/ws`, { headers: { 'x-visitor': 'u'.repeat(256) } })
  t.teardown(() => long.close())
  await long.waitFor('welcome')
  t.equal((await call('POST', `/users/${'u'.repeat(256)}/messages`, { data: 'long id' })).status, 202)
  t.equal((await long.waitFor('direct'))[0]?.data, 'long id', 'a 256-character user id is reached')
})

t.test('a path parameter longer than the app\'s maxParamLength (Fastify\'s default 100) is refused with 414', async (t) => {
  const { call } = await apiApp(t, undefined, 100)
  t.equal((await call('POST', `/users/${'u'.repeat(100)}/messages`, { data: 1 })).status, 202, '100 characters: the route')
  t.match(await call('POST', `/users/${'u'.repeat(101)}/messages`, { data: 1 }), { status: 414, body: { code: 'FST_ERR_MAX_PARAM_LENGTH' } }, '101: refused')
  t.match(await call('GET', `/channels/${'c'.repeat(101)}/presence`, undefined, READER), { status: 414, body: { code: 'FST_ERR_MAX_PARAM_LENGTH' } }, 'a channel name too')
})

t.test('a refused API request is logged as one line at info, without a stack trace: a client error is not a server error', async (t) => {
  const { call, logs } = await apiApp(t, { max: 3, timeWindowMs: 60_000 })
  const cases: Array<[string, () => Promise<{ status: number }>, number, string]> = [
    ['no key', async () => await call('POST', '/publish', { channel: 'news', data: 1 }, null), 401, 'FRT_API_KEY_REQUIRED'],
    ['a key beyond its scope', async () => await call('POST', '/broadcast', { data: 1 }, READER), 403, 'FRT_API_SCOPE'],
    ['a body that does not fit', async () => await call('POST', '/publish', { channel: 'news' }), 400, 'FST_ERR_VALIDATION']
  ]
  for (const [what, request, status, code] of cases) {
    const before = logs.lines.length
    t.equal((await request()).status, status, what)
    const lines = logs.lines.slice(before).filter((line) => line.msg !== 'incoming request' && line.msg !== 'request completed')
    t.equal(lines.length, 1, `${what}: one line`)
    t.match(lines[0], { level: 30, msg: 'api request refused', statusCode: status, code }, `${what}: at info, with its status and code`)
    t.notMatch(JSON.stringify(logs.lines.slice(before)), /"stack"|\bat [^"]+\.[jt]s:\d+/, `${what}: no stack trace`)
  }
  // Three more keyless calls exhaust the address's allowance: the 429 is a client error too.
  for (let i = 0; i < 3; i++) await call('GET', '/channels', undefined, null)
  const before = logs.lines.length
  t.equal((await call('GET', '/channels', undefined, null)).status, 429)
  t.match(logs.lines.slice(before).find((line) => line.msg === 'api request refused'), { level: 30, statusCode: 429, code: 'FRT_API_RATE_LIMITED' })
  t.notMatch(JSON.stringify(logs.lines.slice(before)), /"stack"/, 'the 429: no stack trace')
})
