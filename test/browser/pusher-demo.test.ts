/**
 * pusher-js's web build in Chromium against the demo (PUSHER_APP_* set): the page's Pusher panel
 * loads pusher-js's own `dist/web/pusher.min.js` (served by @fastify/static), connects with
 * Pusher's protocol on /app/<key>, and subscribes to the public channel `chat` and the presence
 * channel `presence-demo`, signed by the demo's POST /pusher/auth. Proves: the panel connects;
 * chat typed in a page (our protocol's client) and a publication of the server API reach every
 * page's pusher-js subscriber, and so does one through the Pusher HTTP API (the `pusher` SDK); a client event from a second browser context reaches the first
 * and not itself; presence members appear and leave. The app's secret is in no page, no asset,
 * no answer and no log line. Screenshots go to test-artifacts/.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Browser, Page } from 'playwright-core'
import PusherSdk from 'pusher'
import app from '../../src/app/app.js'
import { LogCapture, testConfig, testServerOptions, type TestLike } from '../helpers/app.js'
import { artifact, launchBrowser } from '../helpers/browser.js'

/** The installed pusher-js's web build, as its package ships it. */
const PUSHER_JS_WEB = readFileSync(join(dirname(createRequire(import.meta.url).resolve('pusher-js/package.json')), 'dist', 'web', 'pusher.min.js'), 'utf8')

const PUSHER_SECRET = 'demo-pusher-secret-that-must-stay-on-the-server'
const ENV = { LOG_LEVEL: 'debug', PUSHER_APP_ID: '1001', PUSHER_APP_KEY: 'demo-key', PUSHER_APP_SECRET: PUSHER_SECRET }

async function startDemo (t: TestLike, logs: LogCapture): Promise<{ server: FastifyInstance, url: string }> {
  const config = testConfig(ENV)
  const server = Fastify(testServerOptions(config, logs))
  // Not encapsulated, so the test reaches fastify.realtime.
  await server.register(fp(app), { config })
  t.teardown(() => server.close())
  await server.listen({ port: 0, host: '127.0.0.1' })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { server, url: `http://127.0.0.1:${address.port}` }
}

/** Script errors, console errors, failed requests and error statuses of a page. */
function watch (page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error') errors.push(`console error: ${message.text()}`) })
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`)
  })
  page.on('response', (response) => { if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`) })
}

/** A visitor in their own browser context, named through the page's form, with the Pusher panel connected. */
async function visitor (browser: Browser, url: string, name: string, errors: string[], bodies: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } })
  const page = await context.newPage()
  watch(page, errors)
  page.on('response', (response) => { response.text().then((text) => bodies.push(text), () => {}) })
  await page.goto(url)
  await page.fill('#name-input', name)
  await Promise.all([page.waitForNavigation(), page.click('#name-form button')])
  await page.waitForSelector('#status[data-state="open"]')
  await page.waitForSelector('#pusher-state[data-state="connected"]')
  return page
}

async function until (page: Page, expression: string, timeout = 10_000): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout })
}

/** The panel's received events, as `channel event data` lines. */
async function pusherEvents (page: Page): Promise<string[]> {
  return await page.$$eval('#pusher-events li', (items) => items.map((item) => item.textContent ?? ''))
}

async function members (page: Page): Promise<string[]> {
  return await page.$$eval('#pusher-members li[data-visitor]', (items) => items.map((item) => item.textContent ?? '').sort())
}

const eventsInclude = (text: string): string => `document.getElementById('pusher-events').textContent.includes(${JSON.stringify(text)})`
const MEMBER_COUNT = "document.querySelectorAll('#pusher-members li[data-visitor]').length"

