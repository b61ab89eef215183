/**
 * Upgrading to the version with Redis Cluster support, as docs/operations.md ("Moving to a Redis
 * Cluster") says:
 * - on one Redis, nothing changes on the wire: a node of the previous version (its subscription
 *   to `<prefix>pub:<channel>`, its publish script run as it ran it) and a node of this version
 *   hear each other, so a rolling upgrade of a single-Redis deployment loses no publication;
 * - moving a running deployment from one Redis to a Cluster is a switch of store: a client that
 *   resumes on a node of the new deployment with a position from the old one is told
 *   `recovered: false` (the epoch differs) and gets the retained window — never a silent hole.
 */
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { PUBLISH_LUA } from '../../src/adapters/redis/scripts.js'
import type { Publication } from '../../src/adapters/broker.js'
import { startNode, type RunningProcess } from '../helpers/process.js'
import { TestRedisCluster } from '../helpers/redis-cluster.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect } from '../helpers/ws-client.js'

const HISTORY = { historySize: 100, historyTtlMs: 60_000 }

t.test('one Redis: a previous-version node and this version hear each other (same names, same PUBLISH)', async (t) => {
  const server = await TestRedisServer.start()
  t.teardown(() => server.destroy())
  const received: Publication[] = []
  const adapter = new RedisAdapter({ url: server.url, keyPrefix: 'up:', nodeId: 'new' })
  await adapter.init({ onPublication: (p) => { received.push(p) }, onPresence: () => {} })
  t.teardown(() => adapter.close())
  await adapter.subscribe('chat')

  // The previous version's subscriber: a plain SUBSCRIBE to `<prefix>pub:<channel>`.
  const old = new Redis(server.url)
  t.teardown(() => old.disconnect())
  const heardByOld: string[] = []
  old.on('message', (channel: string, text: string) => { heardByOld.push(`${channel} ${text.split('\n')[0] ?? ''}`) })
  await old.subscribe('up:pub:chat')
  const published = await adapter.publish('chat', 'from the new node', HISTORY)

  // The previous version's publish: the same script, keys and arguments, PUBLISH to `<prefix>pub:<channel>`.
  const admin = new Redis(server.url)
  t.teardown(() => admin.disconnect())
  await admin.eval(PUBLISH_LUA, 3, 'up:{chat}:meta', 'up:{chat}:hist', 'up:{chat}:meta', 'E', JSON.stringify('from the old node'), Date.now(), 100, 60_000, 60_000, 'up:pub:chat', 'old', '', '')

  const until = Date.now() + 5000
  while ((received.length < 2 || heardByOld.length < 2) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(received.map((p) => [p.offset, p.data]), [[1, 'from the new node'], [2, 'from the old node']], 'the new node delivers both, in order')
  t.same(heardByOld, ['up:pub:chat p', 'up:pub:chat p'], 'the old subscription hears both')
  t.equal(published.epoch, received[1]?.epoch, 'one stream, one epoch')
})

t.test('from one Redis to a Cluster: a client resuming across the switch is told recovered: false, and gets what the new store holds', async (t) => {
  const [server, cluster] = await Promise.all([TestRedisServer.start(), TestRedisCluster.start()])
  t.teardown(async () => { await server.destroy(); await cluster.destroy() })
  const procs: RunningProcess[] = []
  t.teardown(() => { for (const proc of procs) proc.child.kill('SIGKILL') })
  const oldNode = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_URL: server.url, REDIS_KEY_PREFIX: 'rt:' })
  const newNode = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','), REDIS_KEY_PREFIX: 'rt:' })
  procs.push(oldNode, newNode)
  const [oldPort, newPort] = await Promise.all([oldNode.listening(), newNode.listening()])

  const before = await connect(`ws://127.0.0.1:${oldPort}/ws?visitor=ann`)
  before.socket.send(JSON.stringify({ type: 'sub', channel: 'feed:news', id: 's' }))
  await before.waitFor('ack')
  for (let i = 1; i <= 3; i++) before.socket.send(JSON.stringify({ type: 'pub', channel: 'feed:news', data: { i }, id: `p${i}` }))
  const pubs = await before.waitFor('pub', 3)
  const last = pubs.at(-1)
  before.socket.terminate()

  // Traffic moves to the new deployment; something is published there before the client comes back.
  const other = await connect(`ws://127.0.0.1:${newPort}/ws?visitor=bob`)
  other.socket.send(JSON.stringify({ type: 'pub', channel: 'feed:news', data: { i: 'after the switch' }, id: 'q' }))
  await other.waitFor('ack')
  const after = await connect(`ws://127.0.0.1:${newPort}/ws?visitor=ann`)
  after.socket.send(JSON.stringify({ type: 'sub', channel: 'feed:news', since: { offset: last?.offset, epoch: last?.epoch }, id: 's' }))
  const [ack] = await after.waitFor('ack')
  t.equal(ack?.recovered, false, 'the old position is not recoverable on the new store, and the client is told so')
  t.not(ack?.epoch, last?.epoch, 'a new epoch: the client knows its stream was reset')
  const replay = await after.waitFor('pub', 1)
  t.same(replay.map((f) => f.data), [{ i: 'after the switch' }], 'it gets what the new store holds')
  for (const client of [other, after]) client.socket.terminate()
})
