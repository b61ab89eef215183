/**
 * The demo page in a real browser (Debian's Chromium through playwright-core): it connects and
 * draws ticks; chat typed in one page appears in another; presence shows both names set through
 * the form; after a server restart on the same port the page reconnects by itself and shows what
 * it missed. Screenshots go to test-artifacts/.
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Browser, Page } from 'playwright-core'
import app from '../../src/app/app.js'
import { LogCapture, testConfig, testServerOptions, type TestLike } from '../helpers/app.js'
import { artifact, launchBrowser } from '../helpers/browser.js'

const ENV = { TICK_INTERVAL_MS: '200' }

async function startDemo (t: TestLike, port = 0): Promise<{ server: FastifyInstance, url: string, port: number }> {
  const config = testConfig(ENV)
  const server = Fastify(testServerOptions(config, new LogCapture()))
  // Not encapsulated, so the test reaches fastify.realtime (fastify-cli loads the same plugin).
  await server.register(fp(app), { config })
  t.teardown(() => server.close())
  await server.listen({ port, host: '127.0.0.1' })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { server, url: `http://127.0.0.1:${address.port}`, port: address.port }
}

/**
 * Collect what a user would see as a broken page: script errors, console errors, and requests
 * that failed or were answered with an error status (a missing favicon is one).
 */
