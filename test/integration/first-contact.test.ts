/**
 * What a new user meets first, as they meet it: `cp .env.example .env` and start the server; an
 * operator starts a built node with the documented command.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { documents } from '../helpers/doc-examples.js'
import { built, startNode } from '../helpers/process.js'
import { connect } from '../helpers/ws-client.js'

t.test('.env.example copied to .env as it is: the server starts and serves (empty means unset)', async (t) => {
  const dir = t.testdir()
  copyFileSync(join(packageRoot, '.env.example'), join(dir, '.env'))
  // PORT comes from the environment only because the example's 8005 may be taken here; every
  // other value is the example's own (variables already set win over .env, as documented).
  const running = startNode([built('src/app/server.js')], { PORT: '0' }, dir)
  t.teardown(() => { if (running.child.exitCode === null) running.child.kill('SIGKILL') })
  const port = await running.listening()
  t.equal((await fetch(`http://localhost:${port}/`)).status, 200, 'the page is served')
  const client = await connect(`ws://localhost:${port}/ws`)
  t.match((await client.waitFor('welcome'))[0], { type: 'welcome', tickIntervalMs: 3000 }, 'a socket is welcomed with the example\'s tick interval')
  client.socket.close()
  t.match(running.output(), /SESSION_SECRET is not set: using a random one, and sessions are kept in this process's memory \(REDIS_URL is not set\)/, 'the empty SESSION_SECRET is read as unset (development), and the warning does not promise what a secret alone cannot keep')
  running.child.kill('SIGTERM')
  t.equal((await running.exited).code, 0)
})

/** Every `dist/….js` path a command in the README or docs/ names. */
function documentedDistPaths (): Array<{ doc: string, path: string }> {
  return documents(packageRoot).flatMap((doc) => [...readFileSync(join(packageRoot, doc), 'utf8').matchAll(/\bdist\/[\w./-]+\.js\b/g)].map((match) => ({ doc, path: match[0] })))
}

t.test('a production node starts with the documented command, which does not build: `npm run build` once, then `npm run serve`', async (t) => {
  const scripts = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  t.equal(scripts.serve, 'node dist/src/app/server.js', 'serve runs the compiled server and nothing else (no build, no rm of dist/)')
  t.equal(scripts.preserve, undefined, 'and no pre-script builds before it')
  const operations = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8')
  t.match(operations, /npm run serve/, 'docs/operations.md names it')
  const paths = documentedDistPaths()
  t.ok(paths.some(({ path }) => path === 'dist/src/app/server.js'), 'the docs name the compiled server')
  for (const { doc, path } of paths) t.ok(existsSync(join(packageRoot, path)), `${doc}: ${path} exists after the build`)

  const server = built('src/app/server.js')
  const before = statSync(server).mtimeMs
  const child = spawn('npm', ['run', '--silent', 'serve'], {
    cwd: packageRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a terminal's foreground job: Ctrl-C / SIGTERM reach npm and node.
    detached: true
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  // 'close': npm has exited and the node, which shares its output pipes, has too.
  const closed = new Promise<void>((resolve) => { child.once('close', () => resolve()) })
  const group = child.pid ?? 0
  t.teardown(() => { try { process.kill(-group, 'SIGKILL') } catch {} })
  let port = 0
  for (const started = Date.now(); port === 0; await new Promise((resolve) => setTimeout(resolve, 50))) {
    port = Number(/Server listening at http:\/\/[^\s"]*:(\d+)/.exec(output)?.[1] ?? 0)
    if (child.exitCode !== null || Date.now() - started > 20_000) throw new Error(`npm run serve did not listen:\n${output}`)
  }
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200, 'it serves the page')
  t.equal(statSync(server).mtimeMs, before, 'dist/ was not rebuilt')
  process.kill(-group, 'SIGTERM')
  await closed
  t.match(output, /"msg":"shutting down"/, 'SIGTERM reaches the node: it drains and exits')
  t.notMatch(output, /"level":[56]0/, 'with no error')
})
