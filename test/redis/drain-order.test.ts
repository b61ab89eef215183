/**
 * A graceful drain on Redis shuts down in order: the connections it closes leave their channels
 * (adapter unsubscribe, presence removal) on an open adapter, and only then does the adapter
 * close. Closed first, it refused them: a level-50 "adapter unsubscribe failed: RedisAdapter used
 * before init() or after close()" on most drains.
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { bareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { hsToken, TEST_SECRET } from '../helpers/tokens.js'
import { connect, type RecordingClient } from '../helpers/ws-client.js'

const DRAINS = 6
const CLIENTS = 6

t.test(`${DRAINS} drains of a node on a real Redis, each with ${CLIENTS} subscribed visitors, log nothing at level 50 or above`, async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  for (let drain = 1; drain <= DRAINS; drain++) {
    await t.test(`drain ${drain}`, async (t) => {
      const adapter = new RedisAdapter({ url: redis.url, keyPrefix: `drain${drain}:` })
      const { app, logs, ws } = await bareApp(t, { channels: [{ name: 'room:*', presence: true }], jwtSecret: TEST_SECRET, adapter })
      const clients: RecordingClient[] = []
      for (let i = 0; i < CLIENTS; i++) {
        const client = await connect(`${ws}/ws`, { headers: { authorization: `Bearer ${await hsToken({ sub: `user-${i}` })}` } })
        t.teardown(() => { client.socket.terminate() })
        await client.waitFor('welcome')
        // Its own channel (so its close unsubscribes the adapter) and one shared by all.
        for (const channel of [`room:${i}`, 'room:all']) client.socket.send(JSON.stringify({ type: 'sub', channel, id: channel }))
        await client.waitFor('ack', 2)
        clients.push(client)
      }
      await app.close()
      t.same((await Promise.all(clients.map(async (client) => (await client.closed).code))), clients.map(() => 1001), 'every client was closed with 1001')
      const severe = logs.lines.filter((line) => line.level >= 50)
      t.same(severe.map((line) => `${String(line.msg)}: ${JSON.stringify(line.err ?? '')}`), [], 'no line at level 50 or above')
      t.ok(logs.withMessage('draining connections').length === 1, 'the node drained its connections')
    })
  }
})
