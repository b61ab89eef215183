/**
 * The demo page with tokens on (JWT_SECRET), in Debian's Chromium: each page authenticates with
 * a token from GET /token through the browser client's `getToken`; a direct message sent from one
 * visitor's page (the `dm.send` RPC, which calls `sendToUser`) appears in every tab of the
 * recipient and nowhere else. A screenshot goes to test-artifacts/.
 */
import t from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import type { Browser, Page } from 'playwright-core'
import app from '../../src/app/app.js'
import { LogCapture, testConfig, testServerOptions } from '../helpers/app.js'
import { artifact, launchBrowser } from '../helpers/browser.js'
import { TEST_SECRET } from '../helpers/tokens.js'

async function page (browser: Browser, url: string, errors: string[], context?: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
  const owner = context ?? await browser.newContext({ viewport: { width: 1200, height: 1300 } })
  const tab = await owner.newPage()
  tab.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  tab.on('console', (message) => { if (message.type() === 'error') errors.push(`console error: ${message.text()}`) })
  await tab.goto(url)
  await tab.waitForSelector('#status[data-state="open"]')
  return tab
}

async function named (tab: Page, name: string): Promise<void> {
  await tab.fill('#name-input', name)
  await Promise.all([tab.waitForNavigation(), tab.click('#name-form button')])
  await tab.waitForSelector('#status[data-state="open"]')
}

const dmLines = async (tab: Page): Promise<string[]> => await tab.$$eval('#dm-list li', (items) => items.map((item) => item.textContent ?? ''))

t.test('tokens from /token, and a direct message to one visitor\'s every tab', async (t) => {
  const config = testConfig({ TICK_INTERVAL_MS: '0', JWT_SECRET: TEST_SECRET })
  const server = Fastify(testServerOptions(config, new LogCapture()))
  await server.register(fp(app), { config })
  t.teardown(() => server.close())
  await server.listen({ port: 0, host: '127.0.0.1' })
  const address = server.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const url = `http://127.0.0.1:${address.port}/`

  const browser = await launchBrowser(t)
  const errors: string[] = []
  const ann = await page(browser, url, errors)
  await named(ann, 'Ann')
  const bobContext = await browser.newContext({ viewport: { width: 1200, height: 1300 } })
  const bob = await page(browser, url, errors, bobContext)
  await named(bob, 'Bob')
  const bobTab2 = await page(browser, url, errors, bobContext)
  const cleo = await page(browser, url, errors)

  for (const tab of [ann, bob, bobTab2]) {
    await tab.waitForFunction('document.getElementById("token-state").textContent.startsWith("Token valid until")')
  }
  t.pass('each page authenticated with a token from /token')

  await ann.waitForFunction('[...document.querySelectorAll("#dm-to option")].some((o) => o.textContent === "Bob")')
  await ann.selectOption('#dm-to', { label: 'Bob' })
  await ann.fill('#dm-text', 'a private word')
  await ann.click('#dm-send')
  for (const tab of [bob, bobTab2]) await tab.waitForFunction('document.querySelectorAll("#dm-list li.dm").length === 1')
  t.same(await dmLines(bob), ['from Ann: a private word'], 'Bob\'s first tab')
  t.same(await dmLines(bobTab2), ['from Ann: a private word'], 'and his second')
  await ann.waitForFunction('document.querySelectorAll("#dm-list li.notice").length === 1')
  t.same(await dmLines(ann), ['to Bob: a private word'], 'Ann sees it left')
  t.same(await dmLines(cleo), [], 'nobody else')
  await bob.screenshot({ path: artifact('direct-message.png'), fullPage: true })
  t.same(errors, [], 'no script error')
})
