/**
 * Nothing silent (issue 22, item 3), on one private redis-server: a publication whose pub/sub
 * message never reached a node is recovered from the history when the next one shows the offset
 * jump, or by the periodic position check when the channel stays quiet; what the history cannot
 * give back (no history, trimmed, a forked history after a failover) is told to the node
 * (`onGap`), and by the node to every subscriber (a `gap` frame, `recovered: false`) on a
 * WebSocket, an event stream and the typed client. Lost messages are simulated by writing a
 * publication the way the publish script does, without its PUBLISH; a fork by rewriting the
 * stream as a promoted replica that lacked the last publication would have it.
 */
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import type { GapCause, Publication, StreamPosition } from '../../src/adapters/broker.js'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { RealtimeClient, type Subscribed } from '../../src/client/index.js'
import { RecordingHandler } from '../contract/adapter-contract.js'
import { bareApp, type BareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { SseClient } from '../helpers/sse-client.js'
import { connect, sleep, type Frame, type RecordingClient } from '../helpers/ws-client.js'

const HISTORY = { historySize: 100, historyTtlMs: 60_000 }

const redis = await TestRedisServer.start()
t.teardown(() => redis.destroy())
const admin = new Redis(redis.url)
t.teardown(() => admin.quit())

/**
 * Publish as the publish script does (offset, history, the meta's newest), without the PUBLISH:
 * a publication whose pub/sub message was lost on its way to every node.
 */
const LOST_LUA = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('HSET', KEYS[1], 'ttl', 60000, 'last', offset .. ' ' .. ARGV[2])
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-1', 'd', ARGV[1], 't', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return { offset, epoch }
`

const keysOf = (prefix: string, channel: string): { meta: string, history: string } => ({ meta: `${prefix}{${channel}}:meta`, history: `${prefix}{${channel}}:hist` })

async function publishLost (prefix: string, channel: string, data: unknown, historySize = 100): Promise<StreamPosition> {
  const { meta, history } = keysOf(prefix, channel)
  const [offset, epoch] = await admin.eval(LOST_LUA, 2, meta, history, JSON.stringify(data), Date.now(), historySize) as [number, string]
  return { offset: Number(offset), epoch }
}

/**
 * The stream as a replica promoted after a failover has it when it lacked the newest publication
 * at `offset`: the offset back by one, that entry gone, the newest before it named in the meta.
 */
async function forkBack (prefix: string, channel: string, offset: number): Promise<void> {
  const { meta, history } = keysOf(prefix, channel)
  // The replica's stream never had the entry (a stream refuses an id at or below its last one, deleted or not).
  const kept = await admin.xrange(history, '-', `${offset - 1}-1`)
  const t = kept.at(-1)?.[1][3] ?? '0'
  const rewrite = admin.multi().hset(meta, 'offset', offset - 1, 'last', `${offset - 1} ${t}`).del(history)
  for (const [id, fields] of kept) rewrite.xadd(history, id, ...fields)
  await rewrite.pexpire(history, 60_000).exec()
}

/** A handler that keeps what the node is told, in order: publications and gaps. */
class GapHandler extends RecordingHandler {
  readonly told: string[] = []
  readonly recovered: Array<{ channel: string, publications: number }> = []
  readonly checks: Array<{ channels: number, behind: number }> = []
  override onPublication = (publication: Publication): void => {
    this.publications.push(publication)
    this.told.push(`pub ${publication.epoch}:${publication.offset} ${JSON.stringify(publication.data)}`)
  }

  override onGap = (channel: string, position: StreamPosition, cause: GapCause): void => {
    this.gaps.push({ channel, position, cause })
    this.told.push(`gap ${position.epoch}:${position.offset} ${cause}`)
  }

  onGapRecovered = (channel: string, publications: number): void => { this.recovered.push({ channel, publications }) }
  onPositionCheck = (channels: number, behind: number): void => { this.checks.push({ channels, behind }) }
}

let prefixSeq = 0
async function node (t: { teardown: (fn: () => unknown) => void }, prefix: string, positionCheckIntervalMs = 0): Promise<{ adapter: RedisAdapter, handler: GapHandler }> {
  const adapter = new RedisAdapter({ url: redis.url, keyPrefix: prefix, positionCheckIntervalMs })
  const handler = new GapHandler()
  await adapter.init(handler)
  t.teardown(() => adapter.close())
  return { adapter, handler }
}

t.test('a lost pub/sub message shown by the next offset: every node delivers both, in order, once', async (t) => {
  const prefix = `jump${++prefixSeq}:`
  // No position check: the offset jump alone must recover it.
  const a = await node(t, prefix)
  const b = await node(t, prefix)
  await a.adapter.subscribe('room')
  await b.adapter.subscribe('room')
  await a.adapter.publish('room', 1, HISTORY)
  await publishLost(prefix, 'room', 2)
  await b.adapter.publish('room', 3, HISTORY)
  // In order per node: once the 4th is in, a repeat of an earlier one would have come before it.
  await a.adapter.publish('room', 4, HISTORY)
  for (const [name, n] of [['A', a], ['B', b]] as const) {
    await n.handler.until(() => n.handler.publications.some((p) => p.data === 4), `${name}: the fourth`)
    t.same(n.handler.publications.map((p) => p.data), [1, 2, 3, 4], `${name}: the lost one from the history, in its place, each once`)
    t.same(n.handler.gaps, [], `${name}: nothing told as lost`)
    t.equal(n.handler.recovered.length, 1, `${name}: one gap recovered`)
    t.ok((n.handler.recovered[0]?.publications ?? 0) >= 1, `${name}: the lost one delivered from the history (with what followed it there: ${n.handler.recovered[0]?.publications ?? 0})`)
  }
})

t.test('a quiet channel that lost its only publication: the position check delivers it', async (t) => {
  const prefix = `quiet${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix, 100)
  await adapter.subscribe('quiet')
  await adapter.subscribe('calm')
  await publishLost(prefix, 'quiet', 'only')
  await handler.until(() => handler.publications.length === 1, 'the lost publication, found by a check')
  t.same(handler.publications.map((p) => [p.channel, p.offset, p.data]), [['quiet', 1, 'only']])
  t.ok(handler.checks.some((check) => check.channels === 2 && check.behind === 1), `a check read both channels and found one behind (${JSON.stringify(handler.checks.slice(0, 5))})`)
  const checksBefore = handler.checks.length
  await handler.until(() => handler.checks.length >= checksBefore + 2, 'two more checks')
  t.ok(handler.checks.slice(checksBefore).every((check) => check.behind === 0), 'then nothing behind')
  t.equal(handler.publications.length, 1, 'delivered once')
})

