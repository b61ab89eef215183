import t from 'tap'
import { buildApp, listen } from '../helpers/app.js'
import { connect } from '../helpers/ws-client.js'

t.test('GET /health reports ok and the open socket count', async (t) => {
  const { app } = await buildApp(t)
  const idle = await app.inject({ url: '/health' })
  t.equal(idle.statusCode, 200)
  t.same(idle.json(), { status: 'ok', connections: 0 })
  const { ws } = await listen(app)
  const clients = await Promise.all([connect(`${ws}/ws`), connect(`${ws}/`)])
  await Promise.all(clients.map((client) => client.waitFor('welcome')))
  t.same((await app.inject({ url: '/health' })).json(), { status: 'ok', connections: 2 })
  await Promise.all(clients.map((client) => client.close()))
})
