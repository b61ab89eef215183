/**
 * What a new user meets first, as they meet it: `cp .env.example .env` and start the server.
 */
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
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
  t.match(running.output(), /SESSION_SECRET is not set: using a random one/, 'the empty SESSION_SECRET is read as unset (development)')
  running.child.kill('SIGTERM')
  t.equal((await running.exited).code, 0)
})
