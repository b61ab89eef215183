/**
 * Pusher's HTTP API and webhooks on two real nodes sharing a private Redis: the real `pusher`
 * SDK calls node A only, and what it asks for is the cluster's: an event reaches our protocol's
 * subscribers on node B, the channels, counts and users of B's sockets are A's answers, and
 * terminate_connections closes a user's socket on B. Both nodes have the same Pusher webhook:
 * each channel and member event is POSTed once (by one node), verified by the SDK.
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { APP, CHANNELS, sdk, subscriber, verifiedWebhookEvents, webhookReceiver } from '../helpers/pusher-http.js'
import { bareApp, type BareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'

t.test('the SDK on one node reads and reaches the other\'s sockets; webhooks once across both', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const receiver = await webhookReceiver(t, 10_000)
  const url = receiver.url

  const node = async (): Promise<BareApp> => await bareApp(t, {
    identify: (request) => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null,
    channels: CHANNELS,
    adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'pusher-http:', presenceSweepIntervalMs: 200 }),
    pusher: { apps: [{ ...APP, webhooks: [{ url }] }], webhookDebounceMs: 100 }
  })
  const A = await node()
  const B = await node()
  const pusher = sdk(A.port)
  const names = (): string[] => verifiedWebhookEvents(pusher, receiver.got)
  const webhooksFor = async (count: number): Promise<void> => { await receiver.waitFor(count) }

  const alice = await subscriber(B.ws, ['presence-room', 'orders'], 'alice')
  const bob = await subscriber(A.ws, ['orders'], 'bob')
  await webhooksFor(3)
  t.same(names(), ['channel_occupied orders', 'channel_occupied presence-room', 'member_added presence-room alice'], 'each once, whichever node saw it')

  t.equal((await pusher.trigger('orders', 'placed', '{"id":1}')).status, 200)
  await alice.client.waitFor('pub')
  await bob.client.waitFor('pub')
  t.same(alice.client.ofType('pub').map((frame) => frame.data), ['{"id":1}'], 'the socket on the other node got the event')

  t.same(await (await pusher.get({ path: '/channels', params: { info: 'subscription_count' } })).json(), { channels: { orders: { subscription_count: 2 }, 'presence-room': { subscription_count: 1 } } }, 'channels and counts of both nodes')
  t.same(await (await pusher.get({ path: '/channels/presence-room', params: { info: 'user_count' } })).json(), { occupied: true, user_count: 1 })
  t.same(await (await pusher.get({ path: '/channels/presence-room/users' })).json(), { users: [{ id: 'alice' }] }, 'the users on the other node')

  await pusher.terminateUserConnections('alice')
  t.equal((await alice.client.closed).code, 4500, 'terminated on the other node')
  await webhooksFor(5)
  t.same(names(), ['channel_occupied orders', 'channel_occupied presence-room', 'channel_vacated presence-room', 'member_added presence-room alice', 'member_removed presence-room alice'], 'the leave and the vacate, once each')
  t.equal(bob.client.closeCode, null, 'bob stays')
})
