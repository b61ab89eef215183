import t from 'tap'
import { buildApp, listen } from '../helpers/app.js'
import { connect } from '../helpers/ws-client.js'

t.test('the tutorial client connects on / and its replies are accepted and logged', async (t) => {
  const { app, logs } = await buildApp(t, { TICK_INTERVAL_MS: '100' })
  const { ws } = await listen(app)
  const client = await connect(ws) // no path, as in new WebSocket("ws://localhost:8005")
  client.socket.on('message', (data) => client.socket.send(`reply to ${data.toString().length} bytes`))
  const [welcome] = await client.waitFor('welcome')
  t.equal(welcome?.tickIntervalMs, 100)
  await client.waitFor('tick', 2)
  await logs.waitFor('client message', (line) => line.connId === welcome?.connId)
  const message = logs.withMessage('client message')[0]
  t.equal(message?.ip, '127.0.0.1')
  t.ok(typeof message?.bytes === 'number' && message.bytes > 0, 'logged with its size')
  await client.close()
})
