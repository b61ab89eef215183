/**
 * The shared adapter contract suite, one suite per part (adapters/broker.ts, presence.ts,
 * state.ts). Every full adapter (memory, Redis) runs all of them through {@link runAdapterContract},
 * so a node behaves the same on either; a broker alone (a toy one, a NATS one) runs
 * {@link runBrokerContract}.
 */
import type { Test } from 'tap'
import type { AdapterHandler, RealtimeAdapter } from '../../src/adapters/adapter.js'
import type { Broker, ControlMessage, GapCause, Publication, ResubscribeCause, StreamPosition } from '../../src/adapters/broker.js'
import type { Presence, PresenceEvent } from '../../src/adapters/presence.js'
import type { LifecycleEvent, SharedState } from '../../src/adapters/state.js'

/** How the broker suite makes and breaks brokers of one kind. */
export interface BrokerFixture<B extends Broker> {
  /** A new, initialised-later broker over a store this suite may use freely. */
  create: () => Promise<B>
  /**
   * Make the broker lose its history (memory: a new instance; Redis: flush the keys) and return
   * the broker to use from now on (it may be the same one).
   */
  loseHistory: (broker: B) => Promise<B>
}

/** How the suites of a full adapter make and break adapters of one kind. */
export type AdapterFixture = BrokerFixture<RealtimeAdapter>

/**
 * How the presence suite makes presence parts. Presence events ride the broker's channel
 * subscription, so the part comes with the broker that starts it and subscribes.
 */
export interface PresenceFixture {
  create: () => Promise<Presence & Broker>
}

/** How the state suite makes shared-state parts, with how they are started and closed. */
export interface StateFixture {
  create: () => Promise<SharedState & Pick<Broker, 'init' | 'close'>>
}

/** Records what an adapter calls back with. */
export class RecordingHandler implements AdapterHandler {
  readonly controls: ControlMessage[] = []
  readonly lifecycle: LifecycleEvent[] = []
  readonly publications: Publication[] = []
  readonly presenceEvents: PresenceEvent[] = []
  readonly errors: Array<{ error: Error, operation: string }> = []
  /** Gaps told through `onGap`: publications the broker could not deliver to this node. */
  readonly gaps: Array<{ channel: string, position: StreamPosition, cause: GapCause }> = []
  onGap = (channel: string, position: StreamPosition, cause: GapCause): void => { this.gaps.push({ channel, position, cause }) }
  /** Resubscribes told through `onResubscribe`: channels subscribed again after their subscription was cut. */
  readonly resubscribes: Array<{ channels: number, cause: ResubscribeCause }> = []
  onResubscribe = (channels: number, cause: ResubscribeCause): void => { this.resubscribes.push({ channels, cause }) }
  onPublication = (publication: Publication): void => { this.publications.push(publication) }
  onPresence = (event: PresenceEvent): void => { this.presenceEvents.push(event) }
  onError = (error: Error, operation: string): void => { this.errors.push({ error, operation }) }
  onControl = (message: ControlMessage): void => { this.controls.push(message) }
  onLifecycle = (event: LifecycleEvent): void => { this.lifecycle.push(event) }