t.test('the position check off (0): a quiet channel\'s lost publication waits for the next one', async (t) => {
  t.throws(() => new RedisAdapter({ url: redis.url, positionCheckIntervalMs: -1 }), { code: 'FRT_INVALID_OPTION', message: /positionCheckIntervalMs/ })
  t.throws(() => new RedisAdapter({ url: redis.url, positionCheckIntervalMs: 1.5 }), { code: 'FRT_INVALID_OPTION' })
  const prefix = `off${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix, 0)
  await adapter.subscribe('quiet')
  await publishLost(prefix, 'quiet', 'lost')
  await adapter.publish('quiet', 'next', HISTORY)
  await handler.until(() => handler.publications.length === 2, 'both, with the next')
  t.same(handler.publications.map((p) => p.data), ['lost', 'next'])
  t.same(handler.checks, [], 'no check ran')
})

t.test('unrecoverable gaps are told, with where the stream goes on, before what follows', async (t) => {
  const prefix = `lost${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix)
  await adapter.subscribe('bare')
  await adapter.subscribe('short')
  const none = { historySize: 0, historyTtlMs: 60_000 }
  const first = await adapter.publish('bare', 'a', none)
  await publishLost(prefix, 'bare', 'b', 0)
  await adapter.publish('bare', 'c', none)
  await handler.until(() => handler.publications.some((p) => p.data === 'c'), 'the one after the gap')
  const e = first.epoch
  t.same(handler.told, [`pub ${e}:1 "a"`, `gap ${e}:2 trimmed`, `pub ${e}:3 "c"`], 'no history: told the gap, then the publication that showed it')

  const small = { historySize: 2, historyTtlMs: 60_000 }
  const one = await adapter.publish('short', 1, small)
  for (let i = 2; i <= 4; i++) await publishLost(prefix, 'short', i, 2)
  await adapter.publish('short', 5, small)
  await handler.until(() => handler.publications.some((p) => p.data === 5), 'the fifth')
  t.same(handler.told.slice(3), [`pub ${one.epoch}:1 1`, `gap ${one.epoch}:3 trimmed`, `pub ${one.epoch}:4 4`, `pub ${one.epoch}:5 5`], 'trimmed: told the gap, then what the history retains')
})

