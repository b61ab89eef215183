/**
 * Pusher's request signing, refused as Pusher refuses: requests the real SDK signs, then sent
 * wrong (another secret, another key, an unknown app, a stale timestamp, another body than the one
 * whose MD5 was signed, a path signed with the prefix the routes are mounted under), each
 * answered with Pusher's status and a text that says why, and none publishing anything. A request
 * signed for `/apps/{id}/…` is accepted under whatever prefix the app mounts the routes.
 */
import t from 'tap'
import { APP, postJson, pusherNode, sdk, send, signedQuery, subscriber } from '../../helpers/pusher-http.js'

/** Status and text of a request: the SDK's answer or its RequestError (which carries both), or a plain {@link send}'s. */
async function answerOf (request: Promise<unknown>): Promise<{ status: number, text: string }> {
  try {
    // The SDK answers a (node-fetch) Response, whose text is a method; send() answers the text itself.
    const answer = await request as { status: number, text: string | (() => Promise<string>) }
    return { status: answer.status, text: typeof answer.text === 'string' ? answer.text : await answer.text() }
  } catch (err) {
    const refused = err as { status?: number, body?: string }
    if (typeof refused.status !== 'number') throw err
    return { status: refused.status, text: refused.body ?? '' }
  }
}

const BODY = JSON.stringify({ name: 'e', data: 'x', channels: ['orders'] })

t.test('what the SDK signs wrong is refused with Pusher\'s answer, and publishes nothing', async (t) => {
  const { ws, http, port } = await pusherNode(t)
  const watcher = await subscriber(ws, ['orders'])
  const pusher = sdk(port)
  const url = (path: string, query: string): string => `${http}${path}?${query}`

  const cases: Array<[string, () => Promise<unknown>, number, RegExp]> = [
    ['another secret', () => sdk(port, { ...APP, secret: 'not-the-secret-0123456789' }).trigger('orders', 'e', 'x'), 401, /^Invalid signature: you should have sent HmacSHA256Hex\("POST\\n\/apps\/1001\/events\\nauth_key=first-app-key&auth_timestamp=\d+&auth_version=1\.0&body_md5=[0-9a-f]{32}", your_secret_key\)/],
    ['another key', () => sdk(port, { ...APP, key: 'someone-elses-key' }).trigger('orders', 'e', 'x'), 401, /^Unknown auth_key/],
    ['an unknown app', () => sdk(port, { ...APP, id: '9999' }).trigger('orders', 'e', 'x'), 404, /^Unknown app "9999"/],
    ['a timestamp 601 s old', () => send(url('/apps/1001/events', signedQuery(pusher, { method: 'POST', path: '/apps/1001/events', body: BODY }, Date.now() - 601_000)), 'POST', BODY), 401, /^Timestamp expired: Given timestamp \(\d+\) not within 600s of server time/],
    ['a timestamp 660 s ahead', () => send(url('/apps/1001/events', signedQuery(pusher, { method: 'POST', path: '/apps/1001/events', body: BODY }, Date.now() + 660_000)), 'POST', BODY), 401, /^Timestamp expired/],
    ['another body than the signed one', () => send(url('/apps/1001/events', signedQuery(pusher, { method: 'POST', path: '/apps/1001/events', body: BODY })), 'POST', BODY.replace('"x"', '"y"')), 401, /^Invalid body_md5/],
    ['a body with no body_md5', () => send(url('/apps/1001/events', signedQuery(pusher, { method: 'POST', path: '/apps/1001/events' })), 'POST', BODY), 401, /^Missing body_md5/],
    ['another method than the signed one', () => send(url('/apps/1001/channels', signedQuery(pusher, { method: 'POST', path: '/apps/1001/channels' })), 'GET'), 401, /^Invalid signature/],
    ['a parameter added after signing', () => send(`${url('/apps/1001/channels', signedQuery(pusher, { method: 'GET', path: '/apps/1001/channels' }))}&filter_by_prefix=presence-`, 'GET'), 401, /^Invalid signature/],
    ['another auth_version', () => send(`${http}/apps/1001/channels?auth_key=${APP.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=2.0&auth_signature=${'0'.repeat(64)}`, 'GET'), 401, /^Unsupported auth_version "2\.0"/],
    ['no signature at all', () => send(`${http}/apps/1001/channels`, 'GET'), 401, /^Missing auth_key/],
    ['a repeated parameter', () => send(`${url('/apps/1001/channels', signedQuery(pusher, { method: 'GET', path: '/apps/1001/channels' }))}&auth_key=x`, 'GET'), 400, /^Repeated query parameter auth_key/],
    ['a malformed body, signed', () => send(url('/apps/1001/events', signedQuery(pusher, { method: 'POST', path: '/apps/1001/events', body: '{"name": oops' })), 'POST', '{"name": oops'), 400, /^The body is not valid JSON/],
    ['an unknown field, signed', () => postJson(pusher, '/events', { name: 'e', data: 'x', channel: 'orders', priority: 'high' }), 400, /^Invalid body/],
    ['data that is not a string, signed', () => postJson(pusher, '/events', { name: 'e', data: { n: 1 }, channel: 'orders' }), 400, /^Invalid body\/data/],
    ['both channel and channels, signed', () => postJson(pusher, '/events', { name: 'e', data: 'x', channel: 'orders', channels: ['orders'] }), 400, /^Give channel or channels, not both/],
    ['a bad socket id, signed', () => postJson(pusher, '/events', { name: 'e', data: 'x', channel: 'orders', socket_id: '1.2.3 4' }), 400, /^Invalid body\/socket_id/]
  ]
  for (const [what, request, status, text] of cases) {
    const got = await answerOf(request())
    t.equal(got.status, status, `${what}: ${status}`)
    t.match(got.text, text, `${what}: says why`)
    t.notOk(got.text.includes(APP.secret), `${what}: never shows the secret`)
  }
  // A valid request after all of them: the watcher's first publication is this one.
  await pusher.trigger('orders', 'e', 'the only one')
  await watcher.client.waitFor('pub')
  t.same(watcher.client.ofType('pub').map((frame) => frame.data), ['the only one'], 'none of the refused requests published anything')
})

