/**
 * Pusher-format webhooks, received by a real HTTP server and verified by the real `pusher` SDK
 * (`pusher.webhook({ headers, rawBody }).isValid()`): channel_occupied, member_added,
 * member_removed and channel_vacated from our sockets' lifecycle (the vacate and the leave
 * debounced), each app's under its own names, key and secret, each webhook only the events it
 * asked for; our own webhooks alongside, each format debouncing on its own; and client_event and
 * cache_miss as the Pusher WebSocket side reports them.
 */
import pino from 'pino'
import t from 'tap'
import { MemoryAdapter, noopMetrics } from '../../../src/index.js'
import { PUSHER_TUNABLE } from '../../../src/protocols/pusher/options.js'
import { startPusherWebhooks } from '../../../src/pusher/webhooks.js'
import { resolveTunable, TunableProblem } from '../../../src/tunables.js'
import { APP, OTHER_APP, pusherNode, sdk, subscriber, webhookReceiver, type ReceivedWebhook } from '../../helpers/pusher-http.js'

/** The events of a received webhook, once the SDK of `app` says it is valid (and null when not). */
function verified (port: number, app: { id: string, key: string, secret: string }, received: ReceivedWebhook): unknown[] | null {
  const webhook = sdk(port, app).webhook({ headers: received.headers as Record<string, string>, rawBody: received.rawBody })
  return webhook.isValid() ? webhook.getEvents() : null
}

t.test('channel and member events, verified by the SDK, debounced leaves last', async (t) => {
  const hooks = await webhookReceiver(t)
  const { port, ws } = await pusherNode(t, {
    webhookDebounceMs: 50,
    apps: [{ ...APP, webhooks: [{ url: `${hooks.url}/all` }, { url: `${hooks.url}/members`, events: ['member_added', 'member_removed'] }] }, { ...OTHER_APP, webhooks: [{ url: `${hooks.url}/second` }] }]
  })
  const alice = await subscriber(ws, ['presence-room'], 'alice')
  const all = (): ReceivedWebhook[] => hooks.got.filter((received) => received.path === '/all')
  await hooks.waitFor(3)
  await alice.client.close()
  await hooks.waitFor(6)

  const events = all().map((received) => verified(port, APP, received))
  t.same(events.slice(0, 2).flat().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [
    { name: 'channel_occupied', channel: 'presence-room' },
    { name: 'member_added', channel: 'presence-room', user_id: 'alice' }
  ], 'occupied and member_added, each valid for the SDK')
  t.same(events.slice(2).flat().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [
    { name: 'channel_vacated', channel: 'presence-room' },
    { name: 'member_removed', channel: 'presence-room', user_id: 'alice' }
  ], 'then, after the debounce, vacated and member_removed')
  const members = hooks.got.filter((received) => received.path === '/members').map((received) => verified(port, APP, received))
  t.same(members, [[{ name: 'member_added', channel: 'presence-room', user_id: 'alice' }], [{ name: 'member_removed', channel: 'presence-room', user_id: 'alice' }]], 'a webhook gets only the events it asked for')
  const body = JSON.parse(all()[0]?.rawBody ?? '{}') as { time_ms?: unknown }
  t.type(body.time_ms, 'number', 'the body carries time_ms')
  t.equal(all()[0]?.headers['x-pusher-key'], APP.key, 'X-Pusher-Key is the app\'s key')
  t.equal(verified(port, OTHER_APP, all()[0] as ReceivedWebhook), null, 'another app\'s credentials do not validate it')
  const tampered = { ...(all()[0] as ReceivedWebhook), rawBody: (all()[0]?.rawBody ?? '').replace('presence-room', 'presence-roon') }
  t.equal(verified(port, APP, tampered), null, 'nor does a tampered body')
  t.equal(hooks.got.filter((received) => received.path === '/second').length, 0, 'the second app heard nothing of the first app\'s channels')
})