function watch (page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('console', (message) => { if (message.type() === 'error') errors.push(`console error: ${message.text()}`) })
  page.on('requestfailed', (request) => {
    // A page navigating away aborts its socket and pending fetches; that is not an error.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`)
  })
  page.on('response', (response) => { if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`) })
}

/** A visitor: their own browser context (own cookies), one page, errors collected. */
async function visitor (browser: Browser, url: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1100 } })
  const page = await context.newPage()
  watch(page, errors)
  await page.goto(url)
  await page.waitForSelector('#status[data-state="open"]')
  return page
}

async function setName (page: Page, name: string): Promise<string> {
  await page.fill('#name-input', name)
  await Promise.all([page.waitForNavigation(), page.click('#name-form button')])
  await page.waitForSelector('#status[data-state="open"]')
  return await page.textContent('.flash.info') ?? ''
}

async function chatLines (page: Page): Promise<string[]> {
  return await page.$$eval('#chat-list li:not(.notice)', (items) => items.map((item) => item.textContent ?? ''))
}

async function presenceNames (page: Page): Promise<string[]> {
  return await page.$$eval('#presence li[data-visitor]', (items) => items.map((item) => item.textContent ?? '').sort())
}

/** Canvas pixels drawn in the latency colour (#58a6ff): proof the chart drew a line, not just a frame. */
async function latencyPixels (page: Page): Promise<number> {
  // Runs in the page (as text: the test program has no DOM types).
  return Number(await page.evaluate(`(() => {
    const canvas = document.getElementById('chart')
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
    let count = 0
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - 0x58) < 24 && Math.abs(data[i + 1] - 0xa6) < 24 && Math.abs(data[i + 2] - 0xff) < 24) count++
    }
    return count
  })()`))
}

/** Wait until a page expression is true. */
async function until (page: Page, expression: string, timeout = 10_000): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout })
}

const chatIncludes = (text: string): string => `document.getElementById('chat-list').textContent.includes(${JSON.stringify(text)})`
const PRESENCE_COUNT = "document.querySelectorAll('#presence li[data-visitor]').length"

t.test('the demo page in Chromium: ticks and chart, names and flash, chat across pages, presence, restart', async (t) => {
  const browser = await launchBrowser(t)
  const first = await startDemo(t)
  const errors: string[] = []

  const ann = await visitor(browser, first.url, errors)
  await until(ann, "Number(document.getElementById('chart').dataset.points) >= 5")
  t.ok(Number(await ann.textContent('#tick-count')) >= 5, 'ticks counted')
  t.match(await ann.textContent('#tick-latency') ?? '', /^\d+ ms$/, 'tick latency shown')
  t.ok(await latencyPixels(ann) > 100, 'the chart drew the latency line on the canvas')
  t.match(await ann.textContent('#log') ?? '', /→ got tick \d+/, 'the page replies to ticks, like the tutorial client')
  await ann.screenshot({ path: artifact('demo-1-connected.png'), fullPage: true })

  t.match(await setName(ann, 'Ann'), /Your display name is now “Ann”/, 'a flash message confirms the name')
  t.equal(await ann.textContent('#display-name'), 'Ann')
  await ann.reload()
  t.equal(await ann.$('.flash.info'), null, 'the flash is shown once')
  await ann.waitForSelector('#status[data-state="open"]')

  const bob = await visitor(browser, first.url, errors)
  await setName(bob, 'Bob')
  await until(ann, `${PRESENCE_COUNT} === 2`)
  t.same(await presenceNames(ann), ['Ann (you)', 'Bob'], 'Ann sees both names')
  await until(bob, `${PRESENCE_COUNT} === 2`)
  t.same(await presenceNames(bob), ['Ann', 'Bob (you)'], 'Bob sees both names')

  const annSecondTab = await ann.context().newPage()
  watch(annSecondTab, errors)
  await annSecondTab.goto(first.url)
  await annSecondTab.waitForSelector('#status[data-state="open"]')
  await until(annSecondTab, `${PRESENCE_COUNT} === 2`)
  t.equal((await presenceNames(bob)).length, 2, 'a second tab of Ann does not add a member')
  await annSecondTab.close()

  await ann.fill('#chat-text', 'hello from Ann')
  await ann.press('#chat-text', 'Enter')
  await until(bob, chatIncludes('hello from Ann'))
  t.match((await chatLines(bob)).at(-1), /Annhello from Ann$/, 'Bob sees Ann\'s message, signed with her name')
  await bob.fill('#chat-text', 'hi Ann')
  await bob.press('#chat-text', 'Enter')
  await until(ann, chatIncludes('hi Ann'))
  await ann.screenshot({ path: artifact('demo-2-ann-chat-presence.png'), fullPage: true })
  await bob.screenshot({ path: artifact('demo-3-bob-chat-presence.png'), fullPage: true })

  const late = await visitor(browser, first.url, errors)
  await until(late, chatIncludes('hi Ann'))
  t.same((await chatLines(late)).map((line) => line.replace(/^.*?(Ann|Bob)/, '$1')), ['Annhello from Ann', 'Bobhi Ann'], 'a new page gets the chat history')
  await late.context().close()

  // Restart: the server goes away (1001 + retry hint), a new one starts on the same port, and
  // something is published before the pages are back.
  await first.server.close()
  // While no server listens on the port, a page whose retry hint ran out first (the hint is
  // 0.5-5 s, the restart may take longer on a loaded machine) meets a refused connection, which
  // Chromium logs: expected, and counted apart below. Everything else still counts.
  const downFrom = errors.length
  await ann.waitForSelector('#status[data-state="reconnecting"]')
  await ann.screenshot({ path: artifact('demo-4-reconnecting.png'), fullPage: true })
  const second = await startDemo(t, first.port)
  const whileDown = errors.splice(downFrom)
  const refusedWhileDown = whileDown.filter((error) => /ERR_CONNECTION_REFUSED/.test(error))
  errors.push(...whileDown.filter((error) => !refusedWhileDown.includes(error)))
  // The pages wait out their hint, then back off: a handful of attempts, not a storm.
  t.ok(refusedWhileDown.length <= 12, `the pages tried a few times while the server was down (${refusedWhileDown.length} refused)`)
  await second.server.realtime.publish('chat', { text: 'published while you were away', from: { id: 'server', name: 'Server' } })
  for (const page of [ann, bob]) {
    await until(page, chatIncludes('published while you were away'), 15_000)
    // Connected: 'ended' once the page has seen its session is gone (below).
    await page.waitForSelector('#status[data-state="open"], #status[data-state="ended"]')
  }
  t.match(await ann.textContent('#chat-list') ?? '', /reconnected: the server lost its history/, 'the page says the history was reset (new epoch)')
  const afterRestart = await chatLines(ann)
  t.match(afterRestart.at(-1), /Serverpublished while you were away$/, 'and shows what it missed')
  t.equal(afterRestart.filter((line) => line.includes('hello from Ann')).length, 1, 'nothing shown twice')
  const ticksBefore = Number(await ann.textContent('#tick-count'))
  await until(ann, `Number(document.getElementById('tick-count').textContent) > ${ticksBefore + 2}`)

  // The new server keeps sessions in memory too: the pages' sessions (their names) are gone, and
  // they say so instead of showing an empty presence list and refusing chat without a word. The
  // visitor ids are in their own signed cookies, so both are still known.
  await ann.waitForSelector('#session-ended:not([hidden])')
  t.match(await ann.textContent('#session-ended') ?? '', /Your session has ended/, 'the page says its session ended')
  t.ok(await ann.isDisabled('#chat-text'), 'and keeps the chat closed')
  await ann.waitForSelector('#status[data-state="ended"]')
  t.match(await ann.textContent('#status') ?? '', /session ended/, 'the pill is not the green "connected" of a page that works')
  t.notMatch(await ann.textContent('#display-name') ?? '', /Ann/, 'the old name is not shown as the current one')
  await until(ann, `${PRESENCE_COUNT} === 2`)
  t.notMatch(await ann.textContent('#presence') ?? '', /nobody yet/, 'both connected visitors are listed, not "nobody yet"')
  await ann.screenshot({ path: artifact('demo-5-session-ended.png'), fullPage: true })
  await Promise.all([ann.waitForNavigation(), ann.click('#session-reload')])
  await ann.waitForSelector('#status[data-state="open"]')
  t.ok(await ann.isHidden('#session-ended'), 'after a reload the page has a session again')
  await ann.fill('#chat-text', 'back after the restart')
  await ann.press('#chat-text', 'Enter')
  await until(bob, chatIncludes('back after the restart'))
  await ann.screenshot({ path: artifact('demo-6-after-restart.png'), fullPage: true })
  t.same(errors, [], 'no script or console errors and no failed request on any page (favicon included)')
})
