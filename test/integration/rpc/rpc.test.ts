/**
 * Client RPC over real sockets: one answer per id (a result, the method's schema refusal before
 * its handler runs, the application's coded error, `internal_error` with nothing leaked, a
 * timeout with its signal aborted), an unknown method, RPC counted against the message rate, and
 * the per-connection cap on calls waiting for their answers.
 */
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { RpcError, type RpcMethod } from '../../../src/index.js'
import { answer, send } from '../../helpers/channels-app.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

/** Poll until `ready` holds; a timeout is a failure. */
async function until (ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const started = Date.now()
  while (!ready()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(5)
  }
}

const AddData = Type.Object({ a: Type.Number(), b: Type.Number() }, { additionalProperties: false })

t.test('results, schema refusals, coded and internal errors, timeouts', async (t) => {
  let addCalls = 0
  let slowSignal: AbortSignal | null = null
  let releaseSlow: () => void = () => {}
  let slowReturned = false
  const add: RpcMethod<typeof AddData> = { schema: AddData, handler: ({ a, b }) => { addCalls++; return a + b } }
  const { ws, logs } = await bareApp(t, {
    identify: (request) => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null,
    // Far beyond the test: only the method's own 200 ms can answer the slow call.
    rpcTimeoutMs: 10 * 60 * 1000,
    rpc: {
      add,
      whoami: { schema: Type.Null(), handler: (_data, { connection, visitor }) => ({ connId: connection.id, visitor: visitor?.id ?? null }) },
      'stock.reserve': { schema: Type.Object({ sku: Type.String() }), handler: () => { throw new RpcError('out_of_stock', 'Only 2 left', { left: 2 }) } },
      leaky: { schema: Type.Unknown(), handler: async () => { throw new Error('connect ECONNREFUSED postgres://admin:hunter2@10.0.0.5') } },
      nothing: { schema: Type.Unknown(), handler: () => undefined },
      slow: {
        schema: Type.Unknown(),
        timeoutMs: 200,
        handler: async (_data, { signal }) => {
          slowSignal = signal
          // Held until the test lets it go, so its result comes after its timeout whatever the machine's load.
          await new Promise<void>((resolve) => { releaseSlow = resolve })
          slowReturned = true
          return 'too late'
        }
      }
    }
  })
  const client = await connect(`${ws}/ws`, { headers: { 'x-visitor': 'ann' } })
  const welcome = (await client.waitFor('welcome'))[0]

  send(client, { type: 'rpc', id: 1, method: 'add', data: { a: 2, b: 40 } })
  t.same(await answer(client, 1), { type: 'ack', id: 1, result: 42 })
  send(client, { type: 'rpc', id: 'w', method: 'whoami', data: null })
  t.same(await answer(client, 'w'), { type: 'ack', id: 'w', result: { connId: welcome?.connId, visitor: 'ann' } }, 'the handler sees the connection and its visitor')
  send(client, { type: 'rpc', id: 'n', method: 'nothing' })
  t.same(await answer(client, 'n'), { type: 'ack', id: 'n', result: null }, 'undefined is sent as null')

  send(client, { type: 'rpc', id: 2, method: 'add', data: { a: '2', b: 40 } })
  t.match(await answer(client, 2), { type: 'error', id: 2, code: 'invalid_data', message: /data\/a/ })
  send(client, { type: 'rpc', id: 3, method: 'add', data: { a: 1, b: 2, c: 3 } })
  t.match(await answer(client, 3), { code: 'invalid_data' }, 'extra fields refused by the schema')
  send(client, { type: 'rpc', id: 4, method: 'add' })
  t.match(await answer(client, 4), { code: 'invalid_data' }, 'missing data')
  t.equal(addCalls, 1, 'the handler never ran for refused data')

  send(client, { type: 'rpc', id: 5, method: 'stock.reserve', data: { sku: 'x' } })
  t.same(await answer(client, 5), { type: 'error', id: 5, code: 'out_of_stock', message: 'Only 2 left', data: { left: 2 } }, 'a coded error reaches the client as it is')

  send(client, { type: 'rpc', id: 6, method: 'leaky', data: {} })
  const internal = await answer(client, 6)
  t.same(internal, { type: 'error', id: 6, code: 'internal_error', message: 'The server failed to handle this call.' })
  t.notMatch(JSON.stringify(client.frames), /hunter2|ECONNREFUSED|postgres/, 'nothing of it leaked to the client')
  const logged = await logs.waitFor('rpc handler failed')
  t.match(logged, { method: 'leaky', err: { message: /ECONNREFUSED/ } }, 'it is in the server log')

  const started = Date.now()
  send(client, { type: 'rpc', id: 7, method: 'slow', data: {} })
  // The handler never answers and the connection's timeout is ten minutes: an rpc_timeout at all
  // is the method's own 200 ms. Never before it (deadlines are rounded up, never fire early).
  t.match(await answer(client, 7), { type: 'error', id: 7, code: 'rpc_timeout' })
  t.ok(Date.now() - started >= 200, `timed out at its own timeout, not before (${Date.now() - started} ms)`)
  t.equal((slowSignal as AbortSignal | null)?.aborted, true, 'its signal was aborted')
  releaseSlow()
  await until(() => slowReturned, 'the late handler returned')
  // Frames on a socket keep their order: a late result, sent as the handler returned, would come before this answer.
  send(client, { type: 'rpc', id: 'after', method: 'nothing' })
  await answer(client, 'after')
  t.equal(client.frames.filter((f) => f.id === 7).length, 1, 'one answer per id: the late result is not sent')

  send(client, { type: 'rpc', id: 8, method: 'nope', data: {} })
  t.match(await answer(client, 8), { code: 'unknown_method', message: /nope/ })
  const errorsBefore = client.ofType('error').length
  send(client, { type: 'rpc', method: 'add', data: { a: 1, b: 1 } })
  t.match((await client.waitFor('error', errorsBefore + 1)).at(-1), { code: 'invalid_message', message: /id/ }, 'an rpc needs an id')
  await client.close()
})

