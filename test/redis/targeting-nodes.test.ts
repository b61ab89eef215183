/**
 * Reaching a user across three real server processes (node dist/src/app/server.js) on one
 * private redis-server. Clients are non-browser ones authenticating with bearer tokens signed
 * with the nodes' JWT_SECRET. The calls are made by a fourth node in this process (as an API or
 * a backend on any node would) and by a client's RPC on one of the three: `sendToUser` reaches
 * the user's sockets on all three exactly once and nobody else; a server-side `subscribe` adds
 * the channel on every node and its publications arrive in order; `disconnect({ user })` closes
 * them everywhere.
 */
import Fastify from 'fastify'
import t from 'tap'
import { DEMO_CHANNELS } from '../../plugins/realtime.js'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import realtime from '../../src/index.js'
import { answer, frame, send } from '../helpers/channels-app.js'
import { built, startNode } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { hsToken, TEST_SECRET } from '../helpers/tokens.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

const PREFIX = 'tg:'

async function startNodes (t: { teardown: (fn: () => unknown) => void }, redisUrl: string): Promise<string[]> {
  return await Promise.all(Array.from({ length: 3 }, async () => {
    const proc = startNode([built('src/app/server.js')], {
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      SESSION_SECRET: 'targeting-test-session-secret-0123456789',
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
      TICK_INTERVAL_MS: '0',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: PREFIX,
      CLOSE_GRACE_MS: '1000'
    })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    return `ws://127.0.0.1:${await proc.listening()}/ws`
  }))
}

async function as (url: string, user: string | null): Promise<RecordingClient> {
  const client = await connect(url, user === null ? {} : { headers: { authorization: `Bearer ${await hsToken({ sub: user })}` } })
  await client.waitFor('welcome')
  return client
}

t.test('three nodes on one Redis: sendToUser, a server-side subscribe and disconnect reach the user on every node, once', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const [a, b, c] = await startNodes(t, redis.url)
  if (a === undefined || b === undefined || c === undefined) throw new Error('three nodes')

  // A fourth node with no sockets: where the application calls the API from.
  const control = Fastify({ logger: false })
  await control.register(realtime, { tickIntervalMs: 0, channels: DEMO_CHANNELS, jwtSecret: TEST_SECRET, adapter: new RedisAdapter({ url: redis.url, keyPrefix: PREFIX }) })
  t.teardown(() => control.close())
  await control.ready()

  const annA1 = await as(a, 'ann')
  const annA2 = await as(a, 'ann')
  const annB = await as(b, 'ann')
  const annC = await as(c, 'ann')
  const bob = await as(b, 'bob')
  const anon = await as(c, null)
  const ann = [annA1, annA2, annB, annC]
  const others = [bob, anon]
  t.teardown(() => { for (const client of [...ann, ...others]) client.socket.terminate() })

  await t.test('sendToUser from any node: each of ann\'s four sockets (on A, A, B, C) gets it once; nobody else', async (t) => {
    for (let i = 1; i <= 5; i++) await control.realtime.sendToUser('ann', { n: i })
    for (const client of ann) await client.waitFor('direct', 5)
    await sleep(300)
    for (const [i, client] of ann.entries()) t.same(client.ofType('direct').map((f) => f.data), [1, 2, 3, 4, 5].map((n) => ({ n })), `ann's socket ${i + 1}: each once, in order`)
    for (const client of others) t.same(client.ofType('direct'), [], 'not bob, not an anonymous socket')
  })

  await t.test('a client\'s RPC on node B (the demo\'s dm.send) reaches ann on A, B and C once', async (t) => {
    send(bob, { type: 'rpc', id: 'dm', method: 'dm.send', data: { to: 'ann', text: 'hello from B' } })
    t.match(await answer(bob, 'dm'), { type: 'ack', result: { sentAt: Number } })
    for (const client of ann) await frame(client, (f) => f.type === 'direct' && (f.data as { text?: string }).text === 'hello from B')
    await sleep(300)
    for (const client of ann) t.equal(client.ofType('direct').length, 6, 'one more, once')
    t.same((ann[3]?.ofType('direct').at(-1)?.data as { from?: unknown }).from, { id: 'bob', name: null }, 'signed by the caller\'s identity, from its token')
    t.same(bob.ofType('direct'), [])
  })

  await t.test('a server-side subscribe adds the channel on every node; its publications arrive in order', async (t) => {
    await control.realtime.subscribeUser('ann', 'announcements')
    const published = Array.from({ length: 15 }, (_, i) => `a${i + 1}`)
    for (const text of published) await control.realtime.publish('announcements', { text })
    for (const client of ann) {
      t.match(await frame(client, (f) => f.type === 'subscribed'), { channel: 'announcements', source: 'server' })
      await client.waitFor('pub', 15, 10_000)
    }
    await sleep(300)
    for (const [i, client] of ann.entries()) {
      t.same(client.ofType('pub').map((f) => (f.data as { text: string }).text), published, `ann's socket ${i + 1}: all fifteen, in order, once`)
    }
    for (const client of others) t.same(client.ofType('subscribed'), [], 'nobody else was subscribed')
    await control.realtime.unsubscribeUser('ann', 'announcements')
    for (const client of ann) await frame(client, (f) => f.type === 'unsubscribed')
  })

  await t.test('disconnect({ user }) closes ann\'s sockets on every node with 4500; the others stay', async (t) => {
    await control.realtime.disconnect({ user: 'ann' })
    for (const client of ann) t.same(await client.closed, { code: 4500, reason: 'disconnected by the server' })
    await sleep(300)
    for (const client of others) t.equal(client.closeCode, null)
  })
})
