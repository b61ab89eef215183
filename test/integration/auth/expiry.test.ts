/**
 * Tokens on open sockets: a `refresh` before `exp`; a client that answers with a new token stays
 * (without reconnecting), one that does not is closed with 4401; `requireAuth` closes a socket
 * that never authenticates with 4400 and answers only `auth` meanwhile; requests sent right after
 * an `auth` run as the identity it establishes; and hundreds of sockets whose tokens expire in
 * the same second share one deadline bucket and one timer.
 */
import t from 'tap'
import { bareApp } from '../../helpers/realtime-app.js'
import { answer, send } from '../../helpers/channels-app.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { connect, sleep } from '../../helpers/ws-client.js'

const timerCount = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length

t.test('refresh before exp: the client that answers stays open past exp, the one that does not is closed with 4401', async (t) => {
  const { app, ws } = await bareApp(t, { jwtSecret: TEST_SECRET, tokenRefreshLeadMs: 1500 })
  // Expires 3–4 s from now (exp is in whole seconds).
  const exp = epochSec(4)
  const bearer = { headers: { authorization: `Bearer ${await hsToken({ sub: 'ann', exp })}` } }
  const answers = await connect(`${ws}/ws`, bearer)
  const silent = await connect(`${ws}/ws`, { headers: { authorization: `Bearer ${await hsToken({ sub: 'bob', exp })}` } })
  const browser = await connect(`${ws}/ws`)
  send(browser, { type: 'auth', token: await hsToken({ sub: 'cleo', exp }), id: 'auth' })
  t.match(await answer(browser, 'auth'), { type: 'ack', visitor: 'cleo' })
  t.equal(app.realtime.resources().authDeadlines, 3, 'three sockets with a token deadline')

  const [refresh] = await answers.waitFor('refresh', 1, 6000)
  const askedAt = Date.now()
  t.equal(refresh?.expiresAt, exp * 1000, 'the refresh says when the token expires')
  t.ok(exp * 1000 - askedAt >= 400 && exp * 1000 - askedAt <= 2600, `asked about the lead time before exp (${exp * 1000 - askedAt} ms)`)
  send(answers, { type: 'auth', token: await hsToken({ sub: 'ann', exp: epochSec(120) }), id: 'renew' })
  t.match(await answer(answers, 'renew'), { type: 'ack', visitor: 'ann' })
  t.ok((await browser.waitFor('refresh', 1, 3000))[0], 'an auth-frame client is asked too')

  const closed = await silent.closed
  const closedAt = Date.now()
  t.equal(closed.code, 4401, 'the silent one: 4401')
  t.equal(closed.reason, 'token expired')
  t.ok(closedAt >= exp * 1000 - 50 && closedAt <= exp * 1000 + 1500, `closed at exp, within its bucket (${closedAt - exp * 1000} ms after)`)
  t.equal((await browser.closed).code, 4401, 'so is the browser client that did not answer')
  await sleep(1200)
  t.equal(answers.closeCode, null, 'the one that answered is still open past the old exp')
  t.equal(app.realtime.broadcast('still here', { local: true }), 1)
  await answers.waitFor('broadcast')
  t.equal(app.realtime.resources().authDeadlines, 1, 'one deadline left: the renewed token')
  await answers.close()
  await sleep(50)
  t.match(app.realtime.resources(), { authDeadlines: 0, authBuckets: 0, authTimerArmed: false }, 'nothing left once it closed')
})

t.test('requireAuth: only auth is answered until then, no auth in time is 4400, and what follows an auth runs as its user', async (t) => {
  const { ws } = await bareApp(t, {
    jwtSecret: TEST_SECRET,
    requireAuth: true,
    authTimeoutMs: 1000,
    channels: [{ name: 'ann-only', canSubscribe: ({ visitor }) => visitor?.id === 'ann' }]
  })
  const url = `${ws}/ws`
  const idle = await connect(url)
  send(idle, { type: 'sub', channel: 'ann-only', id: 1 })
  t.match(await answer(idle, 1), { type: 'error', code: 'auth_required' })
  const started = Date.now()
  const closed = await idle.closed
  t.match(closed, { code: 4400, reason: 'authentication required' })
  t.ok(Date.now() - started <= 2500, 'within the timeout and its bucket')

  // auth then sub at once, without waiting for the ack: the sub is held until the token is verified.
  const eager = await connect(url)
  send(eager, { type: 'auth', token: await hsToken({ sub: 'ann' }), id: 'a' })
  send(eager, { type: 'sub', channel: 'ann-only', id: 's' })
  t.match(await answer(eager, 'a'), { type: 'ack', visitor: 'ann' })
  t.match(await answer(eager, 's'), { type: 'ack', channel: 'ann-only' }, 'the sub ran as ann')
  const ackIndex = eager.frames.findIndex((f) => f.id === 'a')
  t.ok(ackIndex < eager.frames.findIndex((f) => f.id === 's'), 'in order: auth answered first')
  await sleep(1500)
  t.equal(eager.closeCode, null, 'an authenticated socket is not timed out')
  await eager.close()

  const bearer = await connect(url, { headers: { authorization: `Bearer ${await hsToken({ sub: 'ann' })}` } })
  send(bearer, { type: 'sub', channel: 'ann-only', id: 1 })
  t.match(await answer(bearer, 1), { type: 'ack' }, 'a bearer token authenticates at the upgrade')
  await bearer.close()
})

t.test('three hundred sockets whose tokens expire in the same second: one deadline bucket, one timer, no timer per socket', async (t) => {
  const { app, ws } = await bareApp(t, { jwtSecret: TEST_SECRET, maxConnectionsPerIp: 1000, handshakeRatePerSec: 1000, handshakeBurst: 1000 })
  const exp = epochSec(120)
  const token = await hsToken({ sub: 'many', exp })
  const before = timerCount()
  const clients = []
  for (let i = 0; i < 300; i++) clients.push(connect(`${ws}/ws`, { headers: { authorization: `Bearer ${token}` } }))
  const open = await Promise.all(clients)
  t.teardown(() => { for (const client of open) client.socket.terminate() })
  while (app.realtime.connections < 300) await sleep(10)
  const resources = app.realtime.resources()
  t.equal(resources.authDeadlines, 300, 'every socket has its deadline')
  t.equal(resources.authBuckets, 1, 'all in one bucket')
  t.equal(resources.authTimerArmed, true)
  t.ok(timerCount() - before <= 3, `active timers grew by ${timerCount() - before}, not by 300`)
  t.equal(resources.users, 1, 'one user, three hundred sockets')
  await Promise.all(open.map(async (client) => await client.close()))
  while (app.realtime.connections > 0) await sleep(10)
  t.match(app.realtime.resources(), { authDeadlines: 0, authBuckets: 0, authTimerArmed: false, users: 0 })
})
