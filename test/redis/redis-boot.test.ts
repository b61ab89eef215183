/**
 * Redis as an operator meets it: a wrong or dead address at boot fails fast with one line that
 * names it and the cause (both entries), and a Redis that goes away and comes back is logged both
 * ways.
 */
import t from 'tap'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { freePort, TestRedisServer } from '../helpers/redis-server.js'

const SECRET = 'redis-boot-test-secret-0123456789abcdef'
const ENTRIES = [
  { name: 'node dist/src/app/server.js', args: () => [built('src/app/server.js')] },
  { name: 'fastify start (npm start)', args: () => ['node_modules/fastify-cli/cli.js', 'start', '-l', 'info', '--config', 'fastify-cli.config.cjs', '-o', built('src/app/app.js')] }
]

function stopOnTeardown (t: { teardown: (fn: () => unknown) => void }, running: RunningProcess): void {
  t.teardown(() => { if (running.child.exitCode === null) running.child.kill('SIGKILL') })
}

async function waitForOutput (running: RunningProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const started = Date.now()
  for (;;) {
    const line = running.output().split('\n').find((candidate) => pattern.test(candidate))
    if (line !== undefined) return line
    if (Date.now() - started > timeoutMs) throw new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms:\n${running.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

for (const entry of ENTRIES) {
  t.test(`${entry.name}: REDIS_URL at a closed port fails within seconds, in one line naming the address and the cause`, async (t) => {
    const port = await freePort()
    const started = Date.now()
    const running = startNode(entry.args(), { PORT: '0', HOST: '127.0.0.1', SESSION_SECRET: SECRET, REDIS_URL: `redis://user:hunter2@127.0.0.1:${port}/0` })
    stopOnTeardown(t, running)
    const { code } = await running.exited
    const seconds = (Date.now() - started) / 1000
    t.equal(code, 1, 'exit 1')
    t.ok(seconds < 8, `it gave up after ${seconds.toFixed(1)} s (Redis is given 3 s)`)
    const output = running.output()
    const lines = output.split('\n').filter((line) => line.includes('unreachable'))
    t.equal(lines.length, 1, 'one line says it')
    t.match(lines[0], new RegExp(`Redis at 127\\.0\\.0\\.1:${port}/0 is unreachable: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`), 'naming the address and the cause')
    t.match(lines[0], /"code":"FRT_ADAPTER_UNAVAILABLE"/, 'with its code')
    t.notMatch(output, /hunter2/, 'the password in the URL is never shown')
    t.notMatch(output, /\n\s+at /, 'no stack trace')
    t.notMatch(output, /did not start in time|Server listening/)
  })
}

t.test('a Redis that goes away and comes back is logged both ways, with its address', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const running = startNode(ENTRIES[0]?.args() ?? [], { PORT: '0', HOST: '127.0.0.1', SESSION_SECRET: SECRET, REDIS_URL: redis.url, NODE_ENV: 'production' })
  stopOnTeardown(t, running)
  await running.listening()
  await redis.stop()
  const lost = await waitForOutput(running, /"msg":"realtime adapter error"/)
  t.match(lost, new RegExp(`Redis (publisher|subscriber) connection to 127\\.0\\.0\\.1:${redis.port} lost`), 'the loss names the connection and the address')
  await redis.restart()
  const restored = await waitForOutput(running, /"msg":"realtime adapter restored"/)
  t.match(restored, new RegExp(`"restored":"Redis (publisher|subscriber) connection to 127\\.0\\.0\\.1:${redis.port}"`), 'the return is logged too')
  running.child.kill('SIGTERM')
  t.equal((await running.exited).code, 0)
})