t.test('pusher-js\'s web build in Chromium against the demo: connects, publications both ways, client events to the others, presence', async (t) => {
  const browser = await launchBrowser(t)
  const logs = new LogCapture()
  const { server, url } = await startDemo(t, logs)
  const errors: string[] = []
  const bodies: string[] = []

  const ann = await visitor(browser, url, 'Ann', errors, bodies)
  t.match(await ann.textContent('#pusher-socket-id') ?? '', /^\d+\.\d+$/, 'the panel is connected, with a Pusher socket id')
  t.equal(await ann.evaluate('typeof window.Pusher'), 'function', 'the page runs pusher-js\'s web build (window.Pusher)')
  const bob = await visitor(browser, url, 'Bob', errors, bodies)

  // Presence: both pages list both members, with the names their sessions signed.
  await until(ann, `${MEMBER_COUNT} === 2`)
  t.same(await members(ann), ['Ann (you)', 'Bob'], 'Ann\'s panel lists both members of presence-demo')
  await until(bob, `${MEMBER_COUNT} === 2`)
  t.same(await members(bob), ['Ann', 'Bob (you)'], 'Bob\'s panel too')
  t.same((await server.realtime.presence('presence-demo')).map((member) => member.info).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [{ name: 'Ann' }, { name: 'Bob' }], 'the server lists them with their user_info')

  // Our protocol → pusher-js: chat typed in Ann's page (the page's own client) reaches both panels.
  await ann.fill('#chat-text', 'hello pusher-js')
  await ann.press('#chat-text', 'Enter')
  for (const page of [ann, bob]) await until(page, eventsInclude('hello pusher-js'))
  t.match((await pusherEvents(bob)).find((line) => line.includes('hello pusher-js')), /^chat · message · \{"text":"hello pusher-js","from":\{"id":"[^"]+","name":"Ann"\}\}$/, 'our protocol\'s publication reached pusher-js on chat, as the event "message"')
  // The server API → pusher-js, with an event name.
  await server.realtime.publish('chat', { text: 'from the server', from: { id: 'server', name: 'Server' } }, { event: 'notice' })
  for (const page of [ann, bob]) await until(page, eventsInclude('from the server'))
  t.ok((await pusherEvents(ann)).includes('chat · notice · {"text":"from the server","from":{"id":"server","name":"Server"}}'), 'the server API\'s publication reached pusher-js, named')

  // The Pusher HTTP API on the demo's port, through the real `pusher` SDK, → pusher-js.
  const sdk = new PusherSdk({ appId: '1001', key: 'demo-key', secret: PUSHER_SECRET, host: '127.0.0.1', port: new URL(url).port, useTLS: false })
  t.equal((await sdk.trigger('presence-demo', 'sdk-event', { via: 'the HTTP API' })).status, 200)
  for (const page of [ann, bob]) await until(page, eventsInclude('presence-demo · sdk-event · {"via":"the HTTP API"}'))
  t.pass('a publication through the Pusher HTTP API (the pusher SDK) reached both panels')
  // The same on chat, where the page's own chat shows it too: data that is no chat message (a
  // string) must not break the chat (no page error, checked at the end), shown as text.
  t.equal((await sdk.trigger('chat', 'sdk-event', 'plain text from a service')).status, 200)
  for (const page of [ann, bob]) await until(page, eventsInclude('plain text from a service'))
  await until(ann, "[...document.querySelectorAll('#chat-list li')].some((item) => item.textContent.includes('plain text from a service'))")
  t.pass('the page\'s own chat shows a publication that is no chat message, as text')

  // pusher-js → pusher-js: Bob's client event reaches Ann's page, not Bob's own.
  await bob.click('#pusher-wave')
  await until(ann, eventsInclude('client-wave · {"from":"Bob"'))
  // A marker published after it: once Bob has the marker, he would have had his own event before it.
  await server.realtime.publish('presence-demo', 'after the wave', { event: 'marker' })
  await until(bob, eventsInclude('after the wave'))
  t.same((await pusherEvents(bob)).filter((line) => line.startsWith('presence-demo · client-wave ·')), [], 'Bob\'s own client event did not come back to him')
  t.equal((await pusherEvents(ann)).filter((line) => line.startsWith('presence-demo · client-wave ·')).length, 1, 'Ann got it once')
  await ann.screenshot({ path: artifact('pusher-demo-1-ann.png'), fullPage: true })
  await bob.screenshot({ path: artifact('pusher-demo-2-bob.png'), fullPage: true })

  // Bob leaves: Ann's panel drops him.
  await bob.context().close()
  await until(ann, `${MEMBER_COUNT} === 1`)
  t.same(await members(ann), ['Ann (you)'], 'member_removed reached Ann\'s panel')

  // The secret stays on the server: in no page, asset or answer the browser got, and in no log line.
  t.ok(bodies.includes(PUSHER_JS_WEB), 'the page loaded pusher-js\'s own web build')
  t.ok(bodies.length > 5, `the browser's responses were read (${bodies.length})`)
  t.same(bodies.filter((body) => body.includes(PUSHER_SECRET)), [], 'no response the browser got carries the app secret')
  const page = await (await fetch(`${url}/`)).text()
  t.match(page, /data-pusher-key="demo-key"/, 'the page carries the public key')
  t.notMatch(page, PUSHER_SECRET, 'and not the secret')
  t.ok(logs.lines.length > 10, 'logs were written (at debug)')
  t.same(logs.lines.filter((line) => JSON.stringify(line).includes(PUSHER_SECRET)), [], 'no log line carries the app secret')
  t.same(errors, [], 'no script or console errors and no failed request')
})

t.test('the demo\'s Pusher assets and auth route: only pusher.min.js is served, a visitor is needed, only private and presence channels are signed', async (t) => {
  const { url } = await startDemo(t, new LogCapture())
  const script = await fetch(`${url}/vendor/pusher-js/pusher.min.js`)
  t.equal(script.status, 200)
  t.match(script.headers.get('content-type') ?? '', /javascript/)
  t.equal(await script.text(), PUSHER_JS_WEB, 'pusher-js\'s own web build is served, unmodified')
  t.equal((await fetch(`${url}/vendor/pusher-js/pusher.js`)).status, 404, 'and nothing else of the package')
  const form = (body: Record<string, string>, cookie?: string): RequestInit => ({ method: 'POST', body: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie === undefined ? {} : { cookie }) } })
  t.equal((await fetch(`${url}/pusher/auth`, form({ socket_id: '1.2', channel_name: 'private-x' }))).status, 403, 'no visitor cookie: refused')
  const home = await fetch(`${url}/`)
  const cookie = home.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ')
  const signed = await fetch(`${url}/pusher/auth`, form({ socket_id: '1.2', channel_name: 'private-x' }, cookie))
  t.equal(signed.status, 200)
  t.match(await signed.json(), { auth: /^demo-key:[0-9a-f]{64}$/ }, 'a private channel is signed with the app key')
  t.equal((await fetch(`${url}/pusher/auth`, form({ socket_id: '1.2', channel_name: 'chat' }, cookie))).status, 400, 'a public channel needs no signature: refused')
  t.equal((await fetch(`${url}/pusher/auth`, form({ socket_id: 'nope', channel_name: 'private-x' }, cookie))).status, 400, 'a malformed socket id: refused')
})