t.test('a fork (the offset delivered reused by another publication) moves the stream to a new epoch, told once per node', async (t) => {
  const prefix = `fork${++prefixSeq}:`
  const a = await node(t, prefix)
  const b = await node(t, prefix)
  for (const n of [a, b]) await n.adapter.subscribe('split')
  let last: Publication | undefined
  for (let i = 1; i <= 3; i++) last = await a.adapter.publish('split', i, HISTORY)
  for (const n of [a, b]) await n.handler.until(() => n.handler.publications.length === 3, 'three')
  await forkBack(prefix, 'split', 3)
  // The reused offset comes in another millisecond, as it would after a failover.
  while (Date.now() <= (last?.t ?? 0)) await sleep(1)
  const reused = await a.adapter.publish('split', 'reused', HISTORY)
  t.equal(reused.offset, 3, 'the promoted stream reuses offset 3')
  for (const n of [a, b]) await n.handler.until(() => n.handler.gaps.length === 1, 'the fork told')
  const after = await b.adapter.publish('split', 'after', HISTORY)
  t.not(after.epoch, reused.epoch, 'the stream moved to a new epoch')
  t.equal(after.offset, 1)
  for (const [name, n] of [['A', a], ['B', b]] as const) {
    await n.handler.until(() => n.handler.publications.some((p) => p.data === 'after'), `${name}: the next one`)
    t.same(n.handler.told.slice(3), [`gap ${after.epoch}:0 fork`, `pub ${after.epoch}:1 "after"`], `${name}: the fork told, then the new epoch; never "reused" dropped silently as a duplicate`)
  }
})

t.test('a quiet fork (another publication at the offset delivered, nothing after) is found by the position check', async (t) => {
  const prefix = `quietfork${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix, 100)
  await adapter.subscribe('still')
  await adapter.publish('still', 1, HISTORY)
  const two = await adapter.publish('still', 2, HISTORY)
  await handler.until(() => handler.publications.length === 2, 'two')
  await forkBack(prefix, 'still', 2)
  while (Date.now() <= two.t) await sleep(1)
  await publishLost(prefix, 'still', 'other 2')
  await handler.until(() => handler.gaps.length === 1, 'the fork found by a check')
  t.match(handler.gaps[0], { channel: 'still', cause: 'fork', position: { offset: 0 } })
  t.not(handler.gaps[0]?.position.epoch, two.epoch, 'a new epoch')
  t.equal((await adapter.recent('still', 0)).position.epoch, handler.gaps[0]?.position.epoch, 'the stream itself moved to it')
})

t.test('a history lost while subscribed (Redis flushed): told as a new epoch', async (t) => {
  const prefix = `flush${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix)
  await adapter.subscribe('gone')
  const before = await adapter.publish('gone', 'old', HISTORY)
  await handler.until(() => handler.publications.length === 1, 'one')
  await admin.del(keysOf(prefix, 'gone').meta, keysOf(prefix, 'gone').history)
  const after = await adapter.publish('gone', 'new', HISTORY)
  t.not(after.epoch, before.epoch)
  await handler.until(() => handler.publications.length === 2, 'the new one')
  t.same(handler.told, [`pub ${before.epoch}:1 "old"`, `gap ${after.epoch}:0 epoch`, `pub ${after.epoch}:1 "new"`])
})

