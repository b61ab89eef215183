/**
 * What a resumable connection leaves behind while it is open (resume-store.ts): the live form
 * (visitor and channel set, no position, marked `l`) when they change and on each refresh; the
 * full form (positions) at its end; nothing live once the node drains, so a live write never
 * overwrites a full one. A token's use is claimed once.
 */
import pino from 'pino'
import t from 'tap'
import type { SharedState } from '../../src/adapters/state.js'
import type { ConnectionShared } from '../../src/node/connection.js'
import { ResumeStore, resumeKey } from '../../src/recovery/resume-store.js'
import { StreamPositions } from '../../src/recovery/stream-positions.js'
import { FakeConnection } from '../helpers/fake-connection.js'

const shared: ConnectionShared = {
  events: { message: () => {}, close: () => {}, error: () => {} },
  log: pino({ level: 'silent' }),
  requestIdLabel: 'reqId',
  budget: null
}

class ResumableConnection extends FakeConnection {
  constructor (visitor: { id: string } | null) {
    super(shared, visitor)
    this.markResumable()
  }
}

/** No other node: takeovers are never asked in these tests. */
const noCluster: ConstructorParameters<typeof ResumeStore>[0]['cluster'] = { ask: async () => [], answer: () => {} }

function fakeAdapter (): { sets: Array<{ key: string, value: unknown, ttlMs: number }>, state: Map<string, unknown>, adapter: ConstructorParameters<typeof ResumeStore>[0]['adapter'] } {
  const sets: Array<{ key: string, value: unknown, ttlMs: number }> = []
  const state = new Map<string, unknown>()
  return {
    sets,
    state,
    adapter: {
      stateSet: async (key, value, ttlMs) => { sets.push({ key, value, ttlMs }); state.set(key, value) },
      stateGet: async (key) => state.get(key),
      stateClaim: async (key, value) => {
        if (state.has(key)) return false
        state.set(key, value)
        return true
      }
    }
  }
}

const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('live form on change and on refresh, full form at the end, nothing live after the drain', async (t) => {
  const { sets, adapter } = fakeAdapter()
  const store = new ResumeStore({ adapter, cluster: noCluster, ttlMs: 1000, pendingChannels: () => [], find: () => undefined, onError: () => {} })
  const ann = new ResumableConnection({ id: 'ann' })
  ann.positions = new StreamPositions()
  ann.positions.apply({ channel: 'feed', epoch: 'E', offset: 3 })
  const idle = new ResumableConnection(null)

  store.changed(ann)
  store.changed(ann)
  t.equal(sets.length, 0, 'batched to the end of the turn')
  await turn()
  await store.flush()
  t.same(sets, [{ key: resumeKey(ann.id), value: { v: { id: 'ann' }, c: [['feed']], l: 1 }, ttlMs: 1000 }], 'once, without the position')

  store.refreshOpen([ann, idle])
  await store.flush()
  t.equal(sets.length, 2, 'a refresh rewrites a connection with something to resume, and skips one with nothing')
  t.same(sets[1]?.value, { v: { id: 'ann' }, c: [['feed']], l: 1 })

  store.stopLive()
  store.save(ann)
  store.changed(ann)
  store.refreshOpen([ann])
  await turn()
  await store.flush()
  t.equal(sets.length, 3, 'after the drain began only the full save is written')
  t.same(sets[2]?.value, { v: { id: 'ann' }, c: [['feed', 'E', 3]] }, 'the full form carries the position and no live mark')
})

t.test('the live form is what a load returns when no full state comes (the old node is dead); a token is claimed once', async (t) => {
  const { state, adapter } = fakeAdapter()
  const store = new ResumeStore({ adapter, cluster: noCluster, ttlMs: 1000, pendingChannels: () => [], find: () => undefined, onError: () => {} })
  // The store's waits between reads do not hold the process open; this test does.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(keepAlive) })
  state.set(resumeKey('old'), { v: null, c: [['feed'], ['chat']], l: 1 })
  t.match(await store.load('old'), { live: true, channels: [{ channel: 'feed' }, { channel: 'chat' }] })
  state.set(resumeKey('done'), { v: { id: 'bo' }, c: [['feed', 'E', 9]] })
  t.match(await store.load('done'), { live: false, visitor: { id: 'bo' }, channels: [{ channel: 'feed', since: { epoch: 'E', offset: 9 } }] })
  t.equal(await store.claim('done'), true)
  t.equal(await store.claim('done'), false, 'a second presentation is refused')
})

