/**
 * Chromium (a real EventSource) through nginx configured to refuse every WebSocket upgrade, in
 * front of two nodes on one Redis: the demo page falls back to the event stream by itself, chats
 * and sees presence; a page with nothing but `new EventSource(...)` follows the chat too. Then the
 * streams are cut (each node is restarted in turn) while a visitor keeps chatting: every page,
 * the library's and the plain EventSource alike, ends with every message exactly once, in order.
 */
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import { artifact, launchBrowser } from '../helpers/browser.js'
import { nodeReady, startNginx } from '../helpers/nginx.js'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { freePort, TestRedisServer } from '../helpers/redis-server.js'
import { rawUpgrade } from '../helpers/realtime-app.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

// The file's own time limit, over the suite's 120 s: a browser through two documented rolling restarts.
t.setTimeout(300_000)

const SECRET = 'browser-fallback-secret-0123456789abcdef'

interface DemoNode {
  port: number
  proc: RunningProcess
}

async function until (page: Page, expression: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout })
}

async function visitor (browser: Browser, url: string, name: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext()
  const page = await context.newPage()
  // Every event stream the page opens, and how it ends (printed when the test fails).
  await page.addInitScript(`(() => {
    const Original = window.EventSource
    window.streams = []
    window.EventSource = class extends Original {
      constructor (url) {
        super(url)
        const entry = { url: String(url).slice(-40), at: Date.now(), events: [] }
        window.streams.push(entry)
        this.addEventListener('open', () => entry.events.push('open +' + (Date.now() - entry.at)))
        this.addEventListener('error', () => entry.events.push('error +' + (Date.now() - entry.at) + ' state ' + this.readyState))
        this.addEventListener('close', (e) => entry.events.push('close ' + e.data))
      }
    }
  })()`)
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('response', (response) => { if (response.status() >= 400) notes.push(`${name}: HTTP ${response.status()} ${response.request().method()} ${response.url()}`) })
  page.on('requestfailed', (request) => { notes.push(`${name}: failed ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`) })
  await page.goto(url)
  await page.fill('#name-input', name)
  await Promise.all([page.waitForNavigation(), page.click('#name-form button')])
  await page.waitForSelector('#status[data-state="open"]')
  // The tutorial's reply to every tick is a POST per second on the event stream: not what this test is about.
  await page.uncheck('#auto-reply')
  return page
}

/** What the pages saw go wrong on the network (printed when the test fails). */
const notes: string[] = []

const chatTexts = async (page: Page): Promise<string[]> => await page.$$eval('#chat-list li:not(.notice)', (items) => items.map((item) => item.lastChild?.textContent ?? ''))
/**
 * A page expression: some chat line's text is exactly `text`. (The list's whole textContent will
 * not do: "during the cut 3" followed by a line whose time reads "6:33:07 PM" contains "during
 * the cut 36".)
 */
const chatHasLine = (text: string): string => `[...document.querySelectorAll('#chat-list li:not(.notice)')].some((item) => item.lastChild?.textContent === ${JSON.stringify(text)})`

