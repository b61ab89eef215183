import t from 'tap'
import { MemoryAdapter, type RealtimeAdapter } from '../../../src/index.js'
import { answer, channelsApp, frame, offsets, send } from '../../helpers/channels-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** A memory adapter whose history reads are slow on both sides, as over a network. */
function slowHistoryAdapter (delayMs: number): RealtimeAdapter {
  const inner = new MemoryAdapter()
  const slow = async <T>(read: () => Promise<T>): Promise<T> => {
    await sleep(delayMs)
    const result = await read()
    await sleep(delayMs)
    return result
  }
  return {
    name: 'slow-memory',
    init: async (handler) => { await inner.init(handler) },
    publish: async (channel, data, options) => await inner.publish(channel, data, options),
    subscribe: async (channel) => { await inner.subscribe(channel) },
    unsubscribe: async (channel) => { await inner.unsubscribe(channel) },
    since: async (channel, position) => await slow(async () => await inner.since(channel, position)),
    recent: async (channel, limit) => await slow(async () => await inner.recent(channel, limit)),
    presenceAdd: async (channel, entry, ttlMs) => { await inner.presenceAdd(channel, entry, ttlMs) },
    presenceRemove: async (channel, clientId) => { await inner.presenceRemove(channel, clientId) },
    presence: async (channel) => await inner.presence(channel),
    control: async (message) => { await inner.control(message) },
    stateSet: async (key, value, ttlMs) => { await inner.stateSet(key, value, ttlMs) },
    stateClaim: async (key, value, ttlMs) => await inner.stateClaim(key, value, ttlMs),
    stateGet: async (key) => await inner.stateGet(key),
    stateDelete: async (key) => { await inner.stateDelete(key) },
    close: async () => { await inner.close() }
  }
}

/**
 * A memory adapter whose `since` reads land in the middle of live publications, every time: it
 * waits for `overlap` publications before reading the history (they are both in the read and
 * buffered live for the subscriber) and for `overlap` more after it (live only, before the ack).
 * What each read overlapped is recorded, so a test can show that the race it names happened.
 */
class RacingHistoryAdapter extends MemoryAdapter {
  readonly races: Array<{ beforeRead: number, afterRead: number }> = []
  readonly #overlap: number
  #published = 0
  #waiters: Array<() => void> = []

  constructor (overlap: number) {
    super()
    this.#overlap = overlap
  }

  override async publish (...args: Parameters<MemoryAdapter['publish']>): ReturnType<MemoryAdapter['publish']> {
    const publication = await super.publish(...args)
    this.#published++
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
    return publication
  }

