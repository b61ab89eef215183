import t from 'tap'
import { buildApp } from '../helpers/app.js'

function cookieOf (setCookie: string | string[] | undefined): string {
  const value = Array.isArray(setCookie) ? setCookie[0] : setCookie
  return (value ?? '').split(';')[0] ?? ''
}

t.test('POST /name stores the display name in the session and confirms it with a flash message, once', async (t) => {
  const { app } = await buildApp(t)
  const page = await app.inject({ url: '/' })
  const cookie = cookieOf(page.headers['set-cookie'])
  t.match(page.body, '(none yet)')
  const posted = await app.inject({ method: 'POST', url: '/name', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=%20Ann%20%20Lee%20' })
  t.equal(posted.statusCode, 303)
  t.equal(posted.headers.location, '/')
  const next = await app.inject({ url: '/', headers: { cookie } })
  t.match(next.body, /<dd id="display-name">Ann Lee<\/dd>/, 'the name, trimmed and with spaces collapsed')
  t.match(next.body, /class="flash info"[^>]*>Your display name is now “Ann Lee”/)
  const again = await app.inject({ url: '/', headers: { cookie } })
  t.notMatch(again.body, 'class="flash', 'the flash is shown once')
})

t.test('POST /name refuses empty, overlong and malformed names', async (t) => {
  const { app } = await buildApp(t)
  const page = await app.inject({ url: '/' })
  const cookie = cookieOf(page.headers['set-cookie'])
  const form = { cookie, 'content-type': 'application/x-www-form-urlencoded' }
  for (const payload of ['name=%20%20', `name=${'x'.repeat(41)}`]) {
    const posted = await app.inject({ method: 'POST', url: '/name', headers: form, payload })
    t.equal(posted.statusCode, 303)
    const next = await app.inject({ url: '/', headers: { cookie } })
    t.match(next.body, /class="flash error"[^>]*>A display name needs 1 to 40 characters/)
    t.match(next.body, '(none yet)')
  }
  t.equal((await app.inject({ method: 'POST', url: '/name', headers: form, payload: 'other=1' })).statusCode, 400, 'no name field: 400')
  t.equal((await app.inject({ method: 'POST', url: '/name', headers: form, payload: `name=${'x'.repeat(5000)}` })).statusCode, 413, 'a huge body: 413')
  const escaped = await app.inject({ method: 'POST', url: '/name', headers: form, payload: 'name=%3Cb%3Ebold%3C%2Fb%3E' })
  t.equal(escaped.statusCode, 303)
  t.match((await app.inject({ url: '/', headers: { cookie } })).body, '&lt;b&gt;bold&lt;/b&gt;', 'names are escaped in the page')
})
