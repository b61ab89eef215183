/**
 * Three real server processes (node dist/src/app/server.js) sharing one private redis-server, as
 * behind a load balancer: fan-out across nodes, presence union, recovery on another node, a
 * node killed without cleanup, and Redis stopped and restarted under a stream of publications.
 */
import t from 'tap'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect, sleep, type Frame, type RecordingClient } from '../helpers/ws-client.js'

const SECRET = 'multi-node-test-secret-0123456789abcdef'

interface Node { proc: RunningProcess, port: number, http: string, ws: string }

async function startNodes (t: { teardown: (fn: () => unknown) => void }, redisUrl: string, count: number, prefix: string): Promise<Node[]> {
  const nodes = await Promise.all(Array.from({ length: count }, async () => {
    const proc = startNode([built('src/app/server.js')], {
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      SESSION_SECRET: SECRET,
      LOG_LEVEL: 'info',
      TICK_INTERVAL_MS: '0',
      // The tests publish in bursts from one socket: lift the per-connection message rate limit.
      MESSAGE_RATE_PER_SEC: '10000',
      MESSAGE_BURST: '10000',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      PRESENCE_TTL_MS: '2000',
      CLOSE_GRACE_MS: '1000'
    })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    const port = await proc.listening()
    return { proc, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` }
  }))
  return nodes
}

/** A visitor with a session (made on `node`) and a display name. @returns the cookie header */
async function visitor (node: Node, name: string): Promise<{ cookie: string, id: string }> {
  const page = await fetch(`${node.http}/`)
  const visitorCookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const id = /data-visitor="([^"]+)"/.exec(await page.text())?.[1] ?? ''
  const named = await fetch(`${node.http}/name`, { method: 'POST', redirect: 'manual', headers: { cookie: visitorCookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${encodeURIComponent(name)}` })
  if (named.status !== 303) throw new Error(`POST /name answered ${named.status}`)
  // The page set the visitor cookie; the name made the session, with its own cookie.
  const sessionCookie = named.headers.getSetCookie().map((line) => line.split(';')[0] ?? '').find((pair) => pair.startsWith('rt.sid=')) ?? ''
  return { cookie: `${visitorCookie}; ${sessionCookie}`, id }
}

async function subscribe (client: RecordingClient, channel: string, extra: Record<string, unknown> = {}): Promise<Frame> {
  const id = `sub-${channel}-${Math.random()}`
  client.socket.send(JSON.stringify({ type: 'sub', channel, id, ...extra }))
  const started = Date.now()
  for (;;) {
    const ack = client.frames.find((frame) => (frame.type === 'ack' || frame.type === 'error') && frame.id === id)
    if (ack !== undefined) return ack
    if (Date.now() - started > 10_000) throw new Error(`no answer to sub ${channel}`)
    await sleep(5)
  }
}

const pubsOf = (client: RecordingClient, channel: string): Frame[] => client.frames.filter((frame) => frame.type === 'pub' && frame.channel === channel)
const textsOf = (client: RecordingClient, channel: string): string[] => pubsOf(client, channel).map((frame) => String((frame.data as { text?: unknown }).text))

t.test('three nodes, one Redis', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const [a, b, c] = await startNodes(t, redis.url, 3, 'mn:')
  if (a === undefined || b === undefined || c === undefined) throw new Error('three nodes')
  const ann = await visitor(a, 'Ann')
  const bob = await visitor(b, 'Bob')

  const onA = await connect(a.ws, { headers: { cookie: ann.cookie } })
  const onB = await connect(b.ws, { headers: { cookie: bob.cookie } })
  const onC = await connect(c.ws)
  t.teardown(() => { for (const client of [onA, onB, onC]) client.socket.terminate() })
  for (const client of [onA, onB, onC]) t.match(await subscribe(client, 'chat'), { type: 'ack', channel: 'chat' })

  await t.test('a publication on A reaches B and C exactly once and in order', async (t) => {
    for (let i = 1; i <= 100; i++) onA.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', data: { text: `m${i}` } }))
    for (const client of [onA, onB, onC]) await waitUntil(() => pubsOf(client, 'chat').length >= 100, 'a hundred publications')
    await sleep(200)
    const expected = Array.from({ length: 100 }, (_, i) => `m${i + 1}`)
    for (const [name, client] of [['A', onA], ['B', onB], ['C', onC]] as const) {
      t.same(textsOf(client, 'chat'), expected, `${name}: every message once, in order`)
      const offsets = pubsOf(client, 'chat').map((frame) => frame.offset as number)
      t.ok(offsets.every((offset, i) => i === 0 || offset === (offsets[i - 1] ?? 0) + 1), `${name}: consecutive offsets`)
    }
    t.same(pubsOf(onB, 'chat').map((frame) => frame.from ?? (frame.data as { from?: { name?: string } }).from?.name), Array(100).fill('Ann'), 'signed by the visitor from the session made on A')
  })

  await t.test('presence is the union across nodes', async (t) => {
    const late = await connect(c.ws)
    t.teardown(() => late.socket.terminate())
    await subscribe(late, 'chat')
    await waitUntil(() => late.ofType('presence').length >= 1, 'a snapshot')
    const snapshot = late.ofType('presence')[0]
    t.equal(snapshot?.action, 'snapshot')
    t.same((snapshot?.members as Array<{ name?: string }>).map((member) => member.name).sort(), ['Ann', 'Bob'], 'Ann (on A) and Bob (on B), seen from C')
  })

  await t.test('a client that leaves A and reconnects to B with since recovers exactly what it missed', async (t) => {
    const mover = await connect(a.ws)
    const ack = await subscribe(mover, 'chat')
    const position = { offset: ack.offset as number, epoch: ack.epoch as string }
    await mover.close()
    for (let i = 1; i <= 10; i++) onA.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', data: { text: `missed${i}` } }))
    await waitUntil(() => textsOf(onB, 'chat').includes('missed10'), 'the publications landed')
    const back = await connect(b.ws)
    t.teardown(() => back.socket.terminate())
    const resumed = await subscribe(back, 'chat', { since: position })
    t.match(resumed, { type: 'ack', recovered: true, epoch: position.epoch })
    await waitUntil(() => pubsOf(back, 'chat').length >= 10, 'the replay')
    await sleep(200)
    t.same(textsOf(back, 'chat'), Array.from({ length: 10 }, (_, i) => `missed${i + 1}`), 'exactly the missed ones, in order, no duplicates')
  })

  await t.test('killing B removes its visitors from presence within the TTL', async (t) => {
    const leftBefore = onC.ofType('presence').filter((frame) => frame.action === 'leave').length
    const killedAt = Date.now()
    b.proc.child.kill('SIGKILL')
    await waitUntil(() => onC.ofType('presence').filter((frame) => frame.action === 'leave').length > leftBefore, 'a leave', 10_000)
    const leave = onC.ofType('presence').filter((frame) => frame.action === 'leave').at(-1)
    t.equal((leave?.member as { id?: string }).id, bob.id, 'Bob, whose only socket was on B')
    const elapsed = Date.now() - killedAt
    t.ok(elapsed < 2000 + 2000, `gone ${elapsed} ms after the kill (TTL 2000 ms + one sweep)`)
  })
})

t.test('Redis stopped and restarted during a stream of publications: nothing silently missing', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const [a, b] = await startNodes(t, redis.url, 2, 'fault:')
  if (a === undefined || b === undefined) throw new Error('two nodes')
  const ann = await visitor(a, 'Ann')
  const publisher = await connect(a.ws, { headers: { cookie: ann.cookie } })
  const subscriber = await connect(b.ws)
  t.teardown(() => { publisher.socket.terminate(); subscriber.socket.terminate() })
  const firstAck = await subscribe(subscriber, 'chat')

  const sent: number[] = []
  let i = 0
  const stream = setInterval(() => {
    i++
    sent.push(i)
    publisher.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', id: i, data: { text: `s${i}` } }))
  }, 40)
  t.teardown(() => clearInterval(stream))
  // Each phase lasts until what it is for has happened (a loaded machine only makes it longer).
  const answered = (type: string): number => publisher.frames.filter((frame) => frame.type === type && typeof frame.id === 'number').length
  await waitUntil(() => answered('ack') >= 10, 'publishes accepted before the outage')
  const ready = await fetch(`${b.http}/ready`)
  await redis.stop('SIGKILL')
  await waitUntil(() => answered('error') >= 3, 'publishes refused during the outage')
  let readyDuring = 0
  await waitUntil(async () => (readyDuring = (await fetch(`${b.http}/ready`)).status) === 503, '/ready 503 during the outage')
  t.equal(readyDuring, 503, '/ready says not ready while Redis is down')
  t.equal((await fetch(`${b.http}/health`)).status, 200, '/health stays live')
  await redis.restart()
  for (const node of [a, b]) await waitUntil(async () => (await fetch(`${node.http}/ready`)).status === 200, 'ready again', 10_000)
  const ackedBeforeBack = answered('ack')
  await waitUntil(() => answered('ack') >= ackedBeforeBack + 10, 'publishes accepted after the restart')
  clearInterval(stream)
  t.equal(ready.status, 200, 'ready before the outage')

  const answers = new Map<number, Frame>()
  const collect = (): number => {
    for (const frame of publisher.frames) if ((frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'number') answers.set(frame.id, frame)
    return answers.size
  }
  await waitUntil(() => collect() >= sent.length, 'an answer to every publish')
  t.equal(answers.size, sent.length, `every one of ${sent.length} publishes was answered (ack or error)`)
  const acked = sent.filter((n) => answers.get(n)?.type === 'ack').map((n) => `s${n}`)
  // The last accepted publication reaching the subscriber means every earlier one had its chance.
  await waitUntil(() => textsOf(subscriber, 'chat').includes(acked.at(-1) ?? ''), 'the last accepted publication on the other node')
  const failed = sent.filter((n) => answers.get(n)?.type === 'error')
  t.ok(failed.length > 0, `${failed.length} publishes during the outage were refused with an error frame`)
  t.ok(acked.length > 0, `${acked.length} were accepted`)
  const received = textsOf(subscriber, 'chat')
  t.same(received.filter((text) => acked.includes(text)), acked, 'the subscriber on the other node got every accepted publication, in order')
  t.same(received.filter((text) => !acked.includes(text)), [], 'and nothing that was refused')
  const epochs = [...new Set(pubsOf(subscriber, 'chat').map((frame) => frame.epoch))]
  t.equal(epochs.length, 2, 'the epoch changed with the restart (Redis kept no data), visible in the frames')
  t.equal(epochs[0], firstAck.epoch)
  const told = subscriber.frames.filter((frame) => frame.type === 'gap' && frame.channel === 'chat')
  t.match(told, [{ type: 'gap', channel: 'chat', epoch: epochs[1], recovered: false }], 'the subscriber was told, once, with the new epoch')
  const firstOfNew = subscriber.frames.findIndex((frame) => frame.type === 'pub' && frame.epoch === epochs[1])
  t.ok(subscriber.frames.indexOf(told[0] as Frame) < firstOfNew, 'before the first publication of the new epoch')

  // A client that was away across the restart is told it was not recovered.
  const late = await connect(b.ws)
  t.teardown(() => late.socket.terminate())
  const resumed = await subscribe(late, 'chat', { since: { offset: firstAck.offset, epoch: firstAck.epoch } })
  t.match(resumed, { type: 'ack', recovered: false })
  t.not(resumed.epoch, firstAck.epoch)
  t.comment(`sent ${sent.length}: ${acked.length} acked, ${failed.length} refused during the outage; subscriber got ${received.length}`)
})

async function waitUntil (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
}
