import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { Heartbeat } from '../../src/node/heartbeat.js'
import type { Connection } from '../../src/node/connection.js'

/** Just enough of a Connection for the heartbeat. */
function fakeConnection (): { connection: Connection, pings: number, terminated: boolean } {
  const state = { pings: 0, terminated: false, connection: null as unknown as Connection }
  state.connection = {
    isOpen: true,
    ping: () => { state.pings++ },
    terminate: () => { state.terminated = true }
  } as unknown as Connection
  return state
}

t.test('pings once per interval; a missing pong terminates after the timeout', async (t) => {
  const clock = FakeTimers.createClock(0)
  const timeouts: number[] = []
  const rtts: number[] = []
  const heartbeat = new Heartbeat({
    intervalMs: 1000,
    timeoutMs: 400,
    onTimeout: (_connection, waited) => timeouts.push(waited),
    onRtt: (ms) => rtts.push(ms),
    clock: { now: () => clock.now, setTimeout: (fn, ms) => ({ id: clock.setTimeout(fn, ms), unref: () => undefined }), clearTimeout: (timer) => { clock.clearTimeout((timer as { id: FakeTimers.TimerId }).id) } }
  })
  const alive = fakeConnection()
  const dead = fakeConnection()
  heartbeat.add(alive.connection)
  heartbeat.add(dead.connection)
  clock.tick(999)
  t.equal(alive.pings, 0, 'first ping about one interval after add')
  clock.tick(1)
  t.equal(alive.pings, 1)
  t.equal(dead.pings, 1)
  t.equal(heartbeat.awaitingPong, 2)
  clock.tick(30)
  heartbeat.pong(alive.connection)
  t.same(rtts, [30])
  clock.tick(400)
  t.ok(dead.terminated, 'no pong within the timeout: terminated')
  t.same(timeouts, [400])
  t.notOk(alive.terminated)
  t.equal(heartbeat.size, 1, 'the dead one is off the heartbeat')
  clock.tick(1000)
  t.equal(alive.pings, 2, 'the live one keeps being pinged')
  heartbeat.remove(alive.connection)
  t.equal(heartbeat.size, 0)
  t.equal(heartbeat.awaitingPong, 0)
  t.notOk(heartbeat.timerArmed, 'no timer once empty')
})
