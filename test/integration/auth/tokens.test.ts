/**
 * Connection tokens over real sockets, signed with real keys: a non-browser client (the `ws`
 * package) with `Authorization: Bearer`, a browser-style client with an `auth` frame, and every
 * kind of bad token refused with a clear status or close code. Key sources: an HMAC secret, a PEM
 * public key (RSA), and a JWKS served by a local HTTP server that rotates its key.
 */
import t from 'tap'
import WebSocket from 'ws'
import { bareApp } from '../../helpers/realtime-app.js'
import { answer, send } from '../../helpers/channels-app.js'
import {
  confusedToken, epochSec, hsToken, JwksServer, keyPair, signWith, tamperedToken, TEST_SECRET, unsignedToken
} from '../../helpers/tokens.js'
import { connect, type RecordingClient } from '../../helpers/ws-client.js'

/** An upgrade that must be refused: its HTTP status and JSON body. */
async function refused (url: string, token: string, headers: Record<string, string> = {}): Promise<{ status: number, body: { code?: string, message?: string } }> {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}`, ...headers } })
  return await new Promise((resolve, reject) => {
    socket.once('open', () => { socket.terminate(); reject(new Error('the upgrade was accepted')) })
    // After a refusal ws reports the aborted handshake too; the status has been read by then.
    socket.on('error', (err) => { if (socket.readyState !== WebSocket.CLOSED) reject(err) })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => { socket.terminate(); resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) as { code?: string, message?: string } }) })
    })
  })
}

async function welcomed (url: string, token: string): Promise<RecordingClient> {
  const client = await connect(url, { headers: { authorization: `Bearer ${token}` } })
  await client.waitFor('welcome')
  return client
}

t.test('HMAC secret: a bearer token identifies a non-browser client; bad tokens get 401 FRT_TOKEN_INVALID saying why', async (t) => {
  const { ws, logs, metrics } = await bareApp(t, { jwtSecret: TEST_SECRET, jwtAudience: 'realtime', jwtIssuer: 'https://auth.test' })
  const url = `${ws}/ws`
  const good = { sub: 'ann', name: 'Ann', aud: 'realtime', iss: 'https://auth.test' }
  const client = await welcomed(url, await hsToken(good))
  t.equal(client.ofType('welcome')[0]?.visitor, 'ann', 'the token\'s sub is the visitor')
  await client.close()

  const cases: Array<[string, string, RegExp]> = [
    ['expired', await hsToken({ ...good, exp: epochSec(-60) }), /expired/],
    ['not yet valid', await hsToken({ ...good, nbf: epochSec(600) }), /not yet valid/],
    ['wrong audience', await hsToken({ ...good, aud: 'another-app' }), /wrong audience/],
    ['wrong issuer', await hsToken({ ...good, iss: 'https://evil.test' }), /wrong issuer/],
    ['no expiry', await hsToken({ ...good, exp: undefined }), /exp/],
    ['no subject', await hsToken({ aud: 'realtime', iss: 'https://auth.test' }), /sub/],
    ['alg none', unsignedToken(good), /algorithm not allowed/],
    ['signed with another secret', await hsToken(good, { secret: 'another-secret-that-is-long-enough-0123456789' }), /bad signature/],
    ['tampered payload', tamperedToken(await hsToken({ ...good, sub: 'bob' }), { sub: 'admin' }), /bad signature/],
    ['HS512 when the secret signs HS256 too: allowed', '', /./],
    ['garbage', 'not.a.jwt', /malformed/],
    ['a channel token', await hsToken({ ...good, channel: 'dm:ann' }), /channel token/]
  ]
  let refusals = 0
  for (const [what, token, why] of cases) {
    if (token === '') continue
    refusals++
    const { status, body } = await refused(url, token)
    t.equal(status, 401, `${what}: 401`)
    t.equal(body.code, 'FRT_TOKEN_INVALID', `${what}: FRT_TOKEN_INVALID`)
    t.match(body.message, why, `${what}: the message says why (${body.message ?? ''})`)
  }
  // Exactly one token refusal per refused upgrade (an `every()` alone would pass on an empty list).
  t.same(metrics.rejections, Array.from({ length: refusals }, () => 'token'), 'counted as token refusals')
  const line = await logs.waitFor('upgrade rejected')
  t.equal(line.reason, 'token')
  t.notOk(JSON.stringify(logs.lines).includes(await hsToken({ ...good, exp: epochSec(-60) })), 'no token in the logs')
  // HS512 is one of the HMAC algorithms a secret verifies.
  const hs512 = await welcomed(url, await hsToken(good, { alg: 'HS512' }))
  await hs512.close()
})

t.test('a token beats the cookie: an invalid one is refused even with a valid session; none falls back to identify', async (t) => {
  const { ws } = await bareApp(t, { jwtSecret: TEST_SECRET, identify: (request) => request.headers['x-visitor'] === undefined ? null : { id: String(request.headers['x-visitor']) } })
  const url = `${ws}/ws`
  t.equal((await refused(url, unsignedToken({ sub: 'ann' }), { 'x-visitor': 'ann' })).status, 401)
  const session = await connect(url, { headers: { 'x-visitor': 'bob' } })
  t.equal((await session.waitFor('welcome'))[0]?.visitor, 'bob', 'no token: the session (identify) decides')
  await session.close()
  const basic = await connect(url, { headers: { authorization: 'Basic Ym9iOnNlY3JldA==', 'x-visitor': 'cleo' } })
  t.equal((await basic.waitFor('welcome'))[0]?.visitor, 'cleo', 'another Authorization scheme is not a token')
  await basic.close()
})

t.test('RSA public key: RS256 passes; HS256 signed with the public key (algorithm confusion), alg none, another key and a tampered token do not', async (t) => {
  const rsa = await keyPair('RS256')
  const other = await keyPair('RS256')
  const { ws } = await bareApp(t, { jwtPublicKey: rsa.publicPem })
  const url = `${ws}/ws`
  const client = await welcomed(url, await signWith(rsa, { sub: 'ann' }))
  t.equal(client.ofType('welcome')[0]?.visitor, 'ann')
  await client.close()
  for (const [what, token, why] of [
    ['HS256 with the public key as secret', confusedToken(rsa.publicPem, { sub: 'admin' }), /algorithm not allowed/],
    ['alg none', unsignedToken({ sub: 'admin' }), /algorithm not allowed/],
    ['another RSA key', await signWith(other, { sub: 'ann' }), /bad signature/],
    ['tampered', tamperedToken(await signWith(rsa, { sub: 'ann' }), { sub: 'admin' }), /bad signature/]
  ] as const) {
    const { status, body } = await refused(url, token)
    t.equal(status, 401, what)
    t.match(body.message, why, `${what}: ${body.message ?? ''}`)
  }
})

t.test('a bad key configuration fails registration with FRT_INVALID_OPTION', async (t) => {
  const rsa = await keyPair('RS256')
  await t.rejects(bareApp(t, { jwtSecret: TEST_SECRET, jwtPublicKey: rsa.publicPem }), { code: 'FRT_INVALID_OPTION', message: /one key source/ })
  await t.rejects(bareApp(t, { jwtPublicKey: rsa.publicPem, jwtAlgorithms: ['HS256'] }), { code: 'FRT_INVALID_OPTION', message: /HS256 cannot be verified/ })
  await t.rejects(bareApp(t, { jwtAlgorithms: ['none'] }), { code: 'FRT_INVALID_OPTION', message: /"jwtAlgorithms"/ })
  await t.rejects(bareApp(t, { jwtPublicKey: 'not a key' }), { code: 'FRT_INVALID_OPTION', message: /"jwtPublicKey"/ })
  await t.rejects(bareApp(t, { jwtSecret: 'short' }), { code: 'FRT_INVALID_OPTION', message: /"jwtSecret".*at least 32 characters/ })
  const shortSecret = 'too-short-to-sign-with'
  await t.rejects(bareApp(t, { jwtSecret: shortSecret }), { message: /^(?![\s\S]*too-short-to-sign-with)/ }, 'a refused secret is never echoed')
  await t.rejects(bareApp(t, { channels: [{ name: 'dm:*', private: true }] }), { code: 'FRT_INVALID_OPTION', message: /private channel needs channel tokens/ })
})

t.test('JWKS: keys fetched from a local server, cached, and a rotated key picked up on its first token', async (t) => {
  const first = await keyPair('ES256')
  const second = await keyPair('EdDSA')
  const jwks = await JwksServer.start(t, [first.publicJwk])
  const { ws } = await bareApp(t, { jwksUrl: jwks.url, jwksCooldownMs: 0 })
  const url = `${ws}/ws`
  const a = await welcomed(url, await signWith(first, { sub: 'ann' }))
  const b = await welcomed(url, await signWith(first, { sub: 'bob' }))
  t.equal(jwks.fetches, 1, 'fetched once, then cached')
  jwks.rotate([second.publicJwk])
  const c = await welcomed(url, await signWith(second, { sub: 'cleo' }))
  t.equal(c.ofType('welcome')[0]?.visitor, 'cleo', 'a token of the new key is accepted')
  t.equal(jwks.fetches, 2, 'its unknown kid caused one fetch')
  const { status, body } = await refused(url, await signWith(await keyPair('ES256'), { sub: 'mallory' }))
  t.equal(status, 401)
  t.match(body.message, /unknown signing key/, 'a key the JWKS does not have is refused')
  t.match((await refused(url, confusedToken(second.publicPem, { sub: 'admin' }))).body.message, /algorithm not allowed/, 'HMAC is never allowed with a JWKS')
  for (const client of [a, b, c]) await client.close()
})

t.test('a browser-style client authenticates with an auth frame; a bad one is answered token_invalid and closed with 4403', async (t) => {
  const { ws } = await bareApp(t, { jwtSecret: TEST_SECRET })
  const url = `${ws}/ws`
  const client = await connect(url)
  t.equal((await client.waitFor('welcome'))[0]?.visitor, null, 'anonymous at first')
  const expiresAt = epochSec(600) * 1000
  send(client, { type: 'auth', token: await hsToken({ sub: 'ann', exp: expiresAt / 1000 }), id: 1 })
  t.match(await answer(client, 1), { type: 'ack', id: 1, visitor: 'ann', expiresAt })
  // Same user again (a refresh): accepted. Another user: refused and closed.
  send(client, { type: 'auth', token: await hsToken({ sub: 'ann' }), id: 2 })
  t.match(await answer(client, 2), { type: 'ack', visitor: 'ann' })
  send(client, { type: 'auth', token: await hsToken({ sub: 'bob' }), id: 3 })
  t.match(await answer(client, 3), { type: 'error', code: 'token_invalid', message: /another user/ })
  t.match(await client.closed, { code: 4403, reason: /token invalid: a token for another user/ })

  for (const [what, token] of [['alg none', unsignedToken({ sub: 'ann' })], ['expired', await hsToken({ sub: 'ann', exp: epochSec(-5) })], ['tampered', tamperedToken(await hsToken({ sub: 'ann' }), { sub: 'root' })]] as const) {
    const other = await connect(url)
    send(other, { type: 'auth', token, id: 'a' })
    t.match(await answer(other, 'a'), { code: 'token_invalid' }, what)
    t.equal((await other.closed).code, 4403, `${what}: closed with 4403`)
  }
})

t.test('without a token key, auth is unsupported and bearer headers are not read', async (t) => {
  const { ws } = await bareApp(t)
  const client = await connect(`${ws}/ws`, { headers: { authorization: `Bearer ${await hsToken({ sub: 'ann' })}` } })
  t.equal((await client.waitFor('welcome'))[0]?.visitor, null)
  send(client, { type: 'auth', token: 'x', id: 1 })
  t.match(await answer(client, 1), { code: 'unsupported' })
  await client.close()
})

t.test('one cap for a token, whatever carries it: over 8192 characters is refused in a bearer header as in an auth frame; a valid one at the cap passes both', async (t) => {
  const { ws } = await bareApp(t, { jwtSecret: TEST_SECRET })
  const url = `${ws}/ws`
  /** A validly signed token for ann whose length is within `[min, max]`. */
  const sized = async (min: number, max: number): Promise<string> => {
    for (let pad = Math.floor(min * 0.7); ; pad++) {
      const token = await hsToken({ sub: 'ann', pad: 'x'.repeat(pad) })
      if (token.length >= min && token.length <= max) return token
      if (token.length > max) throw new Error(`no token of ${min}-${max} characters`)
    }
  }
  const long = await sized(8193, 8200)
  const { status, body } = await refused(url, long)
  t.equal(status, 401, `a bearer token of ${long.length} characters (validly signed) is refused`)
  t.match(body, { code: 'FRT_TOKEN_INVALID', message: /too long \(over 8192 characters\)/ })
  const framed = await connect(url)
  send(framed, { type: 'auth', token: long, id: 1 })
  const frameRefusal = await answer(framed, 1)
  t.match(frameRefusal, { type: 'error', code: 'invalid_message', message: /8192/ }, 'and in an auth frame (invalid_message, as PROTOCOL.md says)')
  await framed.close()

  const atCap = await sized(8150, 8192)
  t.equal((await welcomed(url, atCap)).ofType('welcome')[0]?.visitor, 'ann', `a bearer token of ${atCap.length} characters passes`)
  const framedOk = await connect(url)
  send(framedOk, { type: 'auth', token: atCap, id: 1 })
  t.match(await answer(framedOk, 1), { type: 'ack', visitor: 'ann' }, 'and so does it in an auth frame')
  await framedOk.close()
})
