/**
 * A brand-new app outside this repository, as a user makes one: it installs the packed tarball
 * (built by `prepack` from a clean copy) with fastify, the current TypeScript and the packages the
 * docs tell it to install; compiles every TypeScript example of the README and docs/ as printed,
 * strict and with `skipLibCheck: false`; then runs each: servers get real sockets (ticks,
 * broadcasts, subscriptions, a Redis), the Node client talks to a server example, and the browser
 * example runs in Chromium on a server example's origin.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import type { TestLike } from '../helpers/app.js'
import { launchBrowser } from '../helpers/browser.js'
import { asUser, compileExampleAlone, compileExamples, consumerApp, countPackages, EXAMPLE_CONFIGS, examplePackages, installedVersion, packFromCleanCopy, projectTypeScript, runCommand, writeExamples } from '../helpers/consumer.js'
import { docExamples, type DocExample } from '../helpers/doc-examples.js'
import { freePort, TestRedisServer } from '../helpers/redis-server.js'
import { connect, type RecordingClient } from '../helpers/ws-client.js'

// The file's own time limit, over the suite's 120 s: packs, installs and runs every example: minutes on a loaded machine.
t.setTimeout(600_000)

const examples = docExamples(packageRoot)
const byName = new Map(examples.map((example) => [example.name, example]))
const KINDS = new Set(['server', 'node', 'browser'])

/** A running example, stopped on teardown. */
interface Running { child: ChildProcess, output: () => string, port: number }

