import t from 'tap'
import { MemoryAdapter } from '../../../src/index.js'
import { answer, channelsApp, frame, send } from '../../helpers/channels-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

/** Poll until `ready` holds or `timeoutMs` passed (the assertion after it says what was wanted). */
async function settled (ready: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await ready() && Date.now() < deadline) await sleep(5)
}

/** The adapter calls a subscribe to a presence channel makes, in order. */
type SubscribePhase = 'recent' | 'presenceAdd' | 'presence'

/** A held adapter call: `entered` once it was made, `release` lets it run, `returned` once it has. */
interface HeldCall {
  entered: Promise<void>
  release: () => void
  returned: () => boolean
}

/**
 * A memory adapter whose next call of one method can be held, so a test can close a socket while
 * that step of its subscribe is in flight. A held `presenceAdd` waits before adding the entry: the
 * entry then lands after the close, which is the ghost race.
 */
class HoldingAdapter extends MemoryAdapter {
  readonly #held = new Map<SubscribePhase, { enter: () => void, released: Promise<void>, done: () => void }>()

  hold (phase: SubscribePhase): HeldCall {
    let enter = (): void => {}
    let release = (): void => {}
    let returned = false
    const entered = new Promise<void>((resolve) => { enter = resolve })
    const released = new Promise<void>((resolve) => { release = resolve })
    this.#held.set(phase, { enter, released, done: () => { returned = true } })
    return { entered, release, returned: () => returned }
  }

  async #pass<T> (phase: SubscribePhase, call: () => Promise<T>): Promise<T> {
    const held = this.#held.get(phase)
    if (held === undefined) return await call()
    this.#held.delete(phase)
    held.enter()
    await held.released
    try {
      return await call()
    } finally {
      held.done()
    }
  }

  override async recent (...args: Parameters<MemoryAdapter['recent']>): ReturnType<MemoryAdapter['recent']> {
    return await this.#pass('recent', async () => await super.recent(...args))
  }

  override async presenceAdd (...args: Parameters<MemoryAdapter['presenceAdd']>): ReturnType<MemoryAdapter['presenceAdd']> {
    await this.#pass('presenceAdd', async () => { await super.presenceAdd(...args) })
  }

  override async presence (...args: Parameters<MemoryAdapter['presence']>): ReturnType<MemoryAdapter['presence']> {
    return await this.#pass('presence', async () => await super.presence(...args))
  }
}

const presenceFrames = (client: RecordingClient): Array<Record<string, unknown>> => client.frames.filter((f) => f.type === 'presence')

t.test('presence: a snapshot on subscribe, one join per visitor however many tabs, a leave when the last tab goes', async (t) => {
  const { app, ws } = await channelsApp(t)
  const bob = await connect(ws, { headers: { 'x-visitor': 'v-bob', 'x-name': 'Bob' } })
  t.teardown(() => bob.close())
  send(bob, { type: 'sub', channel: 'chat', id: 1 })
  await answer(bob, 1)
  t.same(await frame(bob, (f) => f.type === 'presence'), { type: 'presence', channel: 'chat', action: 'snapshot', members: [{ id: 'v-bob', name: 'Bob' }] })

  const tabs: RecordingClient[] = []
  for (let i = 0; i < 3; i++) {
    const tab = await connect(ws, { headers: { 'x-visitor': 'v-ann', 'x-name': 'Ann' } })
    send(tab, { type: 'sub', channel: 'chat', id: 1 })
    await answer(tab, 1)
    tabs.push(tab)
  }
  const snapshot = await frame(tabs[2] as RecordingClient, (f) => f.type === 'presence' && f.action === 'snapshot')
  t.same(snapshot.members, [{ id: 'v-ann', name: 'Ann' }, { id: 'v-bob', name: 'Bob' }], 'Ann counts once in the snapshot')
  t.same((await app.realtime.presence('chat')).length, 2, 'and on the server API')
  // A publication made after the three subscribes reaches Bob after any presence frame they caused.
  await app.realtime.publish('chat', 'marker 1')
  await frame(bob, (f) => f.type === 'pub' && f.data === 'marker 1')
  t.same(presenceFrames(bob).slice(1), [{ type: 'presence', channel: 'chat', action: 'join', member: { id: 'v-ann', name: 'Ann' } }], 'Bob saw one join for three tabs')

  await tabs[0]?.close()
  send(tabs[1] as RecordingClient, { type: 'unsub', channel: 'chat', id: 2 })
  await answer(tabs[1] as RecordingClient, 2)
  await app.realtime.publish('chat', 'marker 2')
  await frame(bob, (f) => f.type === 'pub' && f.data === 'marker 2')
  t.equal(presenceFrames(bob).length, 2, 'no leave while one tab remains')
  await tabs[2]?.close()
  t.same(await frame(bob, (f) => f.type === 'presence' && f.action === 'leave'), { type: 'presence', channel: 'chat', action: 'leave', member: { id: 'v-ann' } })
  t.same(await app.realtime.presence('chat'), [{ id: 'v-bob', name: 'Bob' }])
  await tabs[1]?.close()
})

