/**
 * The cluster's one request/reply (cluster/requests.ts) over a fake broker joining a few nodes'
 * routers: a request ends as soon as every live node has answered (no time passes on its clock),
 * at its deadline with the answers it has when a live node stays silent, on the one node's answer
 * when it asks one node, and as soon as its caller has enough. Membership (cluster/members.ts):
 * a hello is answered at once, a silent node stops counting after its beats, a goodbye at once.
 */
import pino from 'pino'
import t from 'tap'
import type { ControlMessage } from '../../src/adapters/broker.js'
import { ControlKind } from '../../src/cluster/kinds.js'
import { BEAT_MS, ClusterMembers, SILENT_AFTER_BEATS } from '../../src/cluster/members.js'
import { ClusterRequests, type Answer } from '../../src/cluster/requests.js'
import { ControlRouter } from '../../src/cluster/router.js'
import { fakeWheelClock, type FakeWheelClock } from '../helpers/fake-wheel-clock.js'

const log = pino({ level: 'silent' })

/** A broker's `control()` for several routers: every message to every router, a turn later, as JSON. */
function fakeBus (): { join: (router: ControlRouter) => void, sent: ControlMessage[] } {
  const routers: ControlRouter[] = []
  const sent: ControlMessage[] = []
  const control = async (message: ControlMessage): Promise<void> => {
    sent.push(message)
    const text = JSON.stringify(message)
    setImmediate(() => { for (const router of routers) router.dispatch(JSON.parse(text) as ControlMessage) })
  }
  return {
    sent,
    join: (router) => {
      routers.push(router)
      router.connect({ control })
    }
  }
}

const turns = async (n = 5): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve)) }

/** Nodes `ids` on one bus, each with its requests on `clock`; `alive` is what every node counts as alive. */
function cluster (ids: string[], clock: FakeWheelClock, alive: string[] = ids): Map<string, ClusterRequests> {
  const bus = fakeBus()
  const nodes = new Map<string, ClusterRequests>()
  for (const id of ids) {
    const router = new ControlRouter(id, log)
    bus.join(router)
    nodes.set(id, new ClusterRequests(router, () => alive, clock))
  }
  return nodes
}

/** Starts `ask` and reports whether it has settled yet. */
function track (promise: Promise<Answer[]>): { settled: () => boolean, result: Promise<Answer[]> } {
  let settled = false
  const result = promise.then((answers) => { settled = true; return answers })
  return { settled: () => settled, result }
}

const froms = (answers: Answer[]): string[] => answers.map((answer) => answer.from).sort()

t.test('every live node answers: the request ends then, before its deadline, and leaves nothing behind', async (t) => {
  const clock = fakeWheelClock()
  const nodes = cluster(['a', 'b', 'c'], clock)
  for (const [id, requests] of nodes) requests.answer(ControlKind.NODES_QUERY, () => ({ nodeId: id }))
  const a = nodes.get('a')
  if (a === undefined) throw new Error('node a')
  const started = clock.now()
  const asked = track(a.ask(ControlKind.NODES_QUERY, null, { deadlineMs: 10_000 }))
  await turns()
  t.ok(asked.settled(), 'settled with no time passing on the clock')
  const answers = await asked.result
  t.same(froms(answers), ['a', 'b', 'c'], 'one answer per node, this one included')
  t.same(answers.map((answer) => answer.body).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))), [{ nodeId: 'a' }, { nodeId: 'b' }, { nodeId: 'c' }])
  t.equal(clock.now(), started, 'the clock never moved')
  t.equal(clock.pending(), 0, 'its deadline timer is cleared')
  t.equal(a.waiting, 0, 'no request left waiting')
})

t.test('a live node stays silent: the request ends at its deadline with the answers it has', async (t) => {
  const clock = fakeWheelClock()
  const nodes = cluster(['a', 'b', 'c'], clock)
  // c is alive (it beats) but does not answer this kind.
  for (const id of ['a', 'b']) nodes.get(id)?.answer(ControlKind.NODES_QUERY, () => ({ nodeId: id }))
  const a = nodes.get('a')
  if (a === undefined) throw new Error('node a')
  const asked = track(a.ask(ControlKind.NODES_QUERY, null, { deadlineMs: 1000 }))
  await turns()
  t.notOk(asked.settled(), 'still waiting for c once a and b answered')
  clock.tick(999)
  await turns()
  t.notOk(asked.settled(), 'still waiting 1 ms before the deadline')
  clock.tick(1)
  await turns()
  t.ok(asked.settled(), 'settled at the deadline')
  t.same(froms(await asked.result), ['a', 'b'], 'with the answers that arrived')
  t.equal(a.waiting, 0)
})