t.test('the signed path is /apps/{id}/…, whatever prefix the routes are mounted under', async (t) => {
  const { http, port } = await pusherNode(t, { apiPath: '/pusher' }, { prefix: '/rt' })
  const pusher = sdk(port)
  const unprefixed = signedQuery(pusher, { method: 'POST', path: '/apps/1001/events', body: BODY })
  const accepted = await send(`${http}/rt/pusher/apps/1001/events?${unprefixed}`, 'POST', BODY)
  t.equal(accepted.status, 200, 'signed for /apps/1001/events, arriving under /rt/pusher: accepted')
  const prefixed = signedQuery(pusher, { method: 'POST', path: '/rt/pusher/apps/1001/events', body: BODY })
  const refused = await send(`${http}/rt/pusher/apps/1001/events?${prefixed}`, 'POST', BODY)
  t.equal(refused.status, 401, 'signed for the prefixed path: refused')
  t.match(refused.text, /^Invalid signature: you should have sent HmacSHA256Hex\("POST\\n\/apps\/1001\/events\\n/, 'and told which path to sign')
  const unmounted = await send(`${http}/apps/1001/events?${unprefixed}`, 'POST', BODY)
  t.equal(unmounted.status, 404, 'nothing is served outside the mount')
})

t.test('a body over the API\'s body limit is refused with 413 before it is parsed', async (t) => {
  const { http, port } = await pusherNode(t)
  const body = JSON.stringify({ name: 'e', data: 'x'.repeat(200 * 1024), channel: 'orders' })
  const answer = await send(`${http}/apps/1001/events?${signedQuery(sdk(port), { method: 'POST', path: '/apps/1001/events', body })}`, 'POST', body)
  t.equal(answer.status, 413)
})

t.test('the timestamp window is the app\'s to tune', async (t) => {
  const { http, port } = await pusherNode(t, { apiTimestampWindowS: 30 })
  const pusher = sdk(port)
  const stale = await send(`${http}/apps/1001/channels?${signedQuery(pusher, { method: 'GET', path: '/apps/1001/channels' }, Date.now() - 31_000)}`, 'GET')
  t.equal(stale.status, 401)
  t.match(stale.text, /not within 30s of server time/)
  const fresh = await send(`${http}/apps/1001/channels?${signedQuery(pusher, { method: 'GET', path: '/apps/1001/channels' }, Date.now() - 20_000)}`, 'GET')
  t.equal(fresh.status, 200, 'within the window')
})
