import t from 'tap'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { connect, sleep } from '../helpers/ws-client.js'

const SECRET = 's'.repeat(40)
const fastifyCli = (): string => 'node_modules/fastify-cli/cli.js'
const entries: Array<{ name: string, args: () => string[] }> = [
  { name: 'node dist/src/app/server.js', args: () => [built('src/app/server.js')] },
  { name: 'fastify start (npm start)', args: () => [fastifyCli(), 'start', '--config', 'fastify-cli.config.cjs', '-o', built('src/app/app.js')] }
]

function stopOnTeardown (t: { teardown: (fn: () => unknown) => void }, running: RunningProcess): void {
  t.teardown(() => { if (running.child.exitCode === null) running.child.kill('SIGKILL') })
}

for (const entry of entries) {
  t.test(`${entry.name}: an invalid variable stops boot with a message naming it`, async (t) => {
    const running = startNode(entry.args(), { TICK_INTERVAL_MS: 'soon', PORT: '0', HOST: '127.0.0.1' })
    stopOnTeardown(t, running)
    const { code } = await running.exited
    t.not(code, 0, 'non-zero exit')
    t.match(running.output(), /TICK_INTERVAL_MS \(got "soon"\): expected 0 or an integer from 10 to 86400000/)
    t.notMatch(running.output(), /Server listening/)
  })

  t.test(`${entry.name}: serves the page and ticks, and SIGTERM closes sockets with 1001 then exits 0`, async (t) => {
    const running = startNode(entry.args(), { PORT: '0', HOST: '127.0.0.1', TICK_INTERVAL_MS: '100', SESSION_SECRET: SECRET, NODE_ENV: 'production', CLOSE_GRACE_MS: '3000' })
    stopOnTeardown(t, running)
    const port = await running.listening()
    const page = await fetch(`http://127.0.0.1:${port}/`)
    t.equal(page.status, 200)
    const clients = await Promise.all([connect(`ws://127.0.0.1:${port}/ws`), connect(`ws://127.0.0.1:${port}`)])
    await Promise.all(clients.map((client) => client.waitFor('tick', 1)))
    const started = Date.now()
    running.child.kill('SIGTERM')
    const closes = await Promise.all(clients.map((client) => client.closed))
    for (const close of closes) {
      t.equal(close.code, 1001, 'going away, not 1005/1006')
      t.match(close.reason, /^restart; retry=\d+$/, 'with a reconnect hint')
    }
    const { code } = await running.exited
    t.equal(code, 0, 'exit 0')
    t.ok(Date.now() - started < 3000, 'well within the grace time')
    t.match(running.output(), /"msg":"client disconnected"/)
  })
}

for (const entry of entries) {
  t.test(`${entry.name}: listens on port 8005 by default (the seed's port, not fastify-cli's 3000), and it is this process that answers there`, async (t) => {
    // No PORT: the default applies. CI runs on a clean machine where 8005 is free; on a machine
    // where something else holds it, this test fails and says so (it cannot prove the default then).
    const running = startNode(entry.args(), { HOST: '127.0.0.1', SESSION_SECRET: SECRET })
    stopOnTeardown(t, running)
    let port: number
    try {
      port = await running.listening()
    } catch (err) {
      const busy = /EADDRINUSE[^\n]*:8005\b/.test(running.output())
      t.fail(busy
        ? 'port 8005 is in use by another process: free it to run this test (the process did try 8005, but never served there)'
        : (err as Error).message)
      return
    }
    t.equal(port, 8005, 'the process\'s own "Server listening" line names port 8005')
    // The seed's client snippet, `new WebSocket("ws://localhost:8005")`: the server that answers
    // must be this child. The connection id it hands out has to appear in this child's own log.
    const client = await connect('ws://127.0.0.1:8005')
    const [welcome] = await client.waitFor('welcome')
    const connId = String(welcome?.connId)
    const deadline = Date.now() + 5000
    while (!running.output().includes(connId) && Date.now() < deadline) await sleep(20)
    t.ok(running.output().includes(connId), `the connection on 8005 (${connId}) is logged by the process under test`)
    await client.close()
    running.child.kill('SIGTERM')
    t.equal((await running.exited).code, 0, 'exit 0')
  })
}