t.test('presence: anonymous sockets see presence but are not listed; channels without presence send none', async (t) => {
  const { ws } = await channelsApp(t)
  const anon = await connect(ws)
  const ann = await connect(ws, { headers: { 'x-visitor': 'v-ann' } })
  t.teardown(async () => { await anon.close(); await ann.close() })
  send(anon, { type: 'sub', channel: 'chat', id: 1 })
  await answer(anon, 1)
  t.same((await frame(anon, (f) => f.type === 'presence')).members, [])
  send(ann, { type: 'sub', channel: 'chat', id: 1 })
  await answer(ann, 1)
  t.same((await frame(ann, (f) => f.type === 'presence')).members, [{ id: 'v-ann' }], 'a member without a name has no name field')
  t.match(await frame(anon, (f) => f.type === 'presence' && f.action === 'join'), { member: { id: 'v-ann' } })
  send(ann, { type: 'sub', channel: 'feed', id: 2 })
  await answer(ann, 2)
  await sleep(50)
  t.notOk(ann.frames.some((f) => f.type === 'presence' && f.channel === 'feed'), 'no presence on a channel without it')
})

t.test('presence: a visitor who subscribes and leaves at once leaves no ghost', async (t) => {
  // With the memory adapter the subscribe usually completes before the close arrives: the next
  // test holds each step of the subscribe so the close is certain to land while it is in flight.
  const { app, ws } = await channelsApp(t)
  for (let i = 0; i < 20; i++) {
    const tab = await connect(ws, { headers: { 'x-visitor': `v-${i}` } })
    send(tab, { type: 'sub', channel: 'chat' })
    if (i % 2 === 0) await sleep(1)
    await tab.close()
  }
  await settled(async () => (await app.realtime.presence('chat')).length === 0)
  t.same(await app.realtime.presence('chat'), [])
})

t.test('presence: a socket that closes while its subscribe is in flight leaves no ghost, whichever step it is at', async (t) => {
  const adapter = new HoldingAdapter()
  const { app, ws } = await channelsApp(t, { adapter })
  const watcher = await connect(ws, { headers: { 'x-visitor': 'v-watcher' } })
  t.teardown(() => watcher.close())
  send(watcher, { type: 'sub', channel: 'chat', id: 1 })
  await answer(watcher, 1)
  // The history read, the presence add (the entry lands after the close), the snapshot read.
  for (const phase of ['recent', 'presenceAdd', 'presence'] as const) {
    const held = adapter.hold(phase)
    const tab = await connect(ws, { headers: { 'x-visitor': `v-${phase}` } })
    send(tab, { type: 'sub', channel: 'chat', id: 1 })
    await held.entered
    await tab.close()
    const deadline = Date.now() + 2000
    while (app.realtime.connections > 1 && Date.now() < deadline) await sleep(5)
    t.ok(app.realtime.connections === 1 && !held.returned(), `${phase}: the server saw the close while the subscribe's ${phase} call was in flight`)
    held.release()
    while (!held.returned() && Date.now() < deadline) await sleep(5)
    // The rest of the subscribe runs on adapter calls that answer at once; a ghost would stay for good.
    await settled(async () => !(await app.realtime.presence('chat')).some((member) => member.id === `v-${phase}`))
    const ghosts = (await app.realtime.presence('chat')).filter((member) => member.id === `v-${phase}`)
    t.same(ghosts, [], `${phase}: no ghost of v-${phase} is left in the channel`)
  }
  t.same(await app.realtime.presence('chat'), [{ id: 'v-watcher' }], 'only the member still connected is present')
  const count = (action: string): number => watcher.frames.filter((f) => f.type === 'presence' && f.action === action).length
  await settled(() => count('leave') >= count('join'))
  const joins = watcher.frames.filter((f) => f.type === 'presence' && f.action === 'join').map((f) => (f.member as { id: string }).id)
  const leaves = watcher.frames.filter((f) => f.type === 'presence' && f.action === 'leave').map((f) => (f.member as { id: string }).id)
  t.same(leaves, joins, `every join the other member saw (${joins.join(', ')}) was followed by a leave`)
})