t.test('a reused offset that cannot be checked (no history, no newest in the meta, as an older node writes) is looked into once, not in a loop', async (t) => {
  const prefix = `blind${++prefixSeq}:`
  const { adapter, handler } = await node(t, prefix)
  await adapter.subscribe('blind')
  const none = { historySize: 0, historyTtlMs: 60_000 }
  const first = await adapter.publish('blind', 1, none)
  await handler.until(() => handler.publications.length === 1, 'one')
  const { meta } = keysOf(prefix, 'blind')
  await admin.hset(meta, 'offset', 0)
  while (Date.now() <= first.t) await sleep(1)
  const reads = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)
  await admin.hdel(meta, 'last')
  const before = await reads()
  // An older node's publish, as its script did: the next offset (1 again), and a PUBLISH; no `last` in the meta.
  const offset = await admin.hincrby(meta, 'offset', 1)
  await admin.publish(`${prefix}pub:blind`, `p\nolder\n${offset}\n${first.epoch}\n${Date.now()}\n"reused"`)
  t.equal(offset, 1)
  // The recovery it starts reads the stream once (and, unable to tell, lets it go); then the next one.
  const started = Date.now()
  while (await reads() === before) {
    if (Date.now() - started > 5000) throw new Error('no recovery read')
    await sleep(5)
  }
  const next = await adapter.publish('blind', 'next', none)
  await handler.until(() => handler.publications.some((p) => p.data === 'next'), 'the next one')
  t.ok(await reads() - before < 20, `a bounded number of script calls (${await reads() - before}), no loop`)
  t.same(handler.publications.map((p) => p.offset), [1, next.offset], 'the next one delivered after it')
  t.same(handler.gaps, [], 'nothing told: it could not be told from a duplicate')
})

/** A TCP relay to the Redis that a test can cut, and keep cut (new connections refused) until it reopens. */
class Relay {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #open = true
  port = 0

