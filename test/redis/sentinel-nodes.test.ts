/**
 * Two real server processes (node dist/src/app/server.js) reaching Redis through Sentinel
 * (REDIS_SENTINELS, REDIS_SENTINEL_NAME; one master, one replica, three sentinels), with real
 * WebSocket clients: a busy channel (a client publishing every 30 ms) and a quiet one (the HTTP
 * API, about twice a second). The master is SIGKILLed, the replica promoted, the old master brought
 * back (it rejoins as a replica). Afterwards: every publish was answered (ack, or an error with
 * its id), every subscriber has every accepted publication once and in order, `/ready` went
 * not-ready and back, the session made before the failover is still known, and the API's rate
 * limit counts on the new master.
 */
import t from 'tap'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { TestSentinelSetup } from '../helpers/redis-sentinel.js'
import { connect, sleep, type Frame, type RecordingClient } from '../helpers/ws-client.js'

const SECRET = 'sentinel-node-test-secret-0123456789abcdef'
const API_KEY = 'k'.repeat(48)

interface Node { proc: RunningProcess, http: string, ws: string }

async function waitUntil (predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now()
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
}

async function subscribe (client: RecordingClient, channel: string): Promise<Frame> {
  const id = `sub-${channel}`
  client.socket.send(JSON.stringify({ type: 'sub', channel, id }))
  await waitUntil(() => client.frames.some((frame) => frame.id === id), `an answer to sub ${channel}`)
  return client.frames.find((frame) => frame.id === id) ?? { type: 'none' }
}

const pubsOf = (client: RecordingClient, channel: string): Frame[] => client.frames.filter((frame) => frame.type === 'pub' && frame.channel === channel)

