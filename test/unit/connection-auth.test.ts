/**
 * Token deadlines at scale, on a fake clock: ten thousand connections whose tokens expire at the
 * same moment cost one deadline bucket and one timer (not ten thousand), each gets its `refresh`
 * at the lead time and its 4401 at expiry, and a renewed one moves to a new deadline.
 */
import pino from 'pino'
import t from 'tap'
import { ConnectionAuth } from '../../src/auth/connection-auth.js'
import type { ConnectionShared } from '../../src/node/connection.js'
import { encode } from '../../src/protocols/ours/server-messages.js'
import { textFrame } from '../../src/protocols/ws-frame.js'
import { FakeConnection } from '../helpers/fake-connection.js'
import { fakeWheelClock } from '../helpers/fake-wheel-clock.js'

const shared: ConnectionShared = {
  events: { message: () => {}, close: () => {}, error: () => {} },
  log: pino({ level: 'silent' }),
  requestIdLabel: 'reqId',
  budget: null
}

t.test('10,000 tokens expiring at once: one bucket and one timer; refresh at the lead, 4401 at exp, a renewed one kept', async (t) => {
  const clock = fakeWheelClock(1_700_000_000_000)
  const auth = new ConnectionAuth({
    tokens: null,
    requireAuth: false,
    authTimeoutMs: 10_000,
    refreshLeadMs: 30_000,
    node: { sendTo: (connection, message) => connection.sendFrame(textFrame(encode(message)), 'message'), hold: () => {}, release: () => {} },
    onIdentified: () => {},
    log: pino({ level: 'silent' }),
    clock
  })
  const expiresAt = clock.now() + 3_600_000
  const connections = Array.from({ length: 10_000 }, (_, i) => new FakeConnection(shared, { id: `user-${i}` }))
  for (const connection of connections) auth.start(connection, { visitor: connection.visitor, expiresAt, source: 'token' })
  t.same(auth.resources(), { authDeadlines: 10_000, authBuckets: 1, authTimerArmed: true }, 'one bucket holds all ten thousand')
  t.equal(clock.pending(), 1, 'one timer armed')
  t.equal(clock.armed, 1, 'and only one ever armed for them')

  // The refresh comes at least the lead before exp, at most a bucket (1 s) more.
  clock.tick(3_600_000 - 30_000 - 1000 - 1)
  t.equal(connections.filter((c) => c.ofType('refresh').length > 0).length, 0, 'no refresh earlier than a bucket before the lead time')
  clock.tick(1000)
  t.equal(connections.filter((c) => c.ofType('refresh').length === 1).length, 10_000, 'every socket got its refresh, by the lead time')
  t.same(connections[0]?.ofType('refresh')[0], { type: 'refresh', expiresAt })
  t.same(auth.resources(), { authDeadlines: 10_000, authBuckets: 1, authTimerArmed: true }, 'and waits for expiry in one bucket again')

  // One client renews (what an auth frame does): it moves to its new deadline.
  const renewed = connections[0]
  if (renewed === undefined) throw new Error('no connection')
  auth.start(renewed, { visitor: renewed.visitor, expiresAt: expiresAt + 3_600_000, source: 'token' })
  t.equal(auth.resources().authBuckets, 2)

  clock.tick(30_000 + 1000 + 1000)
  const closed = connections.filter((c) => c.closedWith?.code === 4401)
  t.equal(closed.length, 9_999, 'every other socket closed with 4401 at expiry')
  t.same(closed[0]?.closedWith, { code: 4401, reason: 'token expired' })
  t.equal(renewed.closedWith, null, 'the renewed one stays')
  for (const connection of closed) auth.remove(connection)
  t.same(auth.resources(), { authDeadlines: 1, authBuckets: 1, authTimerArmed: true })
  auth.remove(renewed)
  t.same(auth.resources(), { authDeadlines: 0, authBuckets: 0, authTimerArmed: false }, 'nothing left')
  t.equal(clock.pending(), 0)
  t.ok(clock.armed <= 4, `${clock.armed} timers armed in all, for 10,000 sockets and 20,000 deadlines`)
})

t.test('a refresh comes at least tokenRefreshLeadMs before exp, whatever the bucket, never more than a bucket earlier', async (t) => {
  const clock = fakeWheelClock(1_700_000_000_000)
  const lead = 30_000
  const refreshedAt = new Map<FakeConnection, number>()
  const auth = new ConnectionAuth({
    tokens: null,
    requireAuth: false,
    authTimeoutMs: 10_000,
    refreshLeadMs: lead,
    node: {
      sendTo: (connection, message) => {
        if (message.type === 'refresh') refreshedAt.set(connection as FakeConnection, clock.now())
        return true
      },
      hold: () => {},
      release: () => {}
    },
    onIdentified: () => {},
    log: pino({ level: 'silent' }),
    clock
  })
  // Expiries spread over two buckets, at every offset within them (ms past a bucket's start).
  const expiries = Array.from({ length: 40 }, (_, i) => clock.now() + 600_000 + i * 53)
  const connections = expiries.map((expiresAt, i) => {
    const connection = new FakeConnection(shared, { id: `u${i}` })
    auth.start(connection, { visitor: connection.visitor, expiresAt, source: 'token' })
    return connection
  })
  // Time moves a millisecond at a time over the window, so each refresh is seen when it is sent.
  clock.tick(600_000 - lead - 2000)
  for (let ms = 0; ms < 5000 && refreshedAt.size < connections.length; ms++) clock.tick(1)
  const leads = connections.map((connection, i) => (expiries[i] ?? 0) - (refreshedAt.get(connection) ?? Infinity))
  t.equal(refreshedAt.size, connections.length, 'every connection got its refresh')
  t.ok(leads.every((ms) => ms >= lead), `every refresh came at least the lead before exp (least ${Math.min(...leads)} ms)`)
  t.ok(leads.every((ms) => ms <= lead + 1000), `and at most a bucket more (most ${Math.max(...leads)} ms)`)
})