  constructor () {
    this.#server = createServer((client) => {
      if (!this.#open) {
        client.destroy()
        return
      }
      const upstream = tcpConnect(redis.port, '127.0.0.1')
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket)
        socket.on('error', () => { client.destroy(); upstream.destroy() })
        socket.on('close', () => { this.#sockets.delete(socket); client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const address = this.#server.address()
    this.port = typeof address === 'object' && address !== null ? address.port : 0
  }

  cut (): void {
    this.#open = false
    for (const socket of this.#sockets) socket.destroy()
  }

  reopen (): void {
    this.#open = true
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

t.test('a fork while a node\'s subscriber connection was away is found when it comes back: told, never delivered as if nothing happened', async (t) => {
  const prefix = `away${++prefixSeq}:`
  const relay = new Relay()
  await relay.listen()
  t.teardown(() => relay.close())
  const a = await node(t, prefix)
  // B's subscriber goes through the relay; its publisher straight to Redis. No position check.
  const b = new RedisAdapter({
    keyPrefix: prefix,
    positionCheckIntervalMs: 0,
    createClient: (role) => new Redis(role === 'subscriber' ? `redis://127.0.0.1:${relay.port}` : redis.url, { enableOfflineQueue: role === 'subscriber', maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  })
  const handler = new GapHandler()
  await b.init(handler)
  t.teardown(() => b.close())
  await b.subscribe('away')
  let last: Publication | undefined
  for (let i = 1; i <= 3; i++) last = await a.adapter.publish('away', i, HISTORY)
  await handler.until(() => handler.publications.length === 3, 'three')
  relay.cut()
  await handler.until(() => !b.connected, 'the subscriber connection is away')
  // Meanwhile a failover: the promoted stream lacks offset 3, and gives it (and 4) to new publications.
  await forkBack(prefix, 'away', 3)
  while (Date.now() <= (last?.t ?? 0)) await sleep(1)
  t.equal((await a.adapter.publish('away', 'reused', HISTORY)).offset, 3)
  t.equal((await a.adapter.publish('away', 'next', HISTORY)).offset, 4)
  relay.reopen()
  await handler.until(() => handler.gaps.length === 1, 'the fork found when the connection is back', 10_000)
  t.same(handler.resubscribes, [{ channels: 1, cause: 'reconnect' }], 'the resubscribe of its one channel told (for the metrics)')
  const after = await a.adapter.publish('away', 'after', HISTORY)
  await handler.until(() => handler.publications.some((p) => p.data === 'after'), 'the next one')
  t.same(handler.told.slice(3), [`gap ${after.epoch}:0 fork`, `pub ${after.epoch}:1 "after"`], 'told, then the new epoch: neither "reused" nor "next" delivered as if they followed 3')
})

/** Two in-process nodes on the Redis, with WebSocket and event-stream routes. */
async function nodes (t: { teardown: (fn: () => unknown) => void }, prefix: string): Promise<[BareApp, BareApp]> {
  const make = async (): Promise<BareApp> => await bareApp(t, {
    channels: [{ name: 'news', historySize: 100 }, { name: 'bare', historySize: 0 }],
    adapter: new RedisAdapter({ url: redis.url, keyPrefix: prefix, positionCheckIntervalMs: 100 })
  })
  return [await make(), await make()]
}

async function until (ready: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const started = Date.now()
  while (!ready()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}

async function subscribed (client: RecordingClient, channel: string): Promise<Frame> {
  client.socket.send(JSON.stringify({ type: 'sub', channel, id: channel }))
  await until(() => client.ofType('ack').some((frame) => frame.id === channel), `the ack of ${channel}`)
  return client.ofType('ack').find((frame) => frame.id === channel) as Frame
}

const streamOf = (frames: Frame[], channel: string): string[] => frames
  .filter((frame) => (frame.type === 'pub' || frame.type === 'gap') && frame.channel === channel)
  .map((frame) => frame.type === 'pub' ? `pub ${String(frame.offset)} ${JSON.stringify(frame.data)}` : `gap ${String(frame.epoch)}:${String(frame.offset)} recovered=${String(frame.recovered)}`)

t.test('subscribers see every publication in order, or a gap frame: WebSocket, event stream, typed client, metrics', async (t) => {
  const prefix = `wire${++prefixSeq}:`
  const [A, B] = await nodes(t, prefix)
  const socket = await connect(`${B.ws}/ws`)
  t.teardown(() => socket.socket.terminate())
  const ack = await subscribed(socket, 'news')
  const stream = await SseClient.open(`${B.http}/sse?channels=news,bare`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('ack', 2)
  const client = new RealtimeClient(`${B.ws}/ws`, { WebSocket })
  t.teardown(() => client.close())
  const received: unknown[] = []
  const events: Subscribed[] = []
  const news = client.subscribe('news', (data) => received.push(data))
  news.on('subscribed', (event) => events.push(event))
  await until(() => events.length === 1, 'the typed client subscribed')

  // A lost message, then a normal one: both, in order, once, everywhere.
  await A.app.realtime.publish('news', 'n1')
  await publishLost(prefix, 'news', 'n2')
  await A.app.realtime.publish('news', 'n3')
  await until(() => received.length === 3 && streamOf(socket.frames, 'news').length === 3 && streamOf(stream.frames, 'news').length === 3, 'three on each')
  t.same(streamOf(socket.frames, 'news'), ['pub 1 "n1"', 'pub 2 "n2"', 'pub 3 "n3"'], 'WebSocket: the lost one in its place')
  t.same(streamOf(stream.frames, 'news'), streamOf(socket.frames, 'news'), 'event stream: the same')
  t.same(received, ['n1', 'n2', 'n3'], 'typed client: the same')
  t.match(B.metrics.gaps, ['recovered'], 'counted as recovered')

  // No history: the subscribers are told, at the position the stream goes on after.
  const wsBare = await subscribed(socket, 'bare')
  const bare: unknown[] = []
  const bareEvents: Subscribed[] = []
  const bareSub = client.subscribe('bare', (data) => bare.push(data))
  bareSub.on('subscribed', (event) => bareEvents.push(event))
  await until(() => bareEvents.length === 1, 'the typed client subscribed to bare')
  await A.app.realtime.publish('bare', 'b1')
  await publishLost(prefix, 'bare', 'b2', 0)
  await A.app.realtime.publish('bare', 'b3')
  const epoch = String(wsBare.epoch)
  const expected = ['pub 1 "b1"', `gap ${epoch}:2 recovered=false`, 'pub 3 "b3"']
  await until(() => streamOf(socket.frames, 'bare').length === 3 && streamOf(stream.frames, 'bare').length === 3 && bare.length === 2, 'the gap and what followed')
  t.same(streamOf(socket.frames, 'bare'), expected, 'WebSocket: a gap frame, then what follows it')
  t.same(socket.ofType('gap')[0], { type: 'gap', channel: 'bare', offset: 2, epoch, recovered: false }, 'the frame as documented')
  t.same(streamOf(stream.frames, 'bare'), expected, 'event stream: the same')
  const gapEvent = stream.events.find((event) => event.data.includes('"type":"gap"'))
  t.match(gapEvent?.lastEventId, new RegExp(`bare\\|${epoch}\\|2(,|$)`), 'its event id moves the channel to the gap\'s position (a Last-Event-ID resumes after it)')
  t.match(stream.lastEventId, new RegExp(`bare\\|${epoch}\\|3(,|$)`), 'and the next pub on from there')
  t.same(bare, ['b1', 'b3'], 'typed client: what could be delivered')
  t.match(bareEvents[1], { recovered: false, resumed: true, gap: true, offset: 2, epoch }, 'typed client: told through its subscribed event')
  t.same(bareSub.position, { epoch, offset: 3 }, 'typed client: its since-position goes on from there')
  t.ok(B.metrics.gaps.includes('trimmed'), `counted as unrecoverable (${B.metrics.gaps.join(', ')})`)
  await until(() => B.metrics.positionChecks.some((check) => check.channels === 2), 'a position check over the two channels B follows')
  t.ok(B.metrics.positionChecks.every((check) => check.channels <= 2), 'position checks counted, over the channels B follows')
  t.equal(ack.recovered, false, 'a fresh subscribe, for the record')

  // A fork on a quiet channel: the position check finds it; every subscriber is told, with the new epoch.
  const before = await A.app.realtime.publish('news', 'n4')
  await until(() => received.includes('n4') && streamOf(socket.frames, 'news').length === 4, 'the fourth')
  await forkBack(prefix, 'news', 4)
  while (Date.now() <= before.t) await sleep(1)
  await publishLost(prefix, 'news', 'other n4')
  await until(() => socket.ofType('gap').length === 2 && events.length === 2, 'the fork told')
  const fork = socket.ofType('gap')[1]
  t.match(fork, { type: 'gap', channel: 'news', offset: 0, recovered: false })
  t.not(fork?.epoch, before.epoch, 'in the new epoch')
  t.match(events[1], { recovered: false, gap: true, offset: 0, epoch: fork?.epoch })
  const next = await A.app.realtime.publish('news', 'n5')
  t.equal(next.epoch, fork?.epoch)
  await until(() => received.includes('n5'), 'the next one')
  t.same(received, ['n1', 'n2', 'n3', 'n4', 'n5'], 'typed client: "other n4" never delivered, and it was told')
  t.same(news.position, { epoch: next.epoch, offset: 1 })
  t.ok(B.metrics.gaps.includes('fork'), 'counted as a fork')
})