t.test('a reload within the debounce sends nothing: one member_added, then one member_removed when they really leave', async (t) => {
  const hooks = await webhookReceiver(t)
  const { port, ws } = await pusherNode(t, { webhookDebounceMs: 1500, apps: [{ ...APP, webhooks: [{ url: hooks.url, events: ['member_added', 'member_removed'] }] }] })
  const first = await subscriber(ws, ['presence-room'], 'alice')
  await hooks.waitFor(1)
  await first.client.close()
  const reloaded = await subscriber(ws, ['presence-room'], 'alice')
  const leftAt = Date.now()
  await reloaded.client.close()
  // Wait for the member_removed of the real leave (its time_ms is when it happened), whatever came before it.
  const removedAfter = (received: ReceivedWebhook): boolean => (JSON.parse(received.rawBody) as { time_ms: number }).time_ms >= leftAt
  for (let count = 2; !hooks.got.some(removedAfter); count++) await hooks.waitFor(count)
  t.same(hooks.got.map((received) => verified(port, APP, received)), [
    [{ name: 'member_added', channel: 'presence-room', user_id: 'alice' }],
    [{ name: 'member_removed', channel: 'presence-room', user_id: 'alice' }]
  ], 'the reload\'s leave and return cancelled out')
})

t.test('each app gets its own channels\' events, under its own names and signed with its own secret', async (t) => {
  const hooks = await webhookReceiver(t)
  const { port, ws } = await pusherNode(t, { apps: [{ ...APP, webhooks: [{ url: `${hooks.url}/first` }] }, { ...OTHER_APP, webhooks: [{ url: `${hooks.url}/second` }] }] })
  await subscriber(ws, ['1002/orders'])
  const [received] = await hooks.waitFor(1)
  t.equal(received?.path, '/second')
  t.same(verified(port, OTHER_APP, received as ReceivedWebhook), [{ name: 'channel_occupied', channel: 'orders' }], 'named as the second app names it')
  await subscriber(ws, ['orders'])
  const [, next] = await hooks.waitFor(2)
  t.equal(next?.path, '/first')
  t.same(verified(port, APP, next as ReceivedWebhook), [{ name: 'channel_occupied', channel: 'orders' }])
})

t.test('our own webhooks and Pusher\'s, side by side: each debounces on its own, both send the leave', async (t) => {
  const hooks = await webhookReceiver(t)
  const { port, ws } = await pusherNode(t, { webhookDebounceMs: 50, apps: [{ ...APP, webhooks: [{ url: `${hooks.url}/pusher`, events: ['channel_vacated'] }] }] }, {
    webhooks: { url: `${hooks.url}/ours`, secret: 's'.repeat(32), events: ['channel.vacated'], debounceMs: 50 }
  })
  const client = await subscriber(ws, ['orders'])
  await client.client.close()
  const got = await hooks.waitFor(2)
  const pusher = got.find((received) => received.path === '/pusher')
  const ours = got.find((received) => received.path === '/ours')
  t.same(verified(port, APP, pusher as ReceivedWebhook), [{ name: 'channel_vacated', channel: 'orders' }], 'Pusher\'s')
  t.match(JSON.parse(ours?.rawBody ?? '{}'), { type: 'channel.vacated', data: { channel: 'orders' } }, 'and ours, in our format')
})

t.test('client_event and cache_miss, as the Pusher WebSocket side reports them', async (t) => {
  const hooks = await webhookReceiver(t)
  const options = resolveTunable(PUSHER_TUNABLE, { apps: [{ ...APP, webhooks: [{ url: `${hooks.url}/events`, events: ['client_event', 'cache_miss'] }] }, OTHER_APP] })
  if (options instanceof TunableProblem || options === undefined) throw new Error(`the option is refused: ${String(options)}`)
  const running = startPusherWebhooks(options, new MemoryAdapter(), noopMetrics, pino({ level: 'silent' }))
  if (running === null) throw new Error('no webhooks started')
  t.teardown(() => { running.close() })

  running.events.clientEvent('1002', { channel: 'presence-room', event: 'client-typing', data: '{}', socketId: '1.2' })
  running.events.clientEvent('1001', { channel: 'presence-room', event: 'client-typing', data: '{"on":true}', socketId: '123.456', userId: 'alice' })
  running.events.cacheMiss('1001', 'cache-prices')
  // Delivered concurrently: matched by name, not by arrival.
  const got = (await hooks.waitFor(2)).map((received) => verified(0, APP, received))
  const named = (name: string): unknown => got.find((events) => (events?.[0] as { name?: string } | undefined)?.name === name)
  t.same(named('client_event'), [{ name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"on":true}', socket_id: '123.456', user_id: 'alice' }], 'client_event, with the sender\'s socket and user')
  t.same(named('cache_miss'), [{ name: 'cache_miss', channel: 'cache-prices' }], 'cache_miss')
  t.equal(hooks.got.length, 2, 'nothing for the app without webhooks')
})
