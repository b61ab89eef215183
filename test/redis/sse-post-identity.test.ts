/**
 * The event-stream POST identity check across two nodes sharing one private redis-server: a POST
 * that lands on node B for alice's stream on node A is relayed with its sender's visitor, and A
 * refuses it (403 `FRT_STREAM_FORBIDDEN`) when it names another visitor, before anything of it
 * happens; alice's own POSTs, and POSTs with no identity, are still relayed and taken.
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { channelsApp } from '../helpers/channels-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { checkPostIdentity } from '../helpers/sse-post-identity.js'
import { TEST_SECRET } from '../helpers/tokens.js'

t.test('a POST relayed to the stream\'s node carries its sender: another visitor is refused there', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const nodeA = await channelsApp(t, { jwtSecret: TEST_SECRET, adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'sse-post:' }) })
  const nodeB = await channelsApp(t, { jwtSecret: TEST_SECRET, adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'sse-post:' }) })
  await checkPostIdentity(t, nodeA.port, nodeB.port, nodeA.app)
})
