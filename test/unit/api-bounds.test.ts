/**
 * The HTTP API is a thin face over the decorator's verbs: what its schemas take (and what the
 * OpenAPI document tells a generated client) is exactly what the verbs take, at every bound, so a
 * value the schema lets through is never refused by the verb behind it (an FRT_INVALID_ARGUMENT,
 * a 500 over HTTP), and the in-process and HTTP callers meet the same limits. The bounds are
 * written once, by the verbs (user ids, close codes, idempotency keys, history limits); this checks each side of
 * each bound through both.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import Fastify from 'fastify'
import t from 'tap'
import { DisconnectBody, HistoryQuery, PublishBody, UserParams } from '../../src/api/schemas.js'
import realtime from '../../src/index.js'

const app = Fastify()
await app.register(realtime, { tickIntervalMs: 0, channels: [{ name: 'jobs' }] })
await app.ready()
t.teardown(() => app.close())

/** Whether the verb takes the value: it resolves, or refuses it with FRT_INVALID_ARGUMENT (anything else is a failure). */
async function verbTakes (call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call()
    return true
  } catch (err) {
    if ((err as { code?: string }).code === 'FRT_INVALID_ARGUMENT') return false
    throw err
  }
}

t.test('a user id: the path schema and sendToUser / disconnect take the same lengths', async (t) => {
  const check = TypeCompiler.Compile(UserParams)
  for (const length of [0, 1, 256, 257]) {
    const user = 'u'.repeat(length)
    const schema = check.Check({ user })
    t.equal(await verbTakes(async () => { await app.realtime.sendToUser(user, 1) }), schema, `${length} characters: sendToUser ${schema ? 'takes' : 'refuses'} it, as the schema does`)
    t.equal(await verbTakes(async () => { await app.realtime.disconnect({ user }) }), schema, `${length} characters: disconnect too`)
  }
})

t.test('a close code: the disconnect body schema and disconnect take the same codes', async (t) => {
  const check = TypeCompiler.Compile(DisconnectBody)
  for (const code of [999, 1000, 1001, 3999, 4000, 4499, 4500, 4999, 5000, 4000.5]) {
    const schema = check.Check({ code })
    t.equal(await verbTakes(async () => { await app.realtime.disconnect({ user: 'u1' }, code) }), schema, `${code}: disconnect ${schema ? 'takes' : 'refuses'} it, as the schema does`)
  }
})

t.test('an idempotency key: the publish body schema and publish take the same keys', async (t) => {
  const check = TypeCompiler.Compile(PublishBody)
  const keys = ['', 'k', 'k'.repeat(128), 'k'.repeat(129), 'with space', 'é', '~!"#']
  for (const [index, key] of keys.entries()) {
    // Each key once, with its own data: a key is taken only once per body on the channel.
    const schema = check.Check({ channel: 'jobs', data: index, idempotencyKey: key })
    t.equal(await verbTakes(async () => await app.realtime.publish('jobs', index, { idempotencyKey: key })), schema, `${key.length > 20 ? `${key.length} characters` : JSON.stringify(key)}: publish ${schema ? 'takes' : 'refuses'} it, as the schema does`)
  }
})

t.test('a history limit: the query schema and history take the same limits', async (t) => {
  const check = TypeCompiler.Compile(HistoryQuery)
  for (const limit of [0, 1, 100, 10_000, 10_001, 1.5]) {
    const schema = check.Check({ limit })
    t.equal(await verbTakes(async () => await app.realtime.history('jobs', { limit })), schema, `${limit}: history ${schema ? 'takes' : 'refuses'} it, as the schema does`)
  }
})