  override async since (...args: Parameters<MemoryAdapter['since']>): ReturnType<MemoryAdapter['since']> {
    const entered = this.#published
    await this.#publicationsUntil(entered + this.#overlap)
    const read = this.#published
    const result = await super.since(...args)
    await this.#publicationsUntil(read + this.#overlap)
    this.races.push({ beforeRead: read - entered, afterRead: this.#published - read })
    return result
  }

  async #publicationsUntil (count: number): Promise<void> {
    const deadline = Date.now() + 5000
    while (this.#published < count) {
      if (Date.now() > deadline) throw new Error(`no publication raced the history read (${this.#published} of ${count})`)
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }
}

t.test('publications arrive in offset order, once each, at every subscriber', async (t) => {
  const { app, ws } = await channelsApp(t)
  const clients = await Promise.all([connect(ws), connect(ws)])
  t.teardown(async () => { for (const client of clients) await client.close() })
  for (const client of clients) {
    send(client, { type: 'sub', channel: 'feed', id: 1 })
    await answer(client, 1)
  }
  await Promise.all(range(1, 500).map(async (n) => await app.realtime.publish('feed', n)))
  for (const client of clients) {
    await frame(client, (f) => f.type === 'pub' && f.offset === 500)
    t.same(offsets(client, 'feed'), range(1, 500), 'offsets 1..500 in order, no duplicates')
    t.same(client.ofType('pub').map((f) => f.data), range(1, 500), 'data in publish order')
  }
})

t.test('resubscribing with since recovers exactly the missed publications, before live ones', async (t) => {
  const { app, ws } = await channelsApp(t)
  const first = await connect(ws)
  send(first, { type: 'sub', channel: 'feed', id: 1 })
  await answer(first, 1)
  for (let n = 1; n <= 3; n++) await app.realtime.publish('feed', n)
  const last = await frame(first, (f) => f.type === 'pub' && f.offset === 3)
  await first.close()
  for (let n = 4; n <= 8; n++) await app.realtime.publish('feed', n)

  const again = await connect(ws)
  t.teardown(() => again.close())
  send(again, { type: 'sub', channel: 'feed', id: 2, since: { offset: last.offset, epoch: last.epoch } })
  const ack = await answer(again, 2)
  t.match(ack, { type: 'ack', recovered: true, offset: 8, epoch: last.epoch })
  await frame(again, (f) => f.type === 'pub' && f.offset === 8)
  await app.realtime.publish('feed', 9)
  await frame(again, (f) => f.type === 'pub' && f.offset === 9)
  t.same(offsets(again, 'feed'), [4, 5, 6, 7, 8, 9], 'exactly what was missed, then live')
  const ackIndex = again.frames.indexOf(ack)
  const firstPub = again.frames.findIndex((f) => f.type === 'pub')
  t.ok(ackIndex < firstPub, 'the ack comes before the replay')
})

t.test('a gap older than the history is reported as recovered: false, with the retained window', async (t) => {
  const { app, ws } = await channelsApp(t)
  for (let n = 1; n <= 10; n++) await app.realtime.publish('small', n)
  const probe = await connect(ws)
  send(probe, { type: 'sub', channel: 'small', id: 1 })
  const { epoch } = await answer(probe, 1)
  await probe.close()
  const client = await connect(ws)
  t.teardown(() => client.close())
  send(client, { type: 'sub', channel: 'small', id: 2, since: { offset: 2, epoch } })
  t.match(await answer(client, 2), { recovered: false, offset: 10, epoch })
  await frame(client, (f) => f.type === 'pub' && f.offset === 10)
  t.same(offsets(client, 'small'), [6, 7, 8, 9, 10], 'the newest historySize publications, so the app can rebuild')
})

t.test('an epoch change (restart) is reported as recovered: false with the new epoch', async (t) => {
  const first = await channelsApp(t)
  await first.app.realtime.publish('feed', 'before restart')
  const client = await connect(first.ws)
  send(client, { type: 'sub', channel: 'feed', id: 1 })
  const before = await answer(client, 1)
  await client.close()
  await first.app.close()

  const second = await channelsApp(t, {}, first.port)
  await second.app.realtime.publish('feed', 'after restart')
  const again = await connect(second.ws)
  t.teardown(() => again.close())
  send(again, { type: 'sub', channel: 'feed', id: 2, since: { offset: before.offset, epoch: before.epoch } })
  const ack = await answer(again, 2)
  t.equal(ack.recovered, false)
  t.not(ack.epoch, before.epoch, 'a new epoch')
  t.match(await frame(again, (f) => f.type === 'pub'), { data: 'after restart', offset: 1, epoch: ack.epoch })
})

t.test('rewind replays the newest publications to a fresh subscriber', async (t) => {
  const { app, ws } = await channelsApp(t)
  for (let n = 1; n <= 10; n++) await app.realtime.publish('quiet', n)
  const client = await connect(ws)
  t.teardown(() => client.close())
  send(client, { type: 'sub', channel: 'quiet', id: 1, rewind: 3 })
  t.match(await answer(client, 1), { recovered: false, offset: 10 })
  await frame(client, (f) => f.type === 'pub' && f.offset === 10)
  t.same(offsets(client, 'quiet'), [8, 9, 10])
  send(client, { type: 'sub', channel: 'small', id: 2, rewind: 100 })
  t.match(await answer(client, 2), { type: 'ack' }, 'rewind is capped by historySize, never refused')
})

t.test('no duplicates, gaps or reordering when publications race a recovering subscribe', async (t) => {
  const adapter = new RacingHistoryAdapter(3)
  const { app, ws } = await channelsApp(t, { adapter })
  let published = 0
  const run = { stop: false }
  const publisher = (async () => {
    while (!run.stop) {
      await app.realtime.publish('feed', ++published)
      await sleep(1)
    }
  })()
  t.teardown(() => { run.stop = true })
  const ROUNDS = 6
  const clients = []
  for (let round = 0; round < ROUNDS; round++) {
    await sleep(15)
    // Each round: a client that saw up to some offset comes back with since, mid-stream.
    const seen = Math.max(0, published - 3)
    const probe = await connect(ws)
    send(probe, { type: 'sub', channel: 'feed', id: 1 })
    const { epoch } = await answer(probe, 1)
    await probe.close()
    const client = await connect(ws)
    send(client, { type: 'sub', channel: 'feed', id: 'r', since: { offset: seen, epoch } })
    clients.push({ client, seen })
  }
  for (const { client } of clients) await answer(client, 'r')
  // Publications keep coming until every recovering subscribe has been answered.
  run.stop = true
  await publisher
  const TOTAL = published
  t.equal(adapter.races.length, ROUNDS, 'every round recovered through a history read')
  for (const [round, race] of adapter.races.entries()) {
    t.ok(race.beforeRead >= 3 && race.afterRead >= 3, `round ${round}: ${race.beforeRead} publications landed between the subscribe and the history read (in both), ${race.afterRead} after the read and before the ack (live only)`)
  }
  for (const { client, seen } of clients) {
    t.match(await answer(client, 'r'), { recovered: true })
    await frame(client, (f) => f.type === 'pub' && f.offset === TOTAL, 10_000)
    t.same(offsets(client, 'feed'), range(seen + 1, TOTAL), `since ${seen}: every offset from ${seen + 1} to ${TOTAL} exactly once, in order`)
    await client.close()
  }
})

t.test('a fresh subscribe racing publications starts exactly after the acked offset', async (t) => {
  const { app, ws } = await channelsApp(t, { adapter: slowHistoryAdapter(20) })
  let published = 0
  const run = { stop: false }
  const publisher = (async () => {
    while (!run.stop && published < 300) {
      await app.realtime.publish('feed', ++published)
      await sleep(1)
    }
  })()
  t.teardown(() => { run.stop = true })
  await sleep(30)
  const client = await connect(ws)
  t.teardown(() => client.close())
  send(client, { type: 'sub', channel: 'feed', id: 1 })
  const ack = await answer(client, 1)
  await publisher
  await frame(client, (f) => f.type === 'pub' && f.offset === 300, 10_000)
  t.same(offsets(client, 'feed'), range((ack.offset as number) + 1, 300))
})
