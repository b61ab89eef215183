/**
 * No credential the project issues or takes reaches a log line, whichever way a client presents
 * it: a resume token (in its `resume` frame, or by mistake in `?resume=`), a JWT as a bearer
 * header, in an `auth` frame or by mistake in `?token=` (on /ws, /sse and the demo page's `/`),
 * an API key header (and a `?token=` on an API call), an event stream's key header and its
 * Last-Event-ID. Run through the demo's own logger configuration (server-options.ts) at debug
 * level, with real sockets; every line of the output is searched.
 */
import t from 'tap'
import Fastify from 'fastify'
import app from '../../../src/app/app.js'
import { LogCapture, listen, testConfig, testServerOptions } from '../../helpers/app.js'
import { rawUpgrade } from '../../helpers/realtime-app.js'
import { SseClient } from '../../helpers/sse-client.js'
import { hsToken, epochSec } from '../../helpers/tokens.js'
import { connect, resumeAnswer, resumeWith } from '../../helpers/ws-client.js'

const JWT_SECRET = 'a-jwt-secret-for-the-credential-paths-test-0123456789'
const API_KEY = 'c0ffee'.repeat(10) + 'abcd'

t.test('every credential path, through the demo\'s logger: no credential in any log line', async (t) => {
  const config = testConfig({ LOG_LEVEL: 'debug', JWT_SECRET, API_KEYS: `worker:${API_KEY}:*` })
  const logs = new LogCapture()
  const server = Fastify(testServerOptions(config, logs))
  t.teardown(() => server.close())
  await server.register(app, { config })
  const { http, ws, port } = await listen(server)
  const jwt = await hsToken({ sub: 'tess', exp: epochSec(600) }, { secret: JWT_SECRET })
  const secrets: string[] = [jwt, API_KEY]

  // A bearer header on the upgrade, and a token in the URL by mistake.
  const bearer = await connect(`${ws}/ws?token=${jwt}`, { headers: { authorization: `Bearer ${jwt}` } })
  const [welcome] = await bearer.waitFor('welcome')
  t.equal(welcome?.visitor, 'tess', 'the bearer identified the socket')
  secrets.push(String(welcome?.resume))
  bearer.socket.send(JSON.stringify({ type: 'sub', channel: 'chat', id: 's' }))
  await bearer.waitFor('ack')
  await bearer.close()

  // The resume frame (and the same token again, refused), then an auth frame.
  const resumed = await resumeWith(`${ws}/ws`, String(welcome?.resume))
  t.match(await resumeAnswer(resumed), { resumed: true, visitor: 'tess' })
  const [next] = await resumed.waitFor('welcome')
  secrets.push(String(next?.resume))
  resumed.socket.send(JSON.stringify({ type: 'auth', token: jwt, id: 'a' }))
  await resumed.waitFor('ack', 2)
  const replayed = await resumeWith(`${ws}/ws`, String(welcome?.resume))
  t.match(await resumeAnswer(replayed), { code: 'resume_token_used' })
  await replayed.close()
  await resumed.close()

  // `?resume=` and `?token=` in URLs: refused or ignored, and never logged.
  const inUrl = await rawUpgrade(port, `/ws?resume=${encodeURIComponent(String(next?.resume))}`)
  inUrl.socket.destroy()
  t.equal(inUrl.status, 400)
  const onPage = await connect(`${ws}/?token=${jwt}`)
  await onPage.waitFor('welcome')
  await onPage.close()

  // The HTTP API with its key, and a token in its query by mistake.
  const api = await fetch(`${http}/api/channels?token=${jwt}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  t.equal(api.status, 200)
  const refused = await fetch(`${http}/api/channels`, { headers: { authorization: `Bearer ${API_KEY}x` } })
  t.equal(refused.status, 401)

  // An event stream: its key header on a POST, its Last-Event-ID on a reconnect, a token in its URL.
  const stream = await SseClient.open(`${http}/sse?channels=chat&token=${jwt}`)
  await stream.waitFor('ack')
  const published = await fetch(`${http}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'chat', data: { text: 'hello' } }) })
  t.equal(published.status, 200)
  await stream.waitFor('pub')
  const lastEventId = stream.lastEventId
  t.ok(lastEventId.length > 0, 'the stream has an id to resume from')
  secrets.push(stream.key)
  const post = await fetch(`${http}/sse`, { method: 'POST', headers: { 'content-type': 'application/json', 'realtime-stream': stream.key }, body: JSON.stringify({ type: 'unsub', channel: 'chat', id: 'u' }) })
  t.equal(post.status, 202)
  await stream.frame((frame) => frame.type === 'ack' && frame.id === 'u')
  stream.cut()
  await stream.ended
  const again = await SseClient.open(`${http}/sse`, { headers: { 'last-event-id': lastEventId } })
  await again.waitFor('welcome')
  again.cut()
  await again.ended
  await logs.waitFor('request completed', (line) => (line.res as { statusCode?: number } | undefined)?.statusCode === 202)

  const output = logs.lines.map((line) => JSON.stringify(line))
  t.ok(output.length > 20, `${output.length} log lines searched`)
  t.ok(output.some((line) => line.includes('"url":"/ws"')), 'request lines keep the path')
  for (const secret of secrets) {
    t.ok(secret.length >= 20, 'a real credential')
    t.same(output.filter((line) => line.includes(secret)), [], `no line carries ${secret.slice(0, 6)}…`)
  }
  t.same(output.filter((line) => /[?&](token|resume)=/.test(line)), [], 'no query string with a token or a resume parameter')
  t.same(output.filter((line) => line.includes(lastEventId)), [], 'nor the Last-Event-ID')
})
