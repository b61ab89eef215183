/**
 * Every log line about a socket carries its connId, the client IP and the request id (reqId) of
 * the upgrade request that opened it, so an operator can follow one client from the upgrade to
 * the close with one filter.
 */
import t from 'tap'
import { buildApp, listen, type LogLine } from '../../helpers/app.js'
import { connect } from '../../helpers/ws-client.js'

t.test('socket log lines carry connId, ip and the reqId of their upgrade', async (t) => {
  const { app, logs } = await buildApp(t, { TICK_INTERVAL_MS: '0' })
  const { ws } = await listen(app)

  const first = await connect(`${ws}/ws`)
  const second = await connect(`${ws}/ws`)
  const connIds: string[] = []
  for (const client of [first, second]) {
    const [welcome] = await client.waitFor('welcome')
    connIds.push(String(welcome?.connId))
    client.socket.send('hello from the client')
    client.socket.send('{"type":"nope"}')
  }
  await first.close(1000)
  await second.close(4001)

  const upgrades = logs.withMessage('incoming request').filter((line) => (line.req as { url?: string } | undefined)?.url === '/ws')
  t.equal(upgrades.length, 2, 'each upgrade request logged once')
  const upgradeReqIds = new Set(upgrades.map((line) => line.reqId))
  t.equal(upgradeReqIds.size, 2, 'with its own reqId')

  for (const connId of connIds) {
    await logs.waitFor('client disconnected', (line) => line.connId === connId)
    const lines: LogLine[] = logs.lines.filter((line) => line.connId === connId)
    const messages = lines.map((line) => line.msg)
    t.ok(messages.includes('client connected') && messages.includes('client message') && messages.includes('client disconnected'), `${connId}: connect, message and disconnect are logged`)
    const reqIds = new Set(lines.map((line) => line.reqId))
    t.equal(reqIds.size, 1, `${connId}: one reqId on all ${lines.length} lines`)
    const [reqId] = reqIds
    t.ok(upgradeReqIds.has(reqId), `${connId}: it is the reqId of its upgrade request`)
    t.ok(lines.every((line) => line.ip === '127.0.0.1'), `${connId}: every line has the client ip`)
  }
  t.not(logs.lines.find((line) => line.connId === connIds[0])?.reqId, logs.lines.find((line) => line.connId === connIds[1])?.reqId, 'two sockets, two reqIds')
  const closed = logs.withMessage('client disconnected').find((line) => line.connId === connIds[1])
  t.equal(closed?.code, 4001, 'the disconnect line has the close code')
  t.type(closed?.durationMs, 'number', 'and the duration')
})
