import t from 'tap'
import { KeyedTokenBuckets, TokenBucket } from '../../src/limits/token-bucket.js'
import { MessageRate, RATE_LIMIT_STRIKES } from '../../src/limits/message-rate.js'
import { ConnectionSlots } from '../../src/limits/connection-slots.js'

function fakeClock (): { now: () => number, advance: (ms: number) => void } {
  let time = 1_000_000
  return { now: () => time, advance: (ms) => { time += ms } }
}

t.test('a bucket allows its burst, then its rate', async (t) => {
  const clock = fakeClock()
  const bucket = new TokenBucket({ ratePerSec: 20, burst: 40 }, clock.now)
  let allowed = 0
  for (let i = 0; i < 100; i++) if (bucket.take()) allowed++
  t.equal(allowed, 40, 'the burst')
  t.notOk(bucket.take(), 'empty')
  clock.advance(49)
  t.notOk(bucket.take(), 'less than one token after 49 ms at 20/s')
  clock.advance(1)
  t.ok(bucket.take(), 'one token after 50 ms')
  clock.advance(10_000)
  t.equal(bucket.tokens, 40, 'never more than the burst')
  t.ok(bucket.full)
  clock.advance(-5000) // a clock going backwards adds nothing and takes nothing
  t.equal(bucket.tokens, 40)
})

t.test('keyed buckets are independent, forgotten when full, and bounded', async (t) => {
  const clock = fakeClock()
  const buckets = new KeyedTokenBuckets({ ratePerSec: 1, burst: 2 }, { now: clock.now, maxKeys: 3 })
  t.ok(buckets.take('a'))
  t.ok(buckets.take('a'))
  t.notOk(buckets.take('a'), 'a is out')
  t.ok(buckets.take('b'), 'b has its own bucket')
  t.equal(buckets.size, 2)
  clock.advance(2000)
  buckets.sweep()
  t.equal(buckets.size, 0, 'full buckets are forgotten')
  for (const key of ['a', 'b', 'c']) { buckets.take(key); buckets.take(key) }
  t.equal(buckets.size, 3)
  t.ok(buckets.take('d'), 'a new key past maxKeys still works')
  t.ok(buckets.size <= 3, `the map stays bounded (${buckets.size})`)
})

t.test('message rate: reject past the rate, close after repeated strikes, strikes reset on an accepted message', async (t) => {
  const clock = fakeClock()
  const rate = new MessageRate({ ratePerSec: 10, burst: 2 }, clock.now)
  t.equal(rate.check(), 'accept')
  t.equal(rate.check(), 'accept')
  t.equal(rate.check(), 'reject')
  t.equal(rate.strikes, 1)
  clock.advance(100)
  t.equal(rate.check(), 'accept')
  t.equal(rate.strikes, 0, 'reset')
  const verdicts = Array.from({ length: RATE_LIMIT_STRIKES }, () => rate.check())
  t.same(verdicts, [...Array.from({ length: RATE_LIMIT_STRIKES - 1 }, () => 'reject'), 'close'])
})

t.test('connection slots: per-IP and global caps, released per IP, map emptied', async (t) => {
  const slots = new ConnectionSlots({ maxPerIp: 2, maxTotal: 3 })
  t.equal(slots.acquire('a'), null)
  t.equal(slots.acquire('a'), null)
  t.equal(slots.acquire('a'), 'per_ip_limit')
  t.equal(slots.acquire('b'), null)
  t.equal(slots.acquire('c'), 'global_limit')
  t.equal(slots.total, 3)
  slots.release('a')
  t.equal(slots.heldBy('a'), 1)
  t.equal(slots.total, 2)
  t.equal(slots.acquire('c'), null, 'a released slot can be taken again')
  slots.release('c')
  slots.release('a')
  slots.release('b')
  t.equal(slots.total, 0)
  t.equal(slots.ips, 0, 'no entry left for gone IPs')
  slots.release('a')
  slots.release('never-held')
  t.equal(slots.total, 0, 'releasing an IP that holds nothing changes nothing')
})