t.test('an rpc counts against the message rate, and rate_limited keeps its id', async (t) => {
  const { ws } = await bareApp(t, {
    messageRatePerSec: 1,
    messageBurst: 5,
    rpc: { echo: { schema: Type.Unknown(), handler: (data) => data } }
  })
  const client = await connect(`${ws}/ws`)
  for (let i = 0; i < 10; i++) send(client, { type: 'rpc', id: i, method: 'echo', data: i })
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => await answer(client, i)))
  t.same(answers.filter((a) => a.type === 'ack').map((a) => a.result), [0, 1, 2, 3, 4], 'the burst is answered')
  t.same(answers.filter((a) => a.type === 'error').map((a) => a.code), Array(5).fill('rate_limited'), 'the rest is dropped as rate_limited, each with its id')
  await client.close()
})

t.test('calls waiting for a slow handler are capped per connection: one more is too_many_calls, and an answer frees a place', async (t) => {
  const releases: Array<() => void> = []
  let started = 0
  const { ws } = await bareApp(t, {
    maxRpcInFlight: 3,
    rpc: {
      hold: {
        schema: Type.Unknown(),
        handler: async (data) => {
          started++
          await new Promise<void>((resolve) => { releases.push(resolve) })
          return data
        }
      }
    }
  })
  const client = await connect(`${ws}/ws`)
  const other = await connect(`${ws}/ws`)
  t.teardown(async () => { await other.close() })
  for (let i = 1; i <= 5; i++) send(client, { type: 'rpc', id: i, method: 'hold', data: i })
  t.same(await Promise.all([answer(client, 4), answer(client, 5)]).then((refused) => refused.map((a) => a.code)), ['too_many_calls', 'too_many_calls'], 'the fourth and fifth are refused with their ids')
  t.match((await answer(client, 4)).message, /At most 3 calls/)
  t.equal(started, 3, 'their handler never ran')

  send(other, { type: 'rpc', id: 'o', method: 'hold', data: 'o' })
  await until(() => started === 4 || other.frames.some((f) => f.id === 'o'), 'the other socket\'s call started or answered')
  t.equal(started, 4, 'the cap is per connection: another socket still calls')

  releases.shift()?.()
  t.same(await answer(client, 1), { type: 'ack', id: 1, result: 1 })
  send(client, { type: 'rpc', id: 6, method: 'hold', data: 6 })
  await until(() => started === 5 || client.frames.some((f) => f.id === 6), 'call 6 started or answered')
  t.equal(started, 5, 'an answer frees a place')
  t.equal(client.frames.filter((f) => f.id === 6).length, 0, 'and the new call waits for its handler')
  for (const release of releases.splice(0)) release()
  t.same(await answer(client, 6), { type: 'ack', id: 6, result: 6 })
  t.same(await answer(other, 'o'), { type: 'ack', id: 'o', result: 'o' })
  await client.close()
})

t.test('without methods rpc is unsupported; bad declarations fail registration', async (t) => {
  const { ws } = await bareApp(t)
  const client = await connect(`${ws}/ws`)
  send(client, { type: 'rpc', id: 1, method: 'x' })
  t.match(await answer(client, 1), { code: 'unsupported' })
  await client.close()
  await t.rejects(bareApp(t, { rpc: { 'bad name': { schema: Type.Null(), handler: () => null } } }), { code: 'FRT_INVALID_OPTION', message: /rpc\.bad name/ })
  await t.rejects(bareApp(t, { rpc: { x: { schema: { type: 'object' } as unknown as ReturnType<typeof Type.Null>, handler: () => null } } }), { code: 'FRT_INVALID_OPTION', message: /rpc\.x\.schema.*TypeBox/ })
  await t.rejects(bareApp(t, { rpc: { x: { schema: Type.Null(), handler: () => null, timeoutMs: 1 } } }), { code: 'FRT_INVALID_OPTION', message: /rpc\.x\.timeoutMs/ })
  t.throws(() => new RpcError('not a code!', 'x'), { code: 'FRT_INVALID_ARGUMENT' })
})
