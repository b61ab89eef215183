/**
 * With REDIS_URL set, a visitor made on one node is known on another; only a visitor with
 * something to keep (a name) gets a session in Redis, never a bare page load.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { buildApp, listen } from '../helpers/app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect } from '../helpers/ws-client.js'

t.test('a session created on node A is valid on node B, over HTTP and on the WebSocket', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'sess-test:' }
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  const urlsA = await listen(a.app)
  const urlsB = await listen(b.app)

  const first = await fetch(`${urlsA.http}/`)
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const visitorId = /data-visitor="([^"]+)"/.exec(await first.text())?.[1]
  t.ok(visitorId, 'node A made a visitor')

  const onB = await fetch(`${urlsB.http}/`, { headers: { cookie } })
  t.match(await onB.text(), `data-visitor="${visitorId ?? 'missing'}"`, 'node B knows the same visitor')

  const socket = await connect(`${urlsB.ws}/ws`, { headers: { cookie } })
  const [welcome] = await socket.waitFor('welcome')
  t.equal(welcome?.visitor, visitorId, 'and so does its WebSocket')
  await socket.close()

  const fresh = await fetch(`${urlsB.http}/`)
  t.notMatch(await fresh.text(), `data-visitor="${visitorId ?? 'missing'}"`, 'a visitor without the cookie is someone else')
})

t.test('the boot warning about SESSION_SECRET says what keeping sessions across a restart takes', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const memory = await buildApp(t, { SESSION_SECRET: '' })
  const [inMemory] = memory.logs.lines.filter((line) => line.level === 40 && String(line.msg).startsWith('SESSION_SECRET'))
  t.match(inMemory?.msg, /kept in this process's memory \(REDIS_URL is not set\), so they end when the server restarts/, 'without Redis: memory, so a restart ends them')
  t.match(inMemory?.msg, /set SESSION_SECRET and REDIS_URL/, 'and it takes both the secret and the shared store')
  const shared = await buildApp(t, { SESSION_SECRET: '', REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'warn-test:' })
  const [inRedis] = shared.logs.lines.filter((line) => line.level === 40 && String(line.msg).startsWith('SESSION_SECRET'))
  t.match(inRedis?.msg, /sessions end when the server restarts although they are kept in Redis \(set SESSION_SECRET/, 'with Redis: only the secret is missing')
  const fixed = await buildApp(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'warn-test:' })
  t.same(fixed.logs.lines.filter((line) => String(line.msg).startsWith('SESSION_SECRET')), [], 'both set: no warning')
})

t.test('page loads without a cookie store no session in Redis; a session is made when there is something to keep', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const prefix = 'noload:'
  const { app } = await buildApp(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix })
  const { http, ws } = await listen(app)
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const sessionKeys = async (): Promise<string[]> => await client.keys(`${prefix}sess:*`)

  const LOADS = 25
  const visitors = new Set<string>()
  let cookie = ''
  for (let i = 0; i < LOADS; i++) {
    const page = await fetch(`${http}/`)
    t.equal(page.status, 200)
    visitors.add(/data-visitor="([^"]+)"/.exec(await page.text())?.[1] ?? '')
    cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  }
  t.equal(visitors.size, LOADS, `${LOADS} page loads, ${LOADS} visitors`)
  t.same(await sessionKeys(), [], 'and no session key in Redis')

  // The last visitor connects and sets a name: now there is something to keep.
  const socket = await connect(`${ws}/ws`, { headers: { cookie } })
  t.type((await socket.waitFor('welcome'))[0]?.visitor, 'string', 'the visitor cookie identifies the socket')
  await socket.close()
  t.same(await sessionKeys(), [], 'a socket stores no session either')
  const named = await fetch(`${http}/name`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Ann', redirect: 'manual' })
  t.equal(named.status, 303)
  t.equal((await sessionKeys()).length, 1, 'setting a name makes one session')
})
