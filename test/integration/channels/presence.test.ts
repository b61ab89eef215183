import t from 'tap'
import { answer, channelsApp, frame, send } from '../../helpers/channels-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

const presenceFrames = (client: RecordingClient): Array<Record<string, unknown>> => client.frames.filter((f) => f.type === 'presence')

t.test('presence: a snapshot on subscribe, one join per visitor however many tabs, a leave when the last tab goes', async (t) => {
  const { app, ws } = await channelsApp(t)
  const bob = await connect(ws, { headers: { 'x-visitor': 'v-bob', 'x-name': 'Bob' } })
  t.teardown(() => bob.close())
  send(bob, { type: 'sub', channel: 'chat', id: 1 })
  await answer(bob, 1)
  t.same(await frame(bob, (f) => f.type === 'presence'), { type: 'presence', channel: 'chat', action: 'snapshot', members: [{ id: 'v-bob', name: 'Bob' }] })

  const tabs: RecordingClient[] = []
  for (let i = 0; i < 3; i++) {
    const tab = await connect(ws, { headers: { 'x-visitor': 'v-ann', 'x-name': 'Ann' } })
    send(tab, { type: 'sub', channel: 'chat', id: 1 })
    await answer(tab, 1)
    tabs.push(tab)
  }
  const snapshot = await frame(tabs[2] as RecordingClient, (f) => f.type === 'presence' && f.action === 'snapshot')
  t.same(snapshot.members, [{ id: 'v-ann', name: 'Ann' }, { id: 'v-bob', name: 'Bob' }], 'Ann counts once in the snapshot')
  t.same((await app.realtime.presence('chat')).length, 2, 'and on the server API')
  await sleep(100)
  t.same(presenceFrames(bob).slice(1), [{ type: 'presence', channel: 'chat', action: 'join', member: { id: 'v-ann', name: 'Ann' } }], 'Bob saw one join for three tabs')

  await tabs[0]?.close()
  send(tabs[1] as RecordingClient, { type: 'unsub', channel: 'chat', id: 2 })
  await answer(tabs[1] as RecordingClient, 2)
  await sleep(100)
  t.equal(presenceFrames(bob).length, 2, 'no leave while one tab remains')
  await tabs[2]?.close()
  t.same(await frame(bob, (f) => f.type === 'presence' && f.action === 'leave'), { type: 'presence', channel: 'chat', action: 'leave', member: { id: 'v-ann' } })
  t.same(await app.realtime.presence('chat'), [{ id: 'v-bob', name: 'Bob' }])
  await tabs[1]?.close()
})

t.test('presence: anonymous sockets see presence but are not listed; channels without presence send none', async (t) => {
  const { ws } = await channelsApp(t)
  const anon = await connect(ws)
  const ann = await connect(ws, { headers: { 'x-visitor': 'v-ann' } })
  t.teardown(async () => { await anon.close(); await ann.close() })
  send(anon, { type: 'sub', channel: 'chat', id: 1 })
  await answer(anon, 1)
  t.same((await frame(anon, (f) => f.type === 'presence')).members, [])
  send(ann, { type: 'sub', channel: 'chat', id: 1 })
  await answer(ann, 1)
  t.same((await frame(ann, (f) => f.type === 'presence')).members, [{ id: 'v-ann' }], 'a member without a name has no name field')
  t.match(await frame(anon, (f) => f.type === 'presence' && f.action === 'join'), { member: { id: 'v-ann' } })
  send(ann, { type: 'sub', channel: 'feed', id: 2 })
  await answer(ann, 2)
  await sleep(50)
  t.notOk(ann.frames.some((f) => f.type === 'presence' && f.channel === 'feed'), 'no presence on a channel without it')
})

t.test('presence: a visitor who subscribes and leaves at once leaves no ghost', async (t) => {
  const { app, ws } = await channelsApp(t)
  for (let i = 0; i < 20; i++) {
    const tab = await connect(ws, { headers: { 'x-visitor': `v-${i}` } })
    send(tab, { type: 'sub', channel: 'chat' })
    if (i % 2 === 0) await sleep(1)
    await tab.close()
  }
  await sleep(100)
  t.same(await app.realtime.presence('chat'), [])
})
