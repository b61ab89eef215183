/**
 * A POST to an event stream carries its own identity: another visitor's cookie session or bearer
 * token is refused (403 `FRT_STREAM_FORBIDDEN`), with nothing published or unsubscribed; the
 * stream's own identity, or none, still works (the scenario is in helpers/sse-post-identity.ts;
 * test/redis/sse-post-identity.test.ts runs it across two nodes).
 */
import t from 'tap'
import { channelsApp } from '../../helpers/channels-app.js'
import { checkPostIdentity } from '../../helpers/sse-post-identity.js'
import { SseClient } from '../../helpers/sse-client.js'
import { TEST_SECRET } from '../../helpers/tokens.js'

t.test('on one node: another visitor\'s session or token on a POST is refused, and nothing happens', async (t) => {
  const { app, port } = await channelsApp(t, { jwtSecret: TEST_SECRET })
  await checkPostIdentity(t, port, port, app)
})

t.test('an anonymous stream takes a POST of anyone: it acts as the stream (anonymous), never as the POST\'s visitor', async (t) => {
  const { port } = await channelsApp(t, { jwtSecret: TEST_SECRET })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=signed`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('ack')
  t.equal((await stream.post({ type: 'pub', channel: 'signed', data: { text: 'hi' }, id: 1 }, stream.key, { 'x-visitor': 'bob', 'x-name': 'Bob' })).status, 202)
  const pub = await stream.frame((f) => f.type === 'pub')
  t.same(pub.data, { text: 'hi', from: 'anonymous' }, 'published as the stream\'s visitor (nobody), not as bob')
})
