import t from 'tap'
import { buildApp, listen } from '../helpers/app.js'
import { connect } from '../helpers/ws-client.js'

t.test('the page gives a visitor an id (in a signed cookie, no session) and the WebSocket sees the same visitor', async (t) => {
  const { app, logs } = await buildApp(t, { TICK_INTERVAL_MS: '1000' })
  const { http, ws } = await listen(app)
  const page = await fetch(`${http}/`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  const setCookie = page.headers.get('set-cookie') ?? ''
  t.match(setCookie, /^rt\.vid=/, 'visitor cookie set')
  t.notMatch(setCookie, /rt\.sid=/, 'and no session: a page load has nothing to keep in one')
  t.match(setCookie, /HttpOnly/i)
  t.notMatch(setCookie, /Secure/, 'not Secure over plain http (cookie secure: auto)')
  const html = await page.text()
  const visitorId = /data-visitor="([^"]+)"/.exec(html)?.[1]
  t.ok(visitorId, 'the page shows the visitor id')

  const cookie = setCookie.split(';')[0] ?? ''
  const client = await connect(`${ws}/ws`, { headers: { cookie } })
  const [welcome] = await client.waitFor('welcome')
  t.equal(welcome?.visitor, visitorId, 'the socket knows the visitor from the upgrade request')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.visitor, visitorId, 'and logs it')
  t.notMatch(JSON.stringify(logs.lines), cookie.split('=')[1] ?? 'never', 'the cookie value is never logged')

  const again = await fetch(`${http}/`, { headers: { cookie } })
  t.match(await again.text(), `data-visitor="${visitorId}"`, 'the same visitor on the next page view')
  await client.close()
})

t.test('a socket without a session is welcomed with visitor null', async (t) => {
  const { app } = await buildApp(t)
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`)
  const [welcome] = await client.waitFor('welcome')
  t.equal(welcome?.visitor, null)
  t.equal(typeof welcome?.connId, 'string')
  t.equal(welcome?.tickIntervalMs, 3000)
  await client.close()
})

t.test('a forged session cookie is not a session', async (t) => {
  const { app } = await buildApp(t)
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`, { headers: { cookie: 'rt.sid=forged.signature' } })
  const [welcome] = await client.waitFor('welcome')
  t.equal(welcome?.visitor, null)
  await client.close()
})

t.test('static assets and the page are served', async (t) => {
  const { app } = await buildApp(t)
  const script = await app.inject({ url: '/public/client.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  const style = await app.inject({ url: '/public/style.css' })
  t.equal(style.statusCode, 200)
  const page = await app.inject({ url: '/' })
  t.match(page.body, '<script type="module" src="/public/client.js"')
  t.match(page.body, 'href="/public/style.css"')
  t.equal((await app.inject({ url: '/public/nope.js' })).statusCode, 404)
})

t.test('a forged or unsigned visitor cookie is no visitor', async (t) => {
  const { app } = await buildApp(t)
  const { ws, http } = await listen(app)
  for (const cookie of ['rt.vid=someone-else', 'rt.vid=someone-else.forgedsignature']) {
    const client = await connect(`${ws}/ws`, { headers: { cookie } })
    const [welcome] = await client.waitFor('welcome')
    t.equal(welcome?.visitor, null, `${cookie}: visitor null`)
    await client.close()
    t.notMatch(await (await fetch(`${http}/`, { headers: { cookie } })).text(), 'data-visitor="someone-else"', `${cookie}: the page makes a new visitor`)
  }
})
