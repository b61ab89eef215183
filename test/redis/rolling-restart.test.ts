/**
 * A rolling restart behind the shipped nginx.conf, done as docs/operations.md says: restart A,
 * wait for its /ready, stop B. Clients ("tabs") that reconnect as soon as they are cut never meet
 * a 502: nginx always has a live node to send them to. (With passive health marks, max_fails=2
 * fail_timeout=5s, tabs got 502 `no live upstreams` even 5 s after A was back: the one probe
 * request that lets A back in is a WebSocket, and lasts as long as its socket.)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { nodeReady, startNginx } from '../helpers/nginx.js'
import { built, startNode, type RunningProcess } from '../helpers/process.js'
import { freePort, TestRedisServer } from '../helpers/redis-server.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

const SECRET = 'rolling-restart-secret-0123456789abcdef'
const TABS = 6

/** A tab: reconnects at once whenever its socket is cut, and counts what refused it. */
class Tab {
  readonly refusals: string[] = []
  connects = 0
  #client: RecordingClient | null = null
  #stopped = false
  readonly #url: string

  constructor (url: string) {
    this.#url = url
  }

  async run (): Promise<void> {
    while (!this.#stopped) {
      try {
        this.#client = await connect(this.#url)
        this.connects++
        await this.#client.closed
      } catch (err) {
        this.refusals.push((err as Error).message)
        await sleep(50)
      }
    }
  }

  stop (): void {
    this.#stopped = true
    this.#client?.socket.terminate()
  }
}

t.test('a rolling restart done as documented: no client that reconnects gets a 502', async (t) => {
  const conf = readFileSync(join(packageRoot, 'docs', 'deploy', 'nginx.conf'), 'utf8')
  t.match(conf, /server 127\.0\.0\.1:\d+ max_fails=0;/, 'the shipped upstream keeps no passive health marks')
  const operations = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8')
  t.match(operations, /\*\*Rolling restarts\*\*[\s\S]*`\/ready`[\s\S]*`max_fails=0`/, 'operations.md documents the procedure')

  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const ports = [await freePort(), await freePort()]
  const start = async (port: number): Promise<RunningProcess> => {
    const proc = startNode([built('src/app/server.js')], {
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      SESSION_SECRET: SECRET,
      TICK_INTERVAL_MS: '0',
      CLOSE_GRACE_MS: '2000',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'rolling:',
      TRUST_PROXY: '127.0.0.1'
    })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    await proc.listening()
    return proc
  }
  const stop = async (proc: RunningProcess): Promise<void> => {
    proc.child.kill('SIGTERM')
    t.equal((await proc.exited).code, 0, 'the node drained and exited 0')
  }
  const [portA = 0, portB = 0] = ports
  let a = await start(portA)
  const b = await start(portB)
  const nginxDir = t.testdir()
  const { base } = await startNginx(t, { upstream: ports, dir: nginxDir })

  const tabs = Array.from({ length: TABS }, () => new Tab(`ws://${base}/ws`))
  const running = tabs.map(async (tab) => { await tab.run() })
  t.teardown(async () => { for (const tab of tabs) tab.stop(); await Promise.all(running) })
  /** Wait until node A (asked on its own port) holds `count` sockets. */
  const onA = async (count: number): Promise<void> => {
    for (;;) {
      const health = await fetch(`http://127.0.0.1:${portA}/health`).then(async (response) => await response.json() as { connections: number }, () => ({ connections: -1 }))
      if (health.connections === count) return
      await sleep(50)
    }
  }
  while (tabs.some((tab) => tab.connects === 0)) await sleep(50)

  // 1-2: restart A, wait for its /ready.
  await stop(a)
  a = await start(portA)
  await nodeReady(portA)
  // 1 for B: every tab it held reconnects, through nginx, to A.
  await stop(b)
  await onA(TABS)
  const refusals = tabs.flatMap((tab) => tab.refusals)
  // What nginx says of any refusal (which upstream, and why), for whoever reads a failure.
  if (refusals.length > 0) t.comment(readFileSync(join(nginxDir, 'error.log'), 'utf8').split('\n').filter((line) => /\[(error|warn)\]/.test(line)).slice(-20).join('\n'))
  t.same(refusals.filter((message) => /502/.test(message)), [], 'no 502 on any reconnect')
  t.same(refusals, [], 'no refusal of any kind')
  t.ok(tabs.reduce((sum, tab) => sum + tab.connects, 0) > TABS, `the tabs reconnected (${tabs.map((tab) => tab.connects).join(', ')} connects)`)
  await stop(a)
})
