/**
 * A Pusher connection's life on a node of ours: the same gate as ours (origin), an unknown key
 * refused so that pusher-js stops retrying, a drain that pusher-js retries at once (4200) onto the
 * node that takes over the port, and our own protocol's clients on the same channels.
 */
import { connect as connectTcp, createServer, type AddressInfo } from 'node:net'
import t from 'tap'
import { bareApp, rawUpgrade } from '../../helpers/realtime-app.js'
import { connect } from '../../helpers/ws-client.js'
import { APP, connected, nextEvent, pusherClient, reachState, type Pusher } from '../../helpers/pusher.js'

interface Teardown { teardown: (fn: () => void) => void }

function client (t: Teardown, port: number, options: Parameters<typeof pusherClient>[1] = {}): Pusher {
  const made = pusherClient(port, options)
  t.teardown(() => { made.disconnect() })
  return made
}

t.test('the gate applies to Pusher\'s route: a foreign origin is refused before the upgrade', async (t) => {
  const { port } = await bareApp(t, { pusher: { apps: [APP] }, allowedOrigins: ['https://app.example.com'] })
  const refused = await rawUpgrade(port, `/app/${APP.key}?protocol=7`, { Origin: 'https://evil.example.com' })
  refused.socket.destroy()
  t.equal(refused.status, 403, 'refused like ours')
  const allowed = await rawUpgrade(port, `/app/${APP.key}?protocol=7`, { Origin: 'https://app.example.com' })
  allowed.socket.destroy()
  t.equal(allowed.status, 101, 'an allowed origin is upgraded')
})

t.test('an unknown key: accepted, pusher:error 4001, closed 4001, and pusher-js stops there', async (t) => {
  let attempts = 0
  const { port } = await bareApp(t, { pusher: { apps: [APP] } }, {}, () => {}, (app) => {
    app.addHook('onRequest', async (request) => { if (request.url.startsWith('/app/nope')) attempts++ })
  })
  const raw = await connect(`ws://127.0.0.1:${port}/app/nope?protocol=7`)
  const { code } = await raw.closed
  t.equal(code, 4001, 'closed with 4001')
  t.match(raw.frames[0], { event: 'pusher:error', data: { code: 4001 } }, 'after pusher:error 4001')

  const pusher = client(t, port, { app: { ...APP, key: 'nope' } })
  await reachState(pusher, 'disconnected')
  t.equal(attempts, 2, 'one attempt each: pusher-js gave up (disconnected is where it stays)')
})

t.test('a drain closes Pusher clients with 4200: pusher-js comes back at once, to the node that took over, and resubscribes', async (t) => {
  const first = await bareApp(t, { pusher: { apps: [APP] } })
  const second = await bareApp(t, { pusher: { apps: [APP] } })
  // The address clients know (a balancer's): it forwards to the first node, then to the second.
  let target = first.port
  const balancer = createServer((socket) => {
    const upstream = connectTcp(target, '127.0.0.1')
    socket.pipe(upstream).pipe(socket)
    socket.on('error', () => { upstream.destroy() })
    upstream.on('error', () => { socket.destroy() })
  })
  await new Promise<void>((resolve) => { balancer.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { balancer.close() })
  const pusher = client(t, (balancer.address() as AddressInfo).port)
  const socketId = await connected(pusher)
  const channel = pusher.subscribe('orders')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  const codes: number[] = []
  pusher.connection.bind('error', (error: { data?: { code?: number } }) => { if (error.data?.code !== undefined) codes.push(error.data.code) })
  const states: string[] = []
  pusher.connection.bind('state_change', ({ current }: { current: string }) => { states.push(current) })

  target = second.port
  const resubscribed = nextEvent(channel, 'pusher:subscription_succeeded')
  // Its next `connected`, whenever pusher-js sees the close: the drain may resolve before it does.
  const reconnected = new Promise<string>((resolve) => {
    const onState = ({ current }: { current: string }): void => {
      if (current !== 'connected') return
      pusher.connection.unbind('state_change', onState)
      resolve(pusher.connection.socket_id)
    }
    pusher.connection.bind('state_change', onState)
  })
  await first.app.realtime.drain()
  const newId = await reconnected
  await resubscribed
  t.same(codes, [4200], 'the drain\'s close code is 4200 (reconnect at once)')
  t.same(states, ['connecting', 'connected'], 'straight back: no unavailable or backoff state in between')
  t.not(newId, socketId, 'a new connection')
  const got = nextEvent(channel, 'after')
  await second.app.realtime.publish('orders', 1, { event: 'after' })
  t.equal(await got, 1, 'and it receives there')
})

t.test('our protocol and Pusher\'s on the same channels: a publication through either reaches both; except skips one socket', async (t) => {
  const { app, port, ws } = await bareApp(t, { pusher: { apps: [APP] }, channels: [{ name: 'orders', clientPublish: true }] })
  const ours = await connect(`${ws}/ws`)
  t.teardown(() => ours.close())
  ours.socket.send(JSON.stringify({ type: 'sub', channel: 'orders', id: 1 }))
  await ours.waitFor('ack')
  const alice = client(t, port)
  const bob = client(t, port)
  const aliceId = await connected(alice)
  const a = alice.subscribe('orders')
  const b = bob.subscribe('orders')
  await Promise.all([nextEvent(a, 'pusher:subscription_succeeded'), nextEvent(b, 'pusher:subscription_succeeded')])

  // Our client's pub reaches pusher-js as "message".
  const atAlice = nextEvent(a, 'message')
  ours.socket.send(JSON.stringify({ type: 'pub', channel: 'orders', data: { from: 'ours' } }))
  t.same(await atAlice, { from: 'ours' }, 'our pub reaches a Pusher subscriber')

  // The server's publication with an event and an exclusion: bob and ours get it, alice not.
  const aliceGot: unknown[] = []
  a.bind('shipped', (data: unknown) => { aliceGot.push(data) })
  const atBob = nextEvent(b, 'shipped')
  await app.realtime.publish('orders', { id: 9 }, { event: 'shipped', except: aliceId })
  t.same(await atBob, { id: 9 }, 'bob gets it')
  const pubs = await ours.waitFor('pub', 2)
  t.match(pubs[1], { type: 'pub', channel: 'orders', data: { id: 9 }, event: 'shipped' }, 'our frame carries the event name')
  t.notOk('event' in (pubs[0] ?? {}), 'and none when there is none')
  const marker = nextEvent(a, 'marker')
  await app.realtime.publish('orders', 0, { event: 'marker' })
  await marker
  t.same(aliceGot, [], 'alice, excluded, did not get it')
})