async function portOpen (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = tcpConnect({ port, host: '127.0.0.1' })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** Start a compiled server example on a free port and wait until it accepts connections. */
async function startServer (t: TestLike, dir: string, example: DocExample, env: Record<string, string>): Promise<Running> {
  const port = await freePort()
  const child = spawn(...asUser(process.execPath, [join('out', `${example.slug}.js`)]), {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  for (const started = Date.now(); !(await portOpen(port));) {
    if (child.exitCode !== null) throw new Error(`${example.name} exited (${child.exitCode}) before listening:\n${output}`)
    if (Date.now() - started > 20_000) throw new Error(`${example.name} did not listen within 20 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, output: () => output, port }
}

/** `PATH:VALUE` → [PATH, VALUE] */
const pathAnd = (setting: string): [string, string] => {
  const at = setting.indexOf(':')
  return [setting.slice(0, at), setting.slice(at + 1)]
}

/** Drive a running server example as its annotation says. */
async function exercise (t: Test, example: DocExample, server: Running): Promise<void> {
  const base = `127.0.0.1:${server.port}`
  const { login, ws, sub, expect, post, get, refused } = example.settings
  let cookie = ''
  if (login !== undefined) {
    const response = await fetch(`http://${base}${login}`)
    t.equal(response.status, 200, `GET ${login}`)
    cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
    t.not(cookie, '', 'a session cookie')
  }
  let client: RecordingClient | undefined
  if (ws !== undefined) {
    client = await connect(`ws://${base}${ws}`, { headers: cookie === '' ? {} : { cookie } })
    t.teardown(() => { client?.socket.terminate() })
    if (sub !== undefined) client.socket.send(JSON.stringify({ type: 'sub', channel: sub, id: 'sub' }))
    for (const type of (expect ?? 'welcome').split(',')) {
      const [frame] = await client.waitFor(type, 1, 10_000)
      t.ok(frame, `a ${type} frame arrived`)
      if (type === 'ack' && sub !== undefined) t.match(frame, { id: 'sub', channel: sub })
      if (type === 'error' && refused !== undefined) t.match(frame, { id: 'sub', code: refused }, `the sub of ${sub ?? '?'} is refused with ${refused}`)
    }
  }
  if (post !== undefined) {
    const [path, type] = pathAnd(post)
    t.equal((await fetch(`http://${base}${path}`, { method: 'POST' })).status, 200, `POST ${path}`)
    if (client !== undefined) t.ok((await client.waitFor(type, 1, 10_000))[0], `then a ${type} frame`)
  }
  if (get !== undefined) {
    // Polled: what a GET shows may follow the steps above asynchronously (a webhook's delivery).
    const [path, text] = pathAnd(get)
    let status = 0
    let body = ''
    for (const started = Date.now(); Date.now() - started < 10_000; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const response = await fetch(`http://${base}${path}`)
      status = response.status
      body = await response.text()
      if (status === 200 && body.includes(text)) break
    }
    t.equal(status, 200, `GET ${path}`)
    t.match(body, text)
  }
}

t.test('the README and docs examples, compiled and run in a new app outside the repository, from the packed tarball', { timeout: 600_000 }, async (t) => {
  t.ok(examples.length >= 5, `${examples.length} examples found`)
  for (const example of examples) t.ok(KINDS.has(example.settings.run ?? ''), `${example.name} (${example.doc}) says how it runs: ${example.settings.run ?? 'nothing'}`)

  const packed = packFromCleanCopy(t)
  t.ok(packed.files.includes('dist/src/index.js') && packed.files.includes('dist/src/client/index.js'), 'prepack built the package from a clean copy')
  // The TypeScript this project builds with (package.json's range, a version that does not move).
  // The newest release moves without any change here: `npm run test:ts-next` (test/consumer/ts-next.ts)
  // compiles the same examples with it, as a CI step of its own.
  const dir = consumerApp(t, packed.tarball, ['fastify@5', projectTypeScript(), '@types/node@20', ...examplePackages(examples)])
  t.comment(`tarball ${(packed.size / 1024).toFixed(1)} KB (${(packed.unpackedSize / 1024).toFixed(0)} KB unpacked, ${packed.files.length} files); consumer node_modules: ${countPackages(dir)} packages; TypeScript ${installedVersion(dir, 'typescript')}`)

  // As printed: one file per example, strict, skipLibCheck off. Browser examples get the DOM.
  writeExamples(dir, examples)
  for (const config of EXAMPLE_CONFIGS) {
    t.equal(compileExamples(dir, config), '', `every example compiles as printed (${config}, TypeScript ${installedVersion(dir, 'typescript')})`)
  }
  // Each example that imports the Redis entry, compiled on its own: in the program above other
  // examples load @fastify/session's and @fastify/cookie's declarations, which would hide an entry
  // whose declarations need them (the README says they need nothing but fastify).
  const redisExamples = examples.filter((example) => example.code.includes("from 'fastify-realtime/redis'"))
  t.ok(redisExamples.length >= 1, `${redisExamples.length} example(s) import fastify-realtime/redis`)
  for (const example of redisExamples) {
    t.equal(compileExampleAlone(dir, example), '', `${example.name} compiles alone, without the session and cookie declarations (TypeScript ${installedVersion(dir, 'typescript')})`)
  }

  let redis: TestRedisServer | undefined
  const env = async (example: DocExample): Promise<Record<string, string>> => {
    if (example.settings.env !== 'REDIS_URL') return {}
    redis ??= await TestRedisServer.start()
    return { REDIS_URL: redis.url }
  }
  t.teardown(async () => { await redis?.destroy() })

  for (const example of examples.filter((candidate) => candidate.settings.run === 'server')) {
    await t.test(`${example.name} runs: ${JSON.stringify(example.settings)}`, async (t) => {
      await exercise(t, example, await startServer(t, dir, example, await env(example)))
    })
  }

  for (const example of examples.filter((candidate) => candidate.settings.run === 'node')) {
    await t.test(`${example.name} (a Node client) runs against ${example.settings.server ?? '?'}`, async (t) => {
      const target = byName.get(example.settings.server ?? '')
      if (target === undefined) throw new Error(`${example.name} names no server example`)
      const server = await startServer(t, dir, target, await env(target))
      const output = runCommand(process.execPath, [join('out', `${example.slug}.js`)], dir, 20_000, { REALTIME_URL: `ws://127.0.0.1:${server.port}/ws` })
      // What it prints once it did its job: a tick by default (our clients), or the example's own `prints=`.
      const prints = example.settings.prints ?? 'tick'
      t.ok(output.includes(prints), `it printed "${prints}" and exited by itself`)
    })
  }

  for (const example of examples.filter((candidate) => candidate.settings.run === 'browser')) {
    await t.test(`${example.name} (the browser client) runs in Chromium on ${example.settings.server ?? '?'}'s origin`, async (t) => {
      const target = byName.get(example.settings.server ?? '')
      if (target === undefined) throw new Error(`${example.name} names no server example`)
      const server = await startServer(t, dir, target, await env(target))
      const origin = `http://127.0.0.1:${server.port}`
      // The page is served by the test (page.route) under the server's origin; Chromium gives a
      // fulfilled response no address space, so its local-network checks would take it for a
      // public page reaching into 127.0.0.1. A page the server served itself would not be.
      const browser = await launchBrowser(t, ['--disable-features=LocalNetworkAccessChecks'])
      const page = await browser.newPage()
      const consoleLines: string[] = []
      const errors: string[] = []
      page.on('console', (message) => consoleLines.push(message.text()))
      page.on('pageerror', (error) => errors.push(error.message))
      if (example.settings.login !== undefined) t.equal((await page.goto(`${origin}${example.settings.login}`))?.status(), 200, 'logged in on the server\'s origin')
      // The page and the module files come from the consumer app (its compiled example and the
      // installed package's client build), served under the server's origin as an app would.
      const clientDir = join(dir, 'node_modules', 'fastify-realtime', 'dist', 'src', 'client')
      await page.route(`${origin}/__example/**`, async (route) => {
        const path = new URL(route.request().url()).pathname.slice('/__example/'.length)
        if (path === 'index.html') {
          const importMap = JSON.stringify({ imports: { 'fastify-realtime/client': '/__example/client/index.js' } })
          await route.fulfill({ contentType: 'text/html', body: `<!doctype html><script type="importmap">${importMap}</script><script type="module" src="/__example/example.js"></script>` })
        } else if (path === 'example.js') {
          await route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(dir, 'out-browser', `${example.slug}.js`), 'utf8') })
        } else if (path.startsWith('client/') && /^[a-z-]+\.js$/.test(path.slice('client/'.length))) {
          await route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(clientDir, path.slice('client/'.length)), 'utf8') })
        } else {
          await route.fulfill({ status: 404, body: '' })
        }
      })
      await page.goto(`${origin}/__example/index.html`)
      const wanted = example.settings.console ?? ''
      for (const started = Date.now(); !consoleLines.some((line) => line.includes(wanted));) {
        if (Date.now() - started > 15_000) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      t.ok(consoleLines.some((line) => line.includes(wanted)), `the page logged "${wanted}" (${consoleLines.join(' | ')})`)
      t.same(errors, [], 'no script error')
    })
  }
})
