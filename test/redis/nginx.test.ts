/**
 * The documented nginx configuration (docs/deploy/nginx.conf), run for real in front of two nodes
 * sharing a private Redis: upgrades pass through, the client IP is the one nginx saw (a forged
 * X-Forwarded-For is replaced), and a chat message crosses nodes.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { built, startNode } from '../helpers/process.js'
import { freePort, TestRedisServer } from '../helpers/redis-server.js'
import { rawUpgrade } from '../helpers/realtime-app.js'
import { connect, sleep } from '../helpers/ws-client.js'

const SECRET = 'nginx-test-secret-0123456789abcdef0123'

t.test('nginx in front of two nodes, as documented', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const nodes = await Promise.all([0, 1].map(async () => {
    const proc = startNode([built('src/app/server.js')], {
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      SESSION_SECRET: SECRET,
      TICK_INTERVAL_MS: '0',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'nginx:',
      TRUST_PROXY: '127.0.0.1'
    })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    return { proc, port: await proc.listening() }
  }))

  // The documented file, with only the ports and the process settings a test needs changed.
  const dir = t.testdir()
  const listenPort = await freePort()
  const documented = readFileSync(join(packageRoot, 'docs', 'deploy', 'nginx.conf'), 'utf8')
  const upstream = nodes.map((node) => `    server 127.0.0.1:${node.port} max_fails=2 fail_timeout=5s;`).join('\n')
  const config = documented
    .replace(/( {4}server 127\.0\.0\.1:\d+ max_fails=2 fail_timeout=5s;\n)+/, `${upstream}\n`)
    .replace(/listen 8080;/, `listen 127.0.0.1:${listenPort};`)
    .replace(/worker_connections \d+;/, 'worker_connections 1024;')
    .replace('http {', 'http {\n  access_log off;')
  t.ok(config.includes(`127.0.0.1:${nodes[1]?.port ?? 0}`), 'the upstream block was found and rewritten')
  writeFileSync(join(dir, 'nginx.conf'), config)
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')};`], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()))
  nginx.once('error', (err) => { t.fail(`nginx could not be run (apt-get install nginx-light): ${err.message}`) })
  t.teardown(async () => { nginx.kill('SIGTERM'); await exited })
  const base = `127.0.0.1:${listenPort}`
  for (let i = 0; ; i++) {
    const up = await fetch(`http://${base}/health`).then((response) => response.ok, () => false)
    if (up) break
    if (i > 100) throw new Error('nginx did not come up')
    await sleep(50)
  }

  // A visitor with a session, through nginx (Redis sessions: any node may serve the next request).
  const page = await fetch(`http://${base}/`)
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const named = await fetch(`http://${base}/name`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Ann' })
  t.equal(named.status, 303)

  // A browser on the page served through nginx sends its Origin: nginx is on a port other than
  // 80/443 here, and the nodes' same-origin check must still see the browser's host:port.
  const origin = `http://${base}`
  const clients = await Promise.all([1, 2, 3, 4].map(async () => await connect(`ws://${base}/ws`, {
    localAddress: '127.0.0.7',
    headers: { cookie, origin, 'x-forwarded-for': '6.6.6.6' }
  })))
  t.teardown(() => { for (const client of clients) client.socket.terminate() })
  for (const client of clients) {
    client.socket.send(JSON.stringify({ type: 'sub', channel: 'chat', id: 'sub' }))
    await client.waitFor('ack')
  }
  const logs = nodes.map((node) => node.proc.output())
  const connectedOn = logs.map((output) => output.split('\n').filter((line) => line.includes('"msg":"client connected"')))
  t.ok(connectedOn.every((lines) => lines.length > 0), `least_conn spread the sockets over both nodes (${connectedOn.map((lines) => lines.length).join(' + ')})`)
  const ips = connectedOn.flat().map((line) => (JSON.parse(line) as { ip: string }).ip)
  t.same([...new Set(ips)], ['127.0.0.7'], 'the client IP is the address nginx saw, not the forged 6.6.6.6')

  const foreign = await rawUpgrade(listenPort, '/ws', { origin: 'http://evil.example:8080' })
  foreign.socket.destroy()
  t.equal(foreign.status, 403, 'a page on another origin is still refused through nginx')

  const publicMetrics = await fetch(`http://${base}/metrics`)
  t.equal(publicMetrics.status, 404, '/metrics is not served on the public side')
  const direct = await fetch(`http://127.0.0.1:${nodes[0]?.port ?? 0}/metrics`)
  t.equal(direct.status, 200, 'Prometheus scrapes the node itself')
  t.match(await direct.text(), /realtime_connections/)

  clients[0]?.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', id: 'p', data: { text: 'through nginx' } }))
  const acks = await clients[0]?.waitFor('ack', 2)
  t.match(acks?.[1], { id: 'p', channel: 'chat' }, 'the publication was accepted')
  for (const client of clients) await client.waitFor('pub')
  t.ok(clients.every((client) => (client.ofType('pub')[0]?.data as { text?: string }).text === 'through nginx'), 'every client got the message, whichever node it is on')
})
