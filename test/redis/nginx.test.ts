/**
 * The documented nginx configuration (docs/deploy/nginx.conf), run for real in front of two nodes
 * sharing a private Redis: upgrades pass through, the client IP is the one nginx saw (a forged
 * X-Forwarded-For is replaced), a chat message crosses nodes, and the event stream is passed on
 * event by event (not buffered), its POSTs reaching its node whichever node they land on.
 */
import t from 'tap'
import { startNginx } from '../helpers/nginx.js'
import { built, startNode } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { rawUpgrade } from '../helpers/realtime-app.js'
import { SseClient } from '../helpers/sse-client.js'
import { connect } from '../helpers/ws-client.js'

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
  const { port: listenPort, base, config } = await startNginx(t, { upstream: nodes.map((node) => node.port), dir: t.testdir() })
  t.ok(config.includes(`127.0.0.1:${nodes[1]?.port ?? 0}`), 'the upstream block was found and rewritten')
  // Unbuffered, the stream's backpressure reaches the node (its send budget closes a browser that
  // stopped reading); buffered, nginx would spool the backlog to its own disk instead.
  const sseLocation = /location = \/sse \{[^}]*\}/.exec(config)?.[0] ?? ''
  t.match(sseLocation, /proxy_buffering off;/, 'the event stream\'s location turns buffering off')
  t.match(sseLocation, /proxy_read_timeout 75s;/, 'and reads for longer than a heartbeat interval')

  // A visitor with a session, through nginx (Redis sessions: any node may serve the next request).
  const page = await fetch(`http://${base}/`)
  const visitorCookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const named = await fetch(`http://${base}/name`, { method: 'POST', redirect: 'manual', headers: { cookie: visitorCookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Ann' })
  t.equal(named.status, 303)
  // The page set the visitor cookie; the name made the session, with its own cookie.
  const cookie = [visitorCookie, ...named.headers.getSetCookie().map((line) => line.split(';')[0] ?? '').filter((pair) => pair.startsWith('rt.sid='))].join('; ')

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

  // The event stream through nginx: every event arrives as it is sent (nginx buffers none of it).
  const stream = await SseClient.open(`http://${base}/sse?channels=chat`, { headers: { cookie, origin } })
  t.teardown(() => { stream.cut() })
  t.equal(stream.status, 200)
  await stream.waitFor('ack')
  // POSTs alternate between the nodes (least_conn, no stickiness): each lands on a node, and reaches the stream's.
  for (let i = 0; i < 4; i++) {
    const posted = await stream.post({ type: 'pub', channel: 'chat', data: { text: `stream ${i}` }, id: i }, stream.key, { cookie, origin })
    t.equal(posted.status, 202)
    await stream.frame((f) => f.type === 'ack' && f.id === i, 10_000)
  }
  await stream.frame((f) => f.type === 'pub' && (f.data as { text?: string }).text === 'stream 3', 10_000)
  // One small event with nothing after it (no ticks; the next heartbeat is 25 s away): a buffering
  // proxy holds it until more data fills its buffer, so it arriving at all is the proof. The wait
  // is generous for a loaded machine and far below the heartbeat that could push it out.
  const publishedAt = Date.now()
  clients[0]?.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', id: 'q', data: { text: 'to the stream' } }))
  await stream.frame((f) => f.type === 'pub' && (f.data as { text?: string }).text === 'to the stream', 8000)
  t.pass(`a single small event reaches the browser through nginx with nothing after it (${Date.now() - publishedAt} ms): nothing is buffered`)
})
