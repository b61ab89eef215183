/**
 * A recovery's replay is bounded per client: a gap larger than `maxRecoveryReplay` is answered
 * `recovered: false` with only the newest publications, whether the client asked with `since` or
 * came back with a resume token, so a client that was away for long cannot make the node replay
 * its whole history at once.
 */
import t from 'tap'
import { channelsApp, offsets, send } from '../../helpers/channels-app.js'
import { channelAcks, connect, sleep, resumeWith } from '../../helpers/ws-client.js'

t.test('a gap larger than maxRecoveryReplay: recovered false, the newest publications only', async (t) => {
  const { app, ws } = await channelsApp(t, { maxRecoveryReplay: 5 })
  const first = await connect(ws)
  const [welcome] = await first.waitFor('welcome')
  send(first, { type: 'sub', channel: 'feed', id: 1 })
  send(first, { type: 'sub', channel: 'quiet', id: 2 })
  const [ack] = await first.waitFor('ack', 2)
  await first.close()
  for (let i = 0; i < 20; i++) await app.realtime.publish('feed', i)
  for (let i = 0; i < 3; i++) await app.realtime.publish('quiet', i)

  const since = await connect(ws)
  t.teardown(() => since.socket.terminate())
  send(since, { type: 'sub', channel: 'feed', since: { epoch: ack?.epoch, offset: 0 }, id: 1 })
  const [answer] = await since.waitFor('ack')
  t.match(answer, { recovered: false, offset: 20 })
  await since.waitFor('pub', 5)
  await sleep(50)
  t.same(offsets(since, 'feed'), [16, 17, 18, 19, 20], 'only the newest five are replayed')

  const resumed = await resumeWith(ws, String(welcome?.resume))
  t.teardown(() => resumed.socket.terminate())
  await resumed.waitFor('ack', 3)
  const acks = channelAcks(resumed)
  t.same(acks.map((a) => [a.channel, a.recovered]), [['feed', false], ['quiet', true]], 'a resume is bounded the same way, channel by channel')
  await resumed.waitFor('pub', 8)
  await sleep(50)
  t.same(offsets(resumed, 'feed'), [16, 17, 18, 19, 20])
  t.same(offsets(resumed, 'quiet'), [1, 2, 3], 'a gap within the bound is recovered whole')
})