t.test('a takeover: the holder cuts an open connection; one that just closed answers once its full state is saved; a load reads again when no node holds it', async (t) => {
  const { state, adapter } = fakeAdapter()
  // Full saves are held until the test lets them go, as a slow Redis would.
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const slowAdapter: typeof adapter = { ...adapter, stateSet: async (key, value, ttlMs) => { await held; await adapter.stateSet(key, value, ttlMs) } }
  let respond: ((body: unknown) => unknown) | null = null
  let afterFirstRead: () => void = () => {}
  const cluster: ConstructorParameters<typeof ResumeStore>[0]['cluster'] = {
    answer: (_kind, answerer) => { respond = answerer },
    // No node says yes; meanwhile the old node's save lands (after the load's first read).
    ask: async () => { afterFirstRead(); return [{ from: 'b', body: false }] }
  }
  const open = new ResumableConnection({ id: 'ann' })
  const closing = new ResumableConnection({ id: 'bo' })
  const connections = new Map([[open.id, open], [closing.id, closing]])
  const store = new ResumeStore({ adapter: slowAdapter, cluster, ttlMs: 1000, pendingChannels: () => [], find: (id) => connections.get(id), onError: () => {} })
  const answer = async (connection: string): Promise<unknown> => {
    if (respond === null) throw new Error('the store registered no takeover answer')
    return await respond({ connection })
  }

  t.equal(await answer(open.id), true, 'an open connection held here: yes')
  t.ok(open.closed, 'and it was cut')
  t.equal(await answer('nobody'), false, 'a connection not held here: no')

  closing.terminate()
  store.save(closing)
  let settled = false
  const answered = answer(closing.id).then((value) => { settled = true; return value })
  await turn()
  t.notOk(settled, 'a connection that just closed: no answer while its full state is being saved')
  release()
  t.equal(await answered, true, 'yes once it is saved')

  state.set(resumeKey('old'), { v: null, c: [['feed']], l: 1 })
  afterFirstRead = () => { state.set(resumeKey('old'), { v: null, c: [['feed', 'E', 4]] }) }
  t.match(await store.load('old'), { live: false, channels: [{ channel: 'feed', since: { epoch: 'E', offset: 4 } }] }, 'no node holds it: the state is read once more, and the full form landed meanwhile')
})

t.test('with an adapter whose state dies with the process, no live form is written; the full save on close still is', async (t) => {
  const { sets, adapter } = fakeAdapter()
  const store = new ResumeStore({ adapter, cluster: noCluster, ttlMs: 1000, pendingChannels: () => [], find: () => undefined, onError: () => {}, live: false })
  const ann = new ResumableConnection({ id: 'ann' })
  ann.positions = new StreamPositions()
  ann.positions.apply({ channel: 'feed', epoch: 'E', offset: 3 })
  store.changed(ann)
  store.refreshOpen([ann])
  store.startLive([ann])
  await turn()
  await store.flush()
  t.same(sets, [], 'nothing saved while the connection is open')
  store.save(ann)
  await store.flush()
  t.same(sets, [{ key: resumeKey(ann.id), value: { v: { id: 'ann' }, c: [['feed', 'E', 3]] }, ttlMs: 1000 }], 'its full state when it ends')
  store.stopLive()
})

t.test('the memory adapter says its state lives in this process only; the Redis adapter does not', async (t) => {
  const { MemoryAdapter } = await import('../../src/adapters/memory.js')
  const { RedisAdapter } = await import('../../src/adapters/redis/index.js')
  t.equal(new MemoryAdapter().inProcess, true)
  // Made without connecting (init connects); read as the contract it is.
  const redis: SharedState = new RedisAdapter({ url: 'redis://127.0.0.1:1' })
  t.not(redis.inProcess, true)
})
