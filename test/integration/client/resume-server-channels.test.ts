/**
 * The browser client after a reconnect, with the server's own subscriptions (the `subscribe`
 * option) and an identity that comes with every upgrade (a cookie; here a header): each
 * server-made channel is made again from the position the client kept (sent in the URL's
 * `channels=`, since the server makes them as it accepts the socket, before any frame), so nothing
 * published while it was away is lost or repeated. (With `getToken`, the identity and these
 * positions come back in the resume frame: identity-client.test.ts.)
 */
import t from 'tap'
import WebSocket from 'ws'
import { RealtimeClient } from '../../../src/client/index.js'
import type { ConnectionInfo } from '../../../src/index.js'
import { channelsApp } from '../../helpers/channels-app.js'

async function until (condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('server-made subscriptions resume from the client\'s positions, the identity sent with every upgrade (a cookie)', async (t) => {
  const connections: ConnectionInfo[] = []
  const { app, ws } = await channelsApp(t, { subscribe: (visitor) => visitor === null ? [] : ['feed'], onConnection: (connection) => { connections.push(connection) } })
  class Identified extends WebSocket {
    constructor (url: string) {
      super(url, { headers: { 'x-visitor': 'ann' } })
    }
  }
  const client = new RealtimeClient(ws, { WebSocket: Identified, minRetryMs: 20, sse: false })
  t.teardown(() => { client.close() })
  const received: number[] = []
  const recoveries: boolean[] = []
  client.on('subscription', (subscription) => {
    subscription.on('publication', (publication: { offset: number }) => { received.push(publication.offset) })
    subscription.on('subscribed', ({ recovered }) => { recoveries.push(recovered) })
  })
  await until(() => client.subscriptions.has('feed') && recoveries.length === 1, 'the server\'s subscription')
  for (let i = 0; i < 2; i++) await app.realtime.publish('feed', i)
  await until(() => received.length === 2, 'two publications')
  connections[0]?.terminate()
  await until(() => client.status !== 'open', 'the cut')
  for (let i = 0; i < 3; i++) await app.realtime.publish('feed', `away ${i}`)
  await until(() => recoveries.length === 2 && received.length >= 5, 'the reconnect and what was missed')
  await app.realtime.publish('feed', 'live')
  await until(() => received.length >= 6, 'live again')
  t.same(recoveries, [false, true], 'the server made it again from the client\'s position')
  t.same(received, [1, 2, 3, 4, 5, 6], 'nothing lost, nothing twice')
  t.equal(connections[1]?.visitor?.id, 'ann')
})