t.test('WebSockets refused by nginx: the page falls back to SSE, chats, and resumes every channel after the streams are cut', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const env = (port: number): Record<string, string> => ({
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    SESSION_SECRET: SECRET,
    TICK_INTERVAL_MS: '1000',
    CLOSE_GRACE_MS: '2000',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'fallback:',
    TRUST_PROXY: '127.0.0.1'
  })
  const nodes: DemoNode[] = []
  const start = async (port: number): Promise<DemoNode> => {
    const proc = startNode([built('src/app/server.js')], env(port))
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    await proc.listening()
    return { port, proc }
  }
  for (const port of [await freePort(), await freePort()]) nodes.push(await start(port))
  const nginx = await startNginx(t, { upstream: nodes.map((node) => node.port), refuseUpgrades: true, dir: t.testdir() })
  const url = `http://${nginx.base}/`
  const refused = await rawUpgrade(nginx.port, '/ws')
  refused.socket.destroy()
  t.equal(refused.status, 403, 'this nginx refuses WebSocket upgrades')

  const browser = await launchBrowser(t)
  const errors: string[] = []
  const ann = await visitor(browser, url, 'Ann', errors)
  const bob = await visitor(browser, url, 'Bob', errors)
  for (const page of [ann, bob]) {
    t.equal(await page.getAttribute('#status', 'data-transport'), 'sse', 'the page fell back to the event stream')
    t.equal(await page.textContent('#status'), 'connected (event stream)')
  }
  await until(ann, "document.querySelectorAll('#presence li[data-visitor]').length === 2")
  await until(bob, "document.querySelectorAll('#presence li[data-visitor]').length === 2")
  t.pass('both see both in presence')
  await until(ann, 'Number(document.getElementById(\'tick-count\').textContent) >= 1')
  t.pass('ticks arrive on the stream')

  await ann.fill('#chat-text', 'hello over SSE')
  await ann.click('#chat-send')
  await until(bob, chatHasLine('hello over SSE'))
  t.pass('a chat message posted on one page\'s stream reaches the other')

  // A page with nothing but the browser's own EventSource, on the same chat.
  await bob.evaluate(`(() => {
    window.plain = []
    window.plainCuts = 0
    const source = new EventSource('/sse?channels=chat,announcements')
    source.onmessage = (event) => { const frame = JSON.parse(event.data); if (frame.type === 'pub') window.plain.push(frame.data.text) }
    source.onerror = () => { window.plainCuts++ }
  })()`)
  await until(bob, 'window.plain !== undefined')
  await ann.screenshot({ path: artifact('sse-fallback-1-connected.png'), fullPage: true })

  // A visitor on a WebSocket straight to a node (not through nginx) chats during the cuts.
  const page = await fetch(`http://127.0.0.1:${nodes[0]?.port ?? 0}/`)
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const sent: string[] = []
  let chatter: RecordingClient | null = null
  const chatLoop = (async () => {
    for (let i = 1; i <= 36; i++) {
      const text = `during the cut ${i}`
      for (;;) {
        try {
          if (chatter === null || chatter.socket.readyState !== 1) {
            // Whichever node is up.
            const target = nodes[i % 2 === 0 ? 0 : 1]?.proc.child.exitCode === null ? nodes[i % 2 === 0 ? 0 : 1] : nodes[i % 2 === 0 ? 1 : 0]
            chatter = await connect(`ws://127.0.0.1:${target?.port ?? 0}/ws`, { headers: { cookie } })
            await chatter.waitFor('welcome')
          }
          const before = chatter.ofType('ack').length
          chatter.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', data: { text }, id: i }))
          await chatter.waitFor('ack', before + 1, 3000)
          sent.push(text)
          break
        } catch {
          chatter?.socket.terminate()
          chatter = null
          await sleep(100)
        }
      }
      await sleep(120)
    }
  })()

  // Cut every stream: restart one node, then the other (each drains: its streams end with a retry hint).
  for (const index of [0, 1]) {
    await sleep(800)
    const node = nodes[index]
    if (node === undefined) continue
    node.proc.child.kill('SIGTERM')
    await node.proc.exited
    nodes[index] = await start(node.port)
    // The documented rolling restart (docs/operations.md): the next node only once this one is ready.
    await nodeReady(node.port)
  }
  await chatLoop
  ;(chatter as RecordingClient | null)?.socket.terminate()
  const last = sent.at(-1) ?? ''
  t.ok(sent.length >= 30, `${sent.length} messages were sent during the cuts`)
  // Generous: on a loaded machine a page may have backed off for its client's longest delay (15 s).
  try {
    for (const page of [ann, bob]) await until(page, chatHasLine(last), 60_000)
    await until(bob, `window.plain.includes(${JSON.stringify(last)})`, 60_000)
  } catch (err) {
    for (const [name, page] of [['Ann', ann], ['Bob', bob]] as const) {
      const texts = await chatTexts(page)
      t.comment(`${name}: ${await page.textContent('#status') ?? ''}; ${texts.length} chat lines, last ${JSON.stringify(texts.slice(-2))}; subscribed ${await page.getAttribute('#chat-list', 'data-subscribed') ?? '?'} times; notices ${JSON.stringify(await page.$$eval('#chat-list li.notice', (items) => items.map((item) => item.textContent ?? '')))}`)
    }
    t.comment(`plain: ${String(await bob.evaluate('window.plain.length'))} messages, ${String(await bob.evaluate('window.plainCuts'))} cuts`)
    for (const [name, page] of [['Ann', ann], ['Bob', bob]] as const) t.comment(`${name} streams: ${JSON.stringify(await page.evaluate('window.streams'))}`)
    t.comment(notes.slice(-20).join('\n'))
    throw err
  }
  // What the server published, in stream order (a retried publish whose ack was slow is there
  // twice, as two publications): each page must show exactly that, each publication once.
  const reader = await connect(`ws://127.0.0.1:${nodes[0]?.port ?? 0}/ws`)
  reader.socket.send(JSON.stringify({ type: 'sub', channel: 'chat', rewind: 50, id: 'history' }))
  await reader.waitFor('ack')
  await sleep(300)
  const published = reader.ofType('pub').map((frame) => (frame.data as { text: string }).text)
  reader.socket.terminate()
  const fromHello = published.slice(published.indexOf('hello over SSE'))
  t.ok(fromHello.length >= sent.length + 1, `the server published ${fromHello.length} messages from the first one on`)
  for (const [name, page] of [['Ann', ann], ['Bob', bob]] as const) {
    t.same(await chatTexts(page), fromHello, `${name}'s page: every publication exactly once, in order`)
    // The transport of an open connection (while reconnecting, the status names the next attempt's).
    await until(page, "document.querySelector('#status')?.dataset.state === 'open'", 30_000)
    const transport = await page.getAttribute('#status', 'data-transport')
    t.equal(transport, 'sse', `${name} is connected on the event stream`)
    if (transport !== 'sse') t.comment(`${name}: ${await page.textContent('#status') ?? ''}; streams ${JSON.stringify(await page.evaluate('window.streams'))}`)
  }
  for (const [name, page] of [['Ann', ann], ['Bob', bob]] as const) {
    const notices = await page.$$eval('#chat-list li.notice', (items) => items.map((item) => item.textContent ?? ''))
    t.ok(notices.filter((notice) => notice.includes('caught up on everything missed')).length >= 1, `${name}'s stream was cut and resumed exactly (${notices.length} notice(s))`)
  }
  const plain = (await bob.evaluate('window.plain')) as string[]
  t.ok(Number(await bob.evaluate('window.plainCuts')) >= 1, 'the plain EventSource was cut and reconnected by itself')
  t.same(plain, fromHello.slice(1), 'the plain EventSource, resumed by its own Last-Event-ID (two channels): every publication exactly once, in order')
  await ann.screenshot({ path: artifact('sse-fallback-2-after-restarts.png'), fullPage: true })
  t.same(errors, [], 'no script errors')
})