t.test('a request to one node ends on its answer; the others never see it', async (t) => {
  const clock = fakeWheelClock()
  const nodes = cluster(['a', 'b', 'c'], clock)
  const seen: string[] = []
  for (const [id, requests] of nodes) requests.answer(ControlKind.SSE_POST, (body) => { seen.push(id); return { echo: body } })
  const a = nodes.get('a')
  if (a === undefined) throw new Error('node a')
  const asked = track(a.ask(ControlKind.SSE_POST, 'hi', { to: 'b', deadlineMs: 10_000 }))
  await turns()
  t.ok(asked.settled(), 'settled on b\'s answer, before the deadline')
  t.same(await asked.result, [{ from: 'b', body: { echo: 'hi' } }])
  t.same(seen, ['b'], 'only b handled it')
})

t.test('the caller has enough: the request ends though a live node is silent', async (t) => {
  const clock = fakeWheelClock()
  const nodes = cluster(['a', 'b', 'c'], clock)
  nodes.get('a')?.answer(ControlKind.RESUME_TAKEOVER, () => false)
  nodes.get('b')?.answer(ControlKind.RESUME_TAKEOVER, () => true)
  const a = nodes.get('a')
  if (a === undefined) throw new Error('node a')
  const asked = track(a.ask(ControlKind.RESUME_TAKEOVER, { connection: 'x' }, { deadlineMs: 10_000, enough: (answers) => answers.some((answer) => answer.body === true) }))
  await turns()
  t.ok(asked.settled(), 'settled on b\'s yes, c never answered')
  t.ok((await asked.result).some((answer) => answer.from === 'b' && answer.body === true))
})

t.test('a request nobody can carry (the broker fails) ends at once with no answers', async (t) => {
  const clock = fakeWheelClock()
  const router = new ControlRouter('a', log)
  router.connect({ control: async () => { throw new Error('broker down') } })
  const requests = new ClusterRequests(router, () => ['a', 'b'], clock)
  t.same(await requests.ask(ControlKind.NODES_QUERY, null, { deadlineMs: 10_000 }), [])
  t.equal(requests.waiting, 0)
})

t.test('members: a hello is answered at once, a silent node drops out after its beats, a goodbye at once', async (t) => {
  const clock = fakeWheelClock()
  const bus = fakeBus()
  const routers = ['a', 'b', 'c'].map((id) => new ControlRouter(id, log))
  const [a, b] = routers.slice(0, 2).map((router) => new ClusterMembers(router, clock))
  if (a === undefined || b === undefined) throw new Error('members')
  for (const router of routers.slice(0, 2)) bus.join(router)
  a.start()
  b.start()
  await turns()
  t.same(a.alive().sort(), ['a', 'b'], 'a knows b (b said hello)')
  t.same(b.alive().sort(), ['a', 'b'], 'b knows a')
  // c comes up later.
  const cRouter = routers[2]
  if (cRouter === undefined) throw new Error('router c')
  const c = new ClusterMembers(cRouter, clock)
  bus.join(cRouter)
  c.start()
  await turns()
  t.same(a.alive().sort(), ['a', 'b', 'c'], 'c said hello')
  t.same(c.alive().sort(), ['a', 'b', 'c'], 'c knows a and b at once: they answered its hello, no beat yet')
  // c goes silent (its beats stop, as a killed process's would).
  cRouter.connect({ control: async () => {} })
  for (let beat = 0; beat < SILENT_AFTER_BEATS + 1; beat++) {
    clock.tick(BEAT_MS)
    await turns()
  }
  t.same(a.alive().sort(), ['a', 'b'], 'c no longer counts once it missed its beats')
  await b.stop()
  await turns()
  t.same(a.alive(), ['a'], 'b\'s goodbye counts at once')
  await a.stop()
  await c.stop()
  t.equal(clock.pending(), 0, 'no beat timer left')
})