  /** Resolve when `predicate` holds, polling; rejects after `timeoutMs`. */
  async until (predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const started = Date.now()
    while (!predicate()) {
      if (Date.now() - started > timeoutMs) throw new Error(`adapter contract: ${what} not seen within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}

const HISTORY = { historySize: 100, historyTtlMs: 60_000 }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
let channelSeq = 0
/** A channel name no other test of this run uses. */
const fresh = (label: string): string => `contract:${label}:${process.pid}:${++channelSeq}`

/**
 * The broker part: offsets, history and recovery, subscriptions, idempotency, control messages.
 * @param t - the tap test to nest under
 * @param fixture - how to create brokers and lose their history
 */
export function runBrokerContract<B extends Broker> (t: Test, fixture: BrokerFixture<B>): void {
  async function setup (tt: Test): Promise<{ adapter: B, handler: RecordingHandler }> {
    const adapter = await fixture.create()
    const handler = new RecordingHandler()
    await adapter.init(handler)
    tt.teardown(() => adapter.close())
    return { adapter, handler }
  }

  t.test('a fresh channel has offset 0 and a stable epoch', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('fresh')
    const first = await adapter.recent(channel, 10)
    t.same(first.publications, [])
    t.equal(first.position.offset, 0)
    t.ok(first.position.epoch.length > 0, 'an epoch exists before any publication')
    const again = await adapter.recent(channel, 0)
    t.equal(again.position.epoch, first.position.epoch, 'the same epoch on the next read')
    const published = await adapter.publish(channel, 'x', HISTORY)
    t.equal(published.epoch, first.position.epoch, 'publications use that epoch')
  })

  t.test('publish stamps consecutive offsets, one epoch, the time and the data', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('offsets')
    const before = Date.now()
    const published: Publication[] = []
    for (let i = 0; i < 5; i++) published.push(await adapter.publish(channel, { i }, HISTORY))
    t.same(published.map((p) => p.offset), [1, 2, 3, 4, 5])
    t.equal(new Set(published.map((p) => p.epoch)).size, 1)
    t.same(published.map((p) => p.data), [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }])
    t.ok(published.every((p) => p.channel === channel && p.t >= before - 1000 && p.t <= Date.now() + 1000), 'stamped with the channel and server time')
    const other = await adapter.publish(fresh('offsets-other'), 1, HISTORY)
    t.equal(other.offset, 1, 'offsets are per channel')
  })

  t.test('concurrent publishes get unique offsets and arrive in offset order', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('concurrent')
    await adapter.subscribe(channel)
    const published = await Promise.all(Array.from({ length: 200 }, async (_, i) => await adapter.publish(channel, i, HISTORY)))
    t.same(published.map((p) => p.offset).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1))
    await handler.until(() => handler.publications.length >= 200, '200 deliveries')
    await sleep(50)
    t.same(handler.publications.map((p) => p.offset), Array.from({ length: 200 }, (_, i) => i + 1), 'delivered exactly once each, in offset order')
    t.same(handler.gaps, [], 'and no gap told (onGap is for publications that could not be delivered, never for a burst)')
  })

  t.test('only subscribed channels are delivered, own publications included', async (t) => {
    const { adapter, handler } = await setup(t)
    const on = fresh('on')
    const off = fresh('off')
    await adapter.subscribe(on)
    await adapter.publish(off, 'not for us', HISTORY)
    await adapter.publish(on, 'one', HISTORY)
    await handler.until(() => handler.publications.length >= 1, 'a delivery')
    await adapter.unsubscribe(on)
    await adapter.publish(on, 'after unsubscribe', HISTORY)
    await sleep(100)
    t.same(handler.publications.map((p) => p.data), ['one'])
    t.equal(handler.publications[0]?.channel, on)
  })

  t.test('since returns exactly what was missed, in order', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('since')
    for (let i = 1; i <= 10; i++) await adapter.publish(channel, i, HISTORY)
    const { position } = await adapter.recent(channel, 0)
    t.equal(position.offset, 10)
    const result = await adapter.since(channel, { offset: 6, epoch: position.epoch })
    t.equal(result.recovered, true)
    t.same(result.publications.map((p) => p.data), [7, 8, 9, 10])
    t.same(result.position, position)
    const none = await adapter.since(channel, position)
    t.equal(none.recovered, true, 'nothing missed is a complete recovery')
    t.same(none.publications, [])
    const fromStart = await adapter.since(channel, { offset: 0, epoch: position.epoch })
    t.equal(fromStart.recovered, true)
    t.equal(fromStart.publications.length, 10)
  })

  t.test('a gap older than the history is not recovered; the retained window is returned', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('gap')
    const small = { historySize: 3, historyTtlMs: 60_000 }
    for (let i = 1; i <= 10; i++) await adapter.publish(channel, i, small)
    const { position } = await adapter.recent(channel, 0)
    const result = await adapter.since(channel, { offset: 2, epoch: position.epoch })
    t.equal(result.recovered, false)
    t.same(result.publications.map((p) => p.offset), [8, 9, 10])
    const edge = await adapter.since(channel, { offset: 7, epoch: position.epoch })
    t.equal(edge.recovered, true, 'the oldest retained one is exactly the next: complete')
    t.same(edge.publications.map((p) => p.offset), [8, 9, 10])
    const future = await adapter.since(channel, { offset: 11, epoch: position.epoch })
    t.equal(future.recovered, false, 'an offset past the top is not trusted')
    t.same(future.publications.map((p) => p.offset), [8, 9, 10], 'and the retained window is returned, as for any gap not recovered')
  })

  t.test('another epoch is not recovered', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('epoch')
    await adapter.publish(channel, 'a', HISTORY)
    const result = await adapter.since(channel, { offset: 1, epoch: 'some-other-epoch' })
    t.equal(result.recovered, false)
    t.same(result.publications.map((p) => p.data), ['a'])
    t.not(result.position.epoch, 'some-other-epoch')
  })

  t.test('losing the history starts a new epoch', async (t) => {
    let adapter = await fixture.create()
    await adapter.init(new RecordingHandler())
    const channel = fresh('lost')
    const before = await adapter.publish(channel, 'a', HISTORY)
    adapter = await fixture.loseHistory(adapter)
    t.teardown(() => adapter.close())
    const result = await adapter.since(channel, { offset: before.offset, epoch: before.epoch })
    t.equal(result.recovered, false)
    t.not(result.position.epoch, before.epoch, 'new epoch')
    const after = await adapter.publish(channel, 'b', HISTORY)
    t.equal(after.epoch, result.position.epoch)
  })

  t.test('history is capped by size and expires by TTL', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('ttl')
    for (let i = 1; i <= 5; i++) await adapter.publish(channel, i, { historySize: 2, historyTtlMs: 1000 })
    const recent = await adapter.recent(channel, 10)
    t.same(recent.publications.map((p) => p.data), [4, 5], 'at most historySize kept')
    t.same((await adapter.recent(channel, 1)).publications.map((p) => p.data), [5], 'recent honours its limit')
    await sleep(1600)
    const expired = await adapter.recent(channel, 10)
    t.same(expired.publications, [], 'expired after the TTL')
    t.equal(expired.position.offset, 5, 'the offset survives the history')
    const gap = await adapter.since(channel, { offset: 3, epoch: expired.position.epoch })
    t.equal(gap.recovered, false, 'an expired gap is not recovered')
    const next = await adapter.publish(channel, 6, { historySize: 2, historyTtlMs: 1000 })
    t.equal(next.offset, 6, 'offsets go on')
  })

  t.test('no history still assigns offsets and recovers an empty gap', async (t) => {
    const { adapter } = await setup(t)
    const channel = fresh('nohistory')
    const none = { historySize: 0, historyTtlMs: 0 }
    await adapter.publish(channel, 1, none)
    const last = await adapter.publish(channel, 2, none)
    t.equal(last.offset, 2)
    t.same((await adapter.recent(channel, 10)).publications, [])
    t.equal((await adapter.since(channel, { offset: 2, epoch: last.epoch })).recovered, true)
    t.equal((await adapter.since(channel, { offset: 1, epoch: last.epoch })).recovered, false)
  })

  t.test('a control message comes back to the node that sent it, once, as a copy', async (t) => {
    const { adapter, handler } = await setup(t)
    const message = { kind: 'contract.test', to: { user: 'ann' }, n: 1 }
    await adapter.control(message)
    await handler.until(() => handler.controls.length >= 1, 'the control message')
    await sleep(50)
    t.same(handler.controls, [message], 'once, intact')
    t.not(handler.controls[0], message, 'a copy: it crossed the wire (or as good as)')
  })

  t.test('control messages sent one after the other arrive in that order, each once (per-user delivery relies on it)', async (t) => {
    const { adapter, handler } = await setup(t)
    const sent = Array.from({ length: 50 }, (_, n) => ({ kind: 'contract.order', n }))
    await Promise.all(sent.map(async (message) => { await adapter.control(message) }))
    await handler.until(() => handler.controls.length >= 50, 'fifty control messages')
    await sleep(50)
    t.same(handler.controls.map((message) => message.n), sent.map((message) => message.n), 'in order, none twice')
  })

  t.test('an idempotency key makes a publish happen once, concurrent retries included, until it is forgotten', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('idem')
    await adapter.subscribe(channel)
    const once = { ...HISTORY, idempotencyKey: 'order-42', idempotencyTtlMs: 400 }
    const answers = await Promise.all(Array.from({ length: 50 }, async () => await adapter.publish(channel, { n: 42 }, once)))
    const firsts = answers.filter((answer) => answer.duplicate !== true)
    t.equal(firsts.length, 1, 'one of fifty published')
    t.same(new Set(answers.map((answer) => `${answer.epoch}:${answer.offset}:${answer.t}`)).size, 1, 'all fifty answers name the same publication')
    const other = await adapter.publish(channel, 'another key', { ...HISTORY, idempotencyKey: 'order-43', idempotencyTtlMs: 400 })
    t.equal(other.offset, (firsts[0]?.offset ?? 0) + 1, 'another key publishes')
    await handler.until(() => handler.publications.length >= 2, 'the deliveries')
    await sleep(50)
    t.same(handler.publications.map((publication) => publication.offset), [1, 2], 'delivered once each')
    t.equal((await adapter.since(channel, { offset: 0, epoch: other.epoch })).publications.length, 2, 'kept once in the history')
    await sleep(550)
    const later = await adapter.publish(channel, { n: 42 }, once)
    t.equal(later.duplicate, undefined, 'after the window the key is forgotten')
    t.equal(later.offset, 3)
  })

  t.test('an idempotency key reused for other data is refused, in the same atomic step, and publishes nothing', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('reuse')
    await adapter.subscribe(channel)
    const once = { ...HISTORY, idempotencyKey: 'order-7', idempotencyTtlMs: 60_000 }
    // Concurrent: half retry one body, half send another under the same key. Whichever lands
    // first is the publication; the same body is its duplicate, the other body is refused.
    const settled = await Promise.allSettled(Array.from({ length: 40 }, async (_, i) => await adapter.publish(channel, { item: i % 2 === 0 ? 'book' : 'lamp', qty: 1 }, once)))
    const published = settled.flatMap((outcome) => outcome.status === 'fulfilled' ? [outcome.value] : [])
    const refused = settled.flatMap((outcome) => outcome.status === 'rejected' ? [outcome.reason as { code?: string, statusCode?: number }] : [])
    const first = published.find((publication) => publication.duplicate !== true)
    t.equal(published.filter((publication) => publication.duplicate !== true).length, 1, 'one of forty published')
    t.equal(published.length, 20, 'the twenty with the winner\'s body are answered')
    t.ok(published.every((publication) => publication.offset === first?.offset && publication.epoch === first.epoch && publication.t === first.t), 'each with the first publication\'s position')
    t.equal(refused.length, 20, 'the twenty with the other body are refused')
    t.ok(refused.every((err) => err.code === 'FRT_IDEMPOTENCY_KEY_REUSED' && err.statusCode === 409), 'as FRT_IDEMPOTENCY_KEY_REUSED (409)')
    const winner = (first?.data as { item: string } | undefined)?.item ?? ''

    // Fields in another order are the same body; another payload, or null for it, is not.
    const reordered = await adapter.publish(channel, { qty: 1, item: winner }, once)
    t.equal(reordered.duplicate, true, 'the same body with its fields in another order is a duplicate')
    t.equal(reordered.offset, first?.offset)
    await t.rejects(adapter.publish(channel, { item: winner, qty: 2 }, once), { code: 'FRT_IDEMPOTENCY_KEY_REUSED' }, 'one field changed is refused')
    await t.rejects(adapter.publish(channel, null, once), { code: 'FRT_IDEMPOTENCY_KEY_REUSED' }, 'so is no data')

    // A caller's own fingerprint (a client's pub, whose data a hook rewrites) is what binds the key.
    const bound = { ...HISTORY, idempotencyKey: 'msg-1', idempotencyTtlMs: 60_000, idempotencyFingerprint: 'sent by client A' }
    const stamped = await adapter.publish(channel, { text: 'hi', at: 1 }, bound)
    t.equal((await adapter.publish(channel, { text: 'hi', at: 2 }, bound)).duplicate, true, 'same fingerprint: a duplicate, whatever the data')
    await t.rejects(adapter.publish(channel, { text: 'hi', at: 1 }, { ...bound, idempotencyFingerprint: 'sent by client B' }), { code: 'FRT_IDEMPOTENCY_KEY_REUSED' }, 'another fingerprint: refused')

    // Keys are remembered per channel: the same key on another channel is another publication.
    const elsewhere = await adapter.publish(fresh('reuse-other'), { item: 'anything' }, once)
    t.equal(elsewhere.duplicate, undefined, 'the same key on another channel publishes')

    await handler.until(() => handler.publications.length >= 2, 'the deliveries')
    await sleep(50)
    t.same(handler.publications.map((publication) => publication.offset), [first?.offset, stamped.offset], 'delivered: the first publication and the other key\'s, nothing refused')
    t.equal((await adapter.since(channel, { offset: 0, epoch: stamped.epoch })).publications.length, 2, 'kept: the same two')
  })
}

/**
 * The presence part: members per visitor, renames, expiry, events on subscribed channels only.
 * @param t - the tap test to nest under
 * @param fixture - how to create presence parts (with their broker)
 */
export function runPresenceContract (t: Test, fixture: PresenceFixture): void {
  async function setup (tt: Test): Promise<{ adapter: Presence & Broker, handler: RecordingHandler }> {
    const adapter = await fixture.create()
    const handler = new RecordingHandler()
    await adapter.init(handler)
    tt.teardown(() => adapter.close())
    return { adapter, handler }
  }

  t.test('presence counts a visitor once, whatever their connections', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('presence')
    await adapter.subscribe(channel)
    for (const clientId of ['tab1', 'tab2', 'tab3']) await adapter.presenceAdd(channel, { clientId, visitorId: 'ann', name: 'Ann' }, 60_000)
    await adapter.presenceAdd(channel, { clientId: 'bob1', visitorId: 'bob' }, 60_000)
    t.same(await adapter.presence(channel), [{ id: 'ann', name: 'Ann' }, { id: 'bob' }])
    await handler.until(() => handler.presenceEvents.length >= 2, 'two joins')
    t.same(handler.presenceEvents, [
      { channel, action: 'join', member: { id: 'ann', name: 'Ann' } },
      { channel, action: 'join', member: { id: 'bob' } }
    ], 'one join per visitor')
    await adapter.presenceRemove(channel, 'tab1')
    await adapter.presenceRemove(channel, 'tab2')
    await adapter.presenceRemove(channel, 'unknown-client')
    await sleep(50)
    t.equal(handler.presenceEvents.length, 2, 'no leave while a tab remains')
    t.same((await adapter.presence(channel)).map((m) => m.id), ['ann', 'bob'])
    await adapter.presenceRemove(channel, 'tab3')
    await handler.until(() => handler.presenceEvents.length >= 3, 'a leave')
    t.same(handler.presenceEvents[2], { channel, action: 'leave', member: { id: 'ann' } })
    t.same(await adapter.presence(channel), [{ id: 'bob' }])
  })

  t.test('a name change is announced as a join (upsert)', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('rename')
    await adapter.subscribe(channel)
    await adapter.presenceAdd(channel, { clientId: 'c1', visitorId: 'v', name: 'Old' }, 60_000)
    await adapter.presenceAdd(channel, { clientId: 'c1', visitorId: 'v', name: 'Old' }, 60_000)
    await adapter.presenceAdd(channel, { clientId: 'c2', visitorId: 'v', name: 'New' }, 60_000)
    await handler.until(() => handler.presenceEvents.length >= 2, 'two events')
    t.same(handler.presenceEvents.map((e) => [e.action, e.member.name]), [['join', 'Old'], ['join', 'New']])
    t.same(await adapter.presence(channel), [{ id: 'v', name: 'New' }])
  })

  t.test('presence entries expire unless refreshed, with a leave', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('expiry')
    await adapter.subscribe(channel)
    await adapter.presenceAdd(channel, { clientId: 'kept', visitorId: 'k' }, 1500)
    await adapter.presenceAdd(channel, { clientId: 'dropped', visitorId: 'd' }, 1500)
    for (let i = 0; i < 6; i++) {
      await sleep(500)
      await adapter.presenceAdd(channel, { clientId: 'kept', visitorId: 'k' }, 1500)
    }
    t.same(await adapter.presence(channel), [{ id: 'k' }], 'the unrefreshed entry is gone after its TTL')
    await handler.until(() => handler.presenceEvents.some((e) => e.action === 'leave'), 'a leave for the expired entry')
    t.same(handler.presenceEvents.filter((e) => e.action === 'leave'), [{ channel, action: 'leave', member: { id: 'd' } }])
  })

  t.test('presence events only for subscribed channels', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('presence-off')
    await adapter.presenceAdd(channel, { clientId: 'c', visitorId: 'v' }, 60_000)
    await adapter.presenceRemove(channel, 'c')
    await sleep(100)
    t.same(handler.presenceEvents, [])
    t.same(await adapter.presence(channel), [])
  })
}

/**
 * The shared-state part: values with a TTL, and claims of which exactly one wins.
 * @param t - the tap test to nest under
 * @param fixture - how to create shared-state parts
 */
export function runStateContract (t: Test, fixture: StateFixture): void {
  async function setup (tt: Test): Promise<{ adapter: SharedState }> {
    const adapter = await fixture.create()
    await adapter.init(new RecordingHandler())
    tt.teardown(() => adapter.close())
    return { adapter }
  }

  t.test('shared state: set, get, replace, expire, delete', async (t) => {
    const { adapter } = await setup(t)
    const key = fresh('state')
    t.equal(await adapter.stateGet(key), undefined, 'nothing at first')
    await adapter.stateSet(key, { a: 1 }, 60_000)
    t.same(await adapter.stateGet(key), { a: 1 })
    await adapter.stateSet(key, ['b'], 60_000)
    t.same(await adapter.stateGet(key), ['b'], 'a set replaces')
    await adapter.stateDelete(key)
    t.equal(await adapter.stateGet(key), undefined, 'deleted')
    await adapter.stateSet(key, 'short-lived', 100)
    await sleep(250)
    t.equal(await adapter.stateGet(key), undefined, 'expired after its TTL')
  })

  t.test('shared state: of concurrent claims on one key exactly one wins, until it expires', async (t) => {
    const { adapter } = await setup(t)
    const key = fresh('claim')
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => await adapter.stateClaim(key, i, 300)))
    t.equal(results.filter(Boolean).length, 1, 'one claim of twenty stored')
    const winner = results.indexOf(true)
    t.equal(await adapter.stateGet(key), winner, 'and its value is kept')
    t.equal(await adapter.stateClaim(key, 'late', 300), false, 'a later claim loses while it lives')
    await sleep(450)
    t.equal(await adapter.stateClaim(key, 'after', 300), true, 'after the TTL, a claim wins again')
  })
}

/**
 * Run the whole adapter contract against one kind of full adapter: each part's suite, then what
 * only the parts together promise (occupancy and membership lifecycle, told to one node).
 * @param t - the tap test to nest under
 * @param fixture - how to create adapters and lose their history
 */
export function runAdapterContract (t: Test, fixture: AdapterFixture): void {
  async function setup (tt: Test): Promise<{ adapter: RealtimeAdapter, handler: RecordingHandler }> {
    const adapter = await fixture.create()
    const handler = new RecordingHandler()
    await adapter.init(handler)
    tt.teardown(() => adapter.close())
    return { adapter, handler }
  }

  t.test('broker part', async (t) => { runBrokerContract(t, fixture) })
  t.test('presence part', async (t) => { runPresenceContract(t, fixture) })
  t.test('shared-state part', async (t) => { runStateContract(t, fixture) })

  t.test('lifecycle: occupied on the first subscribe, vacated on the last unsubscribe; joins and leaves of visitors, once each', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('life')
    const of = (): string[] => handler.lifecycle.filter((event) => event.channel === channel).map((event) => 'member' in event ? `${event.type}:${event.member.id}` : event.type)
    await adapter.subscribe(channel)
    await adapter.subscribe(channel)
    await adapter.presenceAdd(channel, { clientId: 'c1', visitorId: 'ann', name: 'Ann' }, 60_000)
    await adapter.presenceAdd(channel, { clientId: 'c2', visitorId: 'ann', name: 'Ann' }, 60_000)
    await adapter.presenceAdd(channel, { clientId: 'c2', visitorId: 'ann', name: 'Annie' }, 60_000)
    await adapter.presenceRemove(channel, 'c1')
    await adapter.presenceRemove(channel, 'c2')
    await adapter.unsubscribe(channel)
    await adapter.unsubscribe(channel)
    t.same(of(), ['channel.occupied', 'presence.join:ann', 'presence.leave:ann', 'channel.vacated'], 'a second tab, a rename and repeated calls are no events')
  })

  t.test('lifecycle: a visitor whose entry expires leaves, once', async (t) => {
    const { adapter, handler } = await setup(t)
    const channel = fresh('expire')
    await adapter.presenceAdd(channel, { clientId: 'c1', visitorId: 'bob' }, 150)
    await handler.until(() => handler.lifecycle.some((event) => event.channel === channel && event.type === 'presence.leave'), 'the expiry leave', 5000)
    await sleep(300)
    t.same(handler.lifecycle.filter((event) => event.channel === channel).map((event) => event.type), ['presence.join', 'presence.leave'])
  })
}