t.test('two nodes through Sentinel: the master SIGKILLed under busy and quiet channels, nothing accepted missing, sessions kept', async (t) => {
  const setup = await TestSentinelSetup.start()
  t.teardown(() => setup.destroy())
  const nodes: Node[] = await Promise.all([0, 1].map(async () => {
    const proc = startNode([built('src/app/server.js')], {
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      SESSION_SECRET: SECRET,
      LOG_LEVEL: 'info',
      TICK_INTERVAL_MS: '0',
      MESSAGE_RATE_PER_SEC: '10000',
      MESSAGE_BURST: '10000',
      REDIS_SENTINELS: setup.sentinelList,
      REDIS_SENTINEL_NAME: setup.name,
      REDIS_KEY_PREFIX: 'sn:',
      API_KEYS: `worker:${API_KEY}:publish`,
      API_RATE_LIMIT_PER_MINUTE: '100000',
      CLOSE_GRACE_MS: '1000'
    })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    const port = await proc.listening()
    return { proc, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` }
  }))
  const [a, b] = nodes
  if (a === undefined || b === undefined) throw new Error('two nodes')

  // A visitor with a name: a session in Redis, made on A before the failover.
  const page = await fetch(`${a.http}/`)
  const visitorCookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const named = await fetch(`${a.http}/name`, { method: 'POST', redirect: 'manual', headers: { cookie: visitorCookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Ann' })
  t.equal(named.status, 303, 'a session made through Sentinel')
  const sessionCookie = named.headers.getSetCookie().map((line) => line.split(';')[0] ?? '').find((pair) => pair.startsWith('rt.sid=')) ?? ''
  const cookie = `${visitorCookie}; ${sessionCookie}`

  const publisher = await connect(a.ws, { headers: { cookie } })
  const subscribers = [await connect(a.ws), await connect(b.ws), await connect(b.ws)]
  t.teardown(() => { for (const client of [publisher, ...subscribers]) client.socket.terminate() })
  for (const client of subscribers) {
    t.match(await subscribe(client, 'chat'), { type: 'ack' })
    t.match(await subscribe(client, 'announcements'), { type: 'ack' })
  }

  // The busy channel: a client's publishes, each with its id.
  const sent: number[] = []
  const busy = setInterval(() => {
    const i = sent.length + 1
    sent.push(i)
    publisher.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', id: i, data: { text: `c${i}` } }))
  }, 30)
  t.teardown(() => clearInterval(busy))
  // The quiet channel: the HTTP API, one request at a time.
  const api: Array<{ n: number, status: number }> = []
  const quietOn = { on: true }
  t.teardown(() => { quietOn.on = false })
  const quiet = (async () => {
    for (let n = 1; quietOn.on; n++) {
      const response = await fetch(`${b.http}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'announcements', data: { n } }) }).catch(() => null)
      api.push({ n, status: response?.status ?? 0 })
      await response?.arrayBuffer()
      await sleep(400)
    }
  })()
  const answered = (type: string): number => publisher.frames.filter((frame) => frame.type === type && typeof frame.id === 'number').length
  await waitUntil(() => answered('ack') >= 20 && api.length >= 2, 'publishing before the failover')
  for (const node of nodes) t.equal((await fetch(`${node.http}/ready`)).status, 200, 'ready before')

  const killedAt = Date.now()
  const old = await setup.kill()
  let readyDuring = 0
  await waitUntil(async () => (readyDuring = (await fetch(`${a.http}/ready`)).status) === 503, '/ready 503 while there is no master')
  t.equal(readyDuring, 503, '/ready says not ready while the adapter has no master')
  const promoted = await setup.waitForFailover(old)
  const promotedAt = Date.now()
  for (const node of nodes) {
    await waitUntil(async () => (await fetch(`${node.http}/ready`)).status === 200, 'ready again on the new master').catch(async (err: unknown) => {
      // What the node said and logged, to tell which connection did not come back.
      t.comment(await (await fetch(`${node.http}/ready`)).text(), node.proc.output().slice(-4000))
      throw err
    })
  }
  const readyAt = Date.now()
  const ackedBefore = answered('ack')
  await waitUntil(() => answered('ack') > ackedBefore, 'a publish accepted after the failover')
  const firstAckAfter = Date.now()
  await setup.restart(old)
  await setup.waitForReplica(old, promoted, 30_000)
  const rejoinedAt = Date.now()
  await waitUntil(() => answered('ack') >= ackedBefore + 20 && api.filter((call) => call.status === 200).length >= 3, 'publishing after the failover')
  clearInterval(busy)
  quietOn.on = false
  await quiet

  // Every publish answered: an ack or an error, each with its id.
  await waitUntil(() => publisher.frames.filter((frame) => (frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'number').length >= sent.length, 'an answer to every publish')
  const answers = new Map(publisher.frames.filter((frame) => (frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'number').map((frame) => [frame.id as number, frame]))
  t.equal(answers.size, sent.length, `each of the ${sent.length} publishes answered once`)
  const acked = sent.filter((n) => answers.get(n)?.type === 'ack').map((n) => `c${n}`)
  const refused = sent.filter((n) => answers.get(n)?.type === 'error')
  t.ok(refused.length > 0, `${refused.length} publishes refused while there was no master, with their ids`)
  const apiAcked = api.filter((call) => call.status === 200).map((call) => call.n)
  const apiRefused = api.filter((call) => call.status !== 200)
  t.ok(apiRefused.every((call) => call.status >= 500), `the API refused ${apiRefused.length} publishes with a 5xx (${[...new Set(apiRefused.map((call) => call.status))].join(', ')})`)

  // A node whose subscriber connection comes back before its publisher cannot read its gap at
  // once (the read goes through the publisher): it tries again when the publisher is ready. A
  // subscriber may miss accepted publications only if it was told (a `gap` frame: a fork after
  // the failover lost what the replica had not received).
  const toldGap = (client: RecordingClient, channel: string): boolean => client.frames.some((frame) => frame.type === 'gap' && frame.channel === channel)
  for (const [i, client] of subscribers.entries()) {
    await waitUntil(() => pubsOf(client, 'chat').some((frame) => (frame.data as { text?: string }).text === acked.at(-1)), 'the last accepted chat publication')
    await waitUntil(() => pubsOf(client, 'announcements').some((frame) => (frame.data as { n?: number }).n === apiAcked.at(-1)), 'the last accepted announcement')
    const chat = pubsOf(client, 'chat').map((frame) => (frame.data as { text: string }).text)
    const announcements = pubsOf(client, 'announcements').map((frame) => (frame.data as { n: number }).n)
    t.equal(new Set(chat).size, chat.length, `subscriber ${i + 1}: no chat publication twice`)
    if (toldGap(client, 'chat')) t.comment(`subscriber ${i + 1} was told a gap on chat`)
    else {
      t.same(chat, acked, `subscriber ${i + 1}: every accepted chat publication once, in order, none refused`)
      t.equal(new Set(pubsOf(client, 'chat').map((frame) => frame.epoch)).size, 1, `subscriber ${i + 1}: one epoch (the history replicated)`)
    }
    if (toldGap(client, 'announcements')) t.comment(`subscriber ${i + 1} was told a gap on announcements`)
    else t.same(announcements, apiAcked, `subscriber ${i + 1}: every accepted announcement once, in order (the quiet channel)`)
  }

  // The session made before the failover, read on the other node from the new master.
  const again = await connect(b.ws, { headers: { cookie } })
  t.teardown(() => again.socket.terminate())
  const [welcome] = await again.waitFor('welcome')
  const onPage = await (await fetch(`${b.http}/`, { headers: { cookie } })).text()
  t.match(onPage, /display-name">Ann</, 'the session (its name) survived the failover')
  t.type(welcome?.visitor, 'string')

  // The API's rate limit counts on the new master.
  const master = setup.direct(promoted)
  t.teardown(() => master.disconnect())
  const counters = async (): Promise<number> => {
    const keys = await master.keys('*rate*')
    const values = await Promise.all(keys.map(async (key) => Number(await master.get(key).catch(() => 0))))
    return values.reduce((sum, value) => sum + (Number.isNaN(value) ? 0 : value), 0)
  }
  const before = await counters()
  const call = await fetch(`${a.http}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'announcements', data: { n: 0 } }) })
  t.equal(call.status, 200)
  t.ok(await counters() > before, 'the rate-limit counter went up on the new master')

  t.comment(`kill → promoted ${promotedAt - killedAt} ms; → both /ready 200 ${readyAt - killedAt} ms; → first publish accepted ${firstAckAfter - killedAt} ms; old master an in-sync replica ${rejoinedAt - killedAt} ms`)
  t.comment(`chat: ${sent.length} sent, ${acked.length} accepted, ${refused.length} refused; API: ${api.length} calls, ${apiAcked.length} accepted, ${apiRefused.length} refused`)

  await t.test('then a manual failover: the demoted master\'s last writes are lost, and no subscriber misses a kept one unless told', async (t) => {
    const base = sent.length
    // Only what arrives from now on may tell a subscriber it was not recovered.
    const framesBefore = subscribers.map((client) => client.frames.length)
    const toldAfter = (i: number, client: RecordingClient): boolean => client.frames.slice(framesBefore[i]).some((frame) => frame.recovered === false)
    const busyAgain = setInterval(() => {
      const i = sent.length + 1
      sent.push(i)
      publisher.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', id: i, data: { text: `c${i}` } }))
    }, 30)
    t.teardown(() => clearInterval(busyAgain))
    const acks = (): Frame[] => publisher.frames.filter((frame) => frame.type === 'ack' && typeof frame.id === 'number' && (frame.id as number) > base)
    await waitUntil(() => acks().length >= 10, 'publishing before the manual failover')
    const asked = Date.now()
    const demoted = await setup.failover()
    await setup.waitForFailover(demoted)
    const switchedAt = Date.now()
    const countAtSwitch = acks().length
    // Past the offsets the new master hands out again (the demoted master's last second, ~33 at this rate).
    await waitUntil(() => acks().length >= countAtSwitch + 60, 'publishing after the manual failover')
    clearInterval(busyAgain)
    await waitUntil(() => publisher.frames.filter((frame) => (frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'number').length >= sent.length, 'an answer to every publish')
    // An offset acknowledged twice: the new master gave it again, the first one was lost with the demoted master.
    // (Within one epoch: once a node finds the fork, the stream moves to a new epoch whose offsets start again.)
    const byOffset = new Map<string, string>()
    const lost: string[] = []
    for (const frame of acks()) {
      const at = `${String(frame.epoch)}:${String(frame.offset)}`
      const previous = byOffset.get(at)
      if (previous !== undefined) lost.push(previous)
      byOffset.set(at, `c${String(frame.id)}`)
    }
    const kept = acks().map((frame) => `c${String(frame.id)}`).filter((text) => !lost.includes(text))
    t.comment(`manual failover: switched ${switchedAt - asked} ms after the request; ${acks().length} accepted, ${lost.length} of them by the demoted master and lost`)
    for (const [i, client] of subscribers.entries()) {
      await waitUntil(() => pubsOf(client, 'chat').some((frame) => (frame.data as { text?: string }).text === kept.at(-1)) || toldAfter(i, client), 'the last kept publication, or recovered: false')
      const chat = pubsOf(client, 'chat').map((frame) => (frame.data as { text: string }).text).filter((text) => Number(text.slice(1)) > base && !lost.includes(text))
      const told = toldAfter(i, client)
      t.ok(told || JSON.stringify(chat) === JSON.stringify(kept), `subscriber ${i + 1}: every kept publication once, in order, or told recovered: false`)
    }
  })
})
