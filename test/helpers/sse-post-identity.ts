/**
 * One scenario, run on one node and across a Redis pair: a POST to alice's event stream that
 * names another visitor (bob's session or bob's bearer token) is refused with 403
 * `FRT_STREAM_FORBIDDEN`, and nothing it asked for happens (no publication, no unsubscribe); a
 * POST with alice's own identity, or with none, still works and acts as alice.
 */
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { SseClient } from './sse-client.js'
import { hsToken } from './tokens.js'
import { frame } from './channels-app.js'
import { connect, type Frame } from './ws-client.js'

/** What the scenario needs of tap (its test object). */
type Tap = Pick<Test, 'equal' | 'same' | 'match' | 'teardown'>

const textsOf = (frames: readonly Frame[]): string[] => frames.filter((f) => f.type === 'pub' && f.channel === 'signed').map((f) => String((f.data as { text?: unknown }).text))

/**
 * @param streamPort - the node alice's stream is open on (its app takes `x-visitor` / `x-name` and a token key)
 * @param postPort - the node the POSTs land on (the same one, or another node of the pair)
 * @param streamApp - the stream's node, to publish a marker after the refused POSTs
 */
export async function checkPostIdentity (t: Tap, streamPort: number, postPort: number, streamApp: FastifyInstance): Promise<void> {
  const stream = await SseClient.open(`http://127.0.0.1:${streamPort}/sse?channels=signed`, { headers: { 'x-visitor': 'alice', 'x-name': 'Alice' } })
  t.teardown(() => { stream.cut() })
  await stream.waitFor('ack')
  // Someone else on the channel sees what is published on it, on the POSTs' node.
  const observer = await connect(`ws://127.0.0.1:${postPort}/ws`, { headers: { 'x-visitor': 'cleo' } })
  t.teardown(() => observer.socket.terminate())
  observer.socket.send(JSON.stringify({ type: 'sub', channel: 'signed', id: 1 }))
  await observer.waitFor('ack')
  const post = async (message: unknown, headers: Record<string, string>): Promise<Response> => await fetch(`http://127.0.0.1:${postPort}/sse`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'realtime-stream': stream.key, ...headers },
    body: JSON.stringify(message)
  })

  const bobToken = await hsToken({ sub: 'bob', name: 'Bob' })
  for (const [who, headers] of [['bob\'s session', { 'x-visitor': 'bob', 'x-name': 'Bob' }], ['bob\'s bearer token', { authorization: `Bearer ${bobToken}` }]] as const) {
    const pub = await post({ type: 'pub', channel: 'signed', data: { text: `forged by ${who}` }, id: `p-${who}` }, headers)
    t.equal(pub.status, 403, `${who}: a pub on alice's stream is refused`)
    t.match(await pub.json(), { statusCode: 403, code: 'FRT_STREAM_FORBIDDEN' })
    const unsub = await post({ type: 'unsub', channel: 'signed', id: `u-${who}` }, headers)
    t.equal(unsub.status, 403, `${who}: an unsub of alice's subscription is refused`)
  }
  const bad = await post({ type: 'pub', channel: 'signed', data: { text: 'bad token' } }, { authorization: 'Bearer not.a.token' })
  t.equal(bad.status, 401, 'a refused bearer token on a POST is 401, as on the stream itself')
  t.match(await bad.json(), { code: 'FRT_TOKEN_INVALID' })

  // A marker published by the server: had any refused POST been taken, it would come before it.
  await streamApp.realtime.publish('signed', { text: 'marker', from: 'server' })
  const own = await post({ type: 'pub', channel: 'signed', data: { text: 'by alice' }, id: 'own' }, { 'x-visitor': 'alice' })
  t.equal(own.status, 202, 'a POST with alice\'s own session is taken')
  const bare = await post({ type: 'pub', channel: 'signed', data: { text: 'no identity' }, id: 'bare' }, {})
  t.equal(bare.status, 202, 'a POST with no identity is taken, and acts as the stream')
  await stream.frame((f) => f.type === 'ack' && f.id === 'bare')
  await frame(observer, (f) => f.type === 'pub' && (f.data as { text?: string }).text === 'no identity')
  t.same(textsOf(observer.frames), ['marker', 'by alice', 'no identity'], 'nothing the refused POSTs asked for was published')
  t.same(observer.ofType('pub').slice(1).map((f) => (f.data as { from?: string }).from), ['Alice', 'Alice'], 'the accepted POSTs published as alice')
  t.same(textsOf(stream.frames), ['marker', 'by alice', 'no identity'], 'alice\'s stream is still subscribed (the refused unsub did nothing)')
  t.equal(stream.frames.filter((f) => typeof f.id === 'string' && /^[pu]-/.test(f.id)).length, 0, 'no answer to a refused POST ever reached the stream')
}
