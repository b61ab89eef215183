/**
 * A node killed with SIGKILL leaves no full resume state behind (that is saved at close and at a
 * drain): what a token-only client gets back on another node is what was saved while it was open,
 * its identity and its channel set. Each of its channels is answered `recovered: false` (its
 * position cannot be proved), never a silent fresh start; a client that kept its own positions and
 * sends them in its `resume` frame gets exactly what it missed.
 *
 * Node A is a real child process (test/fixtures/realtime-node.mjs, the built package), killed for
 * real; node B runs in this process on the same Redis.
 */
import { join } from 'node:path'
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { channelsApp, offsets } from '../helpers/channels-app.js'
import { startNode } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { channelAcks, connect, resumeAnswer, resumeWith, sleep, type RecordingClient } from '../helpers/ws-client.js'

const SECRET = 'a-resume-secret-shared-by-both-nodes-0123456789'
const PREFIX = 'crash:'

async function until (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!await condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function sub (client: RecordingClient, channel: string): Promise<void> {
  const before = channelAcks(client).length
  client.socket.send(JSON.stringify({ type: 'sub', channel }))
  await until(() => channelAcks(client).length > before, `the ack of ${channel}`)
}

t.test('SIGKILL of a node: token-only clients get their identity and channels back, each channel told recovered: false, or exactly what they missed when they kept their positions', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, RESUME_SECRET: SECRET })
  t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
  const portA = await proc.listening()
  const adapterB = new RedisAdapter({ url: redis.url, keyPrefix: PREFIX })
  const b = await channelsApp(t, { adapter: adapterB, resumeSecret: SECRET, channels: [{ name: 'room:*', presence: true, historySize: 100 }] })

  // Ann is identified on her first connection only (the fixture reads `visitor` from the URL);
  // afterwards she has nothing but her token. Zed is anonymous.
  const ann = await connect(`ws://127.0.0.1:${portA}/ws?visitor=ann`)
  const zed = await connect(`ws://127.0.0.1:${portA}/ws`)
  const keeper = await connect(`ws://127.0.0.1:${portA}/ws`)
  const [annWelcome] = await ann.waitFor('welcome')
  const [zedWelcome] = await zed.waitFor('welcome')
  const [keeperWelcome] = await keeper.waitFor('welcome')
  t.equal(annWelcome?.visitor, 'ann')
  for (const channel of ['room:1', 'room:2']) await sub(ann, channel)
  await sub(zed, 'room:1')
  await sub(keeper, 'room:1')
  for (let i = 0; i < 2; i++) await b.app.realtime.publish('room:1', i)
  await ann.waitFor('pub', 2)
  await zed.waitFor('pub', 2)
  await keeper.waitFor('pub', 2)
  // What A saved while they were open (the live form: no position), read as node B reads it.
  await until(async () => {
    const saved = await Promise.all([annWelcome, zedWelcome].map(async (w) => await adapterB.stateGet(`resume:${String(w?.connId)}`) as { c?: unknown[] } | null))
    return saved[0]?.c?.length === 2 && saved[1]?.c?.length === 1
  }, 'the live resume state of both clients')

  proc.child.kill('SIGKILL')
  t.match(await proc.exited, { signal: 'SIGKILL' })
  await Promise.all([ann.closed, zed.closed, keeper.closed])
  for (let i = 0; i < 3; i++) await b.app.realtime.publish('room:1', `missed ${i}`)
  await b.app.realtime.publish('room:2', 'missed')

  const annAgain = await resumeWith(b.ws, String(annWelcome?.resume))
  const zedAgain = await resumeWith(b.ws, String(zedWelcome?.resume))
  const keeperLast = offsets(keeper, 'room:1').at(-1) ?? 0
  const keeperEpoch = String(keeper.ofType('pub').at(-1)?.epoch)
  const keeperAgain = await resumeWith(b.ws, String(keeperWelcome?.resume), {}, { channels: [{ channel: 'room:1', since: { epoch: keeperEpoch, offset: keeperLast } }] })
  t.teardown(() => { for (const client of [annAgain, zedAgain, keeperAgain]) client.socket.terminate() })

  t.match(await resumeAnswer(annAgain), { type: 'ack', resumed: true, visitor: 'ann' }, 'Ann\'s identity survived the crash')
  t.match(await resumeAnswer(zedAgain), { type: 'ack', resumed: true, visitor: null })
  await until(() => channelAcks(annAgain).length === 2 && channelAcks(zedAgain).length === 1 && channelAcks(keeperAgain).length === 1, 'every channel answered')
  t.same(channelAcks(annAgain).map((ack) => [ack.channel, ack.recovered]), [['room:1', false], ['room:2', false]], 'every channel back, each told that its position cannot be proved')
  t.same(channelAcks(zedAgain).map((ack) => [ack.channel, ack.recovered]), [['room:1', false]])
  t.same(channelAcks(keeperAgain).map((ack) => [ack.channel, ack.recovered]), [['room:1', true]], 'a client that kept its position recovers')
  await keeperAgain.waitFor('pub', 3)
  t.same([...offsets(keeper, 'room:1'), ...offsets(keeperAgain, 'room:1')], [1, 2, 3, 4, 5], 'exactly what it missed: nothing lost, nothing twice')

  await b.app.realtime.publish('room:1', 'live')
  await annAgain.waitFor('pub')
  await zedAgain.waitFor('pub')
  t.same(offsets(annAgain, 'room:1'), [6], 'and live from there')
  t.match(await resumeAnswer(await resumeWith(b.ws, String(annWelcome?.resume))), { type: 'error', code: 'resume_token_used' }, 'the token resumed once')
})
