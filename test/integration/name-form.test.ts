import t from 'tap'
import { buildApp } from '../helpers/app.js'

/** A browser's cookie jar, as far as these tests need one: the latest value of each cookie set. */
class Jar {
  readonly #cookies = new Map<string, string>()

  /** Keep the cookies of a response; returns the jar's Cookie header. */
  take (setCookie: string | string[] | undefined): string {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie]) {
      const pair = line.split(';')[0] ?? ''
      const at = pair.indexOf('=')
      if (at > 0) this.#cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
    return this.header
  }

  get header (): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

t.test('POST /name stores the display name in the session and confirms it with a flash message, once', async (t) => {
  const { app } = await buildApp(t)
  const jar = new Jar()
  const page = await app.inject({ url: '/' })
  let cookie = jar.take(page.headers['set-cookie'])
  t.match(page.body, '(none yet)')
  const posted = await app.inject({ method: 'POST', url: '/name', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=%20Ann%20%20Lee%20' })
  t.equal(posted.statusCode, 303)
  t.equal(posted.headers.location, '/')
  cookie = jar.take(posted.headers['set-cookie'])
  t.match(cookie, /rt\.sid=/, 'the name is kept in a session, made now')
  const next = await app.inject({ url: '/', headers: { cookie } })
  t.match(next.body, /<dd id="display-name">Ann Lee<\/dd>/, 'the name, trimmed and with spaces collapsed')
  t.match(next.body, /class="flash info"[^>]*>Your display name is now “Ann Lee”/)
  const again = await app.inject({ url: '/', headers: { cookie } })
  t.notMatch(again.body, 'class="flash', 'the flash is shown once')
})

t.test('POST /name refuses empty, overlong and malformed names', async (t) => {
  const { app } = await buildApp(t)
  const jar = new Jar()
  const page = await app.inject({ url: '/' })
  jar.take(page.headers['set-cookie'])
  const form = (): Record<string, string> => ({ cookie: jar.header, 'content-type': 'application/x-www-form-urlencoded' })
  for (const payload of ['name=%20%20', `name=${'x'.repeat(41)}`]) {
    const posted = await app.inject({ method: 'POST', url: '/name', headers: form(), payload })
    t.equal(posted.statusCode, 303)
    const next = await app.inject({ url: '/', headers: { cookie: jar.take(posted.headers['set-cookie']) } })
    t.match(next.body, /class="flash error"[^>]*>A display name needs 1 to 40 characters/)
    t.match(next.body, '(none yet)')
  }
  t.equal((await app.inject({ method: 'POST', url: '/name', headers: form(), payload: 'other=1' })).statusCode, 400, 'no name field: 400')
  t.equal((await app.inject({ method: 'POST', url: '/name', headers: form(), payload: `name=${'x'.repeat(5000)}` })).statusCode, 413, 'a huge body: 413')
  const escaped = await app.inject({ method: 'POST', url: '/name', headers: form(), payload: 'name=%3Cb%3Ebold%3C%2Fb%3E' })
  t.equal(escaped.statusCode, 303)
  t.match((await app.inject({ url: '/', headers: { cookie: jar.take(escaped.headers['set-cookie']) } })).body, '&lt;b&gt;bold&lt;/b&gt;', 'names are escaped in the page')
})
