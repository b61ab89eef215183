/**
 * A JWKS that cannot be fetched is an outage, not a bad token: with a real local JWKS server that
 * is stopped and started again (or was never there, or answers 500, broken JSON, something that is
 * not a key set, or nothing at all), a bearer token is refused with 401 and an `auth` frame with
 * 4403, both saying `key set unavailable` (as docs/operations.md says); the outage is logged once
 * for every client refused meanwhile, and once more when the key set answers again.
 */
import t from 'tap'
import WebSocket from 'ws'
import { bareApp } from '../../helpers/realtime-app.js'
import { answer, send } from '../../helpers/channels-app.js'
import { closedPort, JwksServer, keyPair, signWith, type JwksMode } from '../../helpers/tokens.js'
import { connect } from '../../helpers/ws-client.js'

const DOWN = 'JWKS unavailable: tokens that need it are refused (key set unavailable) until it answers'
const UP = 'JWKS reachable again: tokens are verified'

/** A bearer upgrade: `welcome`'s visitor when accepted, else the refusal's status and message. */
async function bearer (url: string, token: string): Promise<{ status: number, message: string, visitor?: unknown }> {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
  return await new Promise((resolve, reject) => {
    socket.once('message', (data: Buffer) => {
      socket.terminate()
      resolve({ status: 101, message: '', visitor: (JSON.parse(data.toString()) as { visitor?: unknown }).visitor })
    })
    socket.on('error', (err) => { if (socket.readyState !== WebSocket.CLOSED) reject(err) })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => { socket.terminate(); resolve({ status: response.statusCode ?? 0, message: (JSON.parse(body) as { message: string }).message }) })
    })
  })
}

t.test('nothing listening from boot, then the JWKS comes up: key set unavailable, logged once, then accepted and logged as recovered', async (t) => {
  const key = await keyPair('ES256')
  const port = await closedPort()
  const { ws, logs } = await bareApp(t, { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, jwksCooldownMs: 0 })
  const url = `${ws}/ws`
  for (let i = 0; i < 3; i++) {
    const refused = await bearer(url, await signWith(key, { sub: `ann${i}` }))
    t.equal(refused.status, 401, `client ${i}: 401`)
    t.match(refused.message, /key set unavailable/, `client ${i}: the bearer refusal says key set unavailable (${refused.message})`)
  }
  const framed = await connect(url)
  send(framed, { type: 'auth', token: await signWith(key, { sub: 'bob' }), id: 1 })
  t.match(await answer(framed, 1), { type: 'error', code: 'token_invalid', message: /key set unavailable/ }, 'an auth frame is refused the same way')
  t.match(await framed.closed, { code: 4403, reason: /key set unavailable/ })
  t.equal(logs.withMessage(DOWN).length, 1, 'four refused clients, one outage line')
  t.equal(logs.withMessage(DOWN)[0]?.level, 50, 'logged as an error')
  t.match(logs.withMessage(DOWN)[0]?.reason, /fetch failed|ECONNREFUSED/, 'saying why the fetch failed')

  const jwks = await JwksServer.start(t, [key.publicJwk], port)
  t.match(await bearer(url, await signWith(key, { sub: 'cleo' })), { status: 101, visitor: 'cleo' }, 'once the JWKS answers, tokens are accepted')
  await logs.waitFor(UP)
  t.equal(logs.withMessage(UP).length, 1, 'the recovery is logged once')
  t.equal(jwks.fetches, 1)
})

t.test('a JWKS that stops and starts again: an outage in the middle of service, each end logged once', async (t) => {
  const first = await keyPair('ES256')
  const second = await keyPair('ES256')
  const jwks = await JwksServer.start(t, [first.publicJwk])
  const { ws, logs } = await bareApp(t, { jwksUrl: jwks.url, jwksCooldownMs: 0 })
  const url = `${ws}/ws`
  t.match(await bearer(url, await signWith(first, { sub: 'ann' })), { status: 101, visitor: 'ann' })
  await jwks.stop()
  // A cached key still verifies; a rotated one needs the set, which refuses connections now.
  t.match(await bearer(url, await signWith(first, { sub: 'ann' })), { status: 101 }, 'the cached key still verifies its tokens')
  jwks.rotate([first.publicJwk, second.publicJwk])
  for (let i = 0; i < 2; i++) t.match(await bearer(url, await signWith(second, { sub: 'bob' })), { status: 401, message: /key set unavailable/ }, 'a key it must fetch: key set unavailable, not a bad token')
  t.equal(logs.withMessage(DOWN).length, 1, 'the outage is logged once')
  await jwks.restart()
  t.match(await bearer(url, await signWith(second, { sub: 'bob' })), { status: 101, visitor: 'bob' }, 'accepted once it is back')
  await logs.waitFor(UP)
  t.equal(logs.withMessage(DOWN).length, 1)
  t.equal(logs.withMessage(UP).length, 1, 'and the recovery once')
})

t.test('every way a fetch fails is key set unavailable: a 500, JSON that does not parse, JSON that is not a key set, a timeout', async (t) => {
  const key = await keyPair('ES256')
  for (const mode of ['status-500', 'bad-json', 'not-a-key-set', 'hang'] as JwksMode[]) {
    await t.test(mode, async (t) => {
      const jwks = await JwksServer.start(t, [key.publicJwk])
      jwks.mode = mode
      const { ws, logs } = await bareApp(t, { jwksUrl: jwks.url, jwksCooldownMs: 0, jwksTimeoutMs: 300 })
      const started = Date.now()
      const refused = await bearer(`${ws}/ws`, await signWith(key, { sub: 'ann' }))
      t.equal(refused.status, 401)
      t.match(refused.message, /key set unavailable/, `refused as key set unavailable (${refused.message})`)
      t.equal(logs.withMessage(DOWN).length, 1, 'logged as an outage')
      // jose's own default is 5 s: the refusal coming well before it shows jwksTimeoutMs is applied.
      if (mode === 'hang') t.ok(Date.now() - started < 4000, `a hung fetch gives up after jwksTimeoutMs (${Date.now() - started} ms)`)
      t.equal(jwks.fetches, 1)
    })
  }
})
