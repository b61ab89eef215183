/**
 * Cross-node publish latency and throughput through Redis: `npm run bench:redis`.
 *
 * Starts a private redis-server and three server processes (dist/src/app/server.js with REDIS_URL) on
 * 127.0.0.1, a publisher socket on node A and 100 subscriber sockets on each of B and C. Then:
 * 1. latency: 1,000 chat publications at 100/s, each carrying its send time; p50/p99/max of
 *    (receive time on B/C − send time), same machine clock;
 * 2. throughput: 10,000 publications sent back-to-back; publications/s until every one reached
 *    every subscriber, and deliveries/s.
 * Stops by itself; loopback only.
 */
import { built, startNode, type RunningProcess } from '../test/helpers/process.js'
import { TestRedisServer } from '../test/helpers/redis-server.js'
import { connect, sleep, type RecordingClient } from '../test/helpers/ws-client.js'

const SUBSCRIBERS_PER_NODE = 100
const LATENCY_MESSAGES = 1000
const LATENCY_RATE_PER_SEC = 100
const BURST_MESSAGES = 10_000

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function main (): Promise<void> {
  const hardStop = setTimeout(() => { console.error('bench: hard time limit reached'); process.exit(2) }, 180_000)
  hardStop.unref()
  const redis = await TestRedisServer.start()
  const procs: RunningProcess[] = []
  try {
    const ports = await Promise.all([0, 1, 2].map(async () => {
      const proc = startNode([built('src/app/server.js')], {
        PORT: '0',
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        SESSION_SECRET: 'bench-secret-0123456789abcdef0123456789',
        TICK_INTERVAL_MS: '0',
        LOG_LEVEL: 'info',
        REDIS_URL: redis.url,
        MESSAGE_RATE_PER_SEC: '1000000',
        MESSAGE_BURST: '1000000',
        HANDSHAKE_RATE_PER_SEC: '100000',
        HANDSHAKE_BURST: '100000',
        MAX_CONNECTIONS_PER_IP: '100000'
      })
      procs.push(proc)
      return await proc.listening()
    }))
    const [a, b, c] = ports
    const page = await fetch(`http://127.0.0.1:${a ?? 0}/`)
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
    await fetch(`http://127.0.0.1:${a ?? 0}/name`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=bench' })
    const publisher = await connect(`ws://127.0.0.1:${a ?? 0}/ws`, { headers: { cookie } })
    const latencies: number[] = []
    let deliveries = 0
    const subscribers: RecordingClient[] = []
    for (const port of [b, c]) {
      for (let i = 0; i < SUBSCRIBERS_PER_NODE; i++) {
        const client = await connect(`ws://127.0.0.1:${port ?? 0}/ws`)
        // Count in place of recording every frame: 2 M frames would make the bench measure itself.
        client.socket.removeAllListeners('message')
        client.socket.on('message', (raw) => {
          const text = raw.toString()
          if (!text.startsWith('{"type":"pub"')) return
          deliveries++
          const sent = /"text":"L(\d+)"/.exec(text)?.[1]
          if (sent !== undefined && client === subscribers[0]) latencies.push(Date.now() - Number(sent))
        })
        client.socket.send('{"type":"sub","channel":"chat"}')
        subscribers.push(client)
      }
    }
    await sleep(1000)

    // 1. Latency at a steady rate.
    for (let i = 0; i < LATENCY_MESSAGES; i++) {
      publisher.socket.send(JSON.stringify({ type: 'pub', channel: 'chat', data: { text: `L${Date.now()}` } }))
      if (i % 10 === 9) await sleep(1000 / LATENCY_RATE_PER_SEC * 10)
    }
    const allMeasured = (): boolean => latencies.length >= LATENCY_MESSAGES
    while (!allMeasured()) await sleep(20)
    const sorted = [...latencies].sort((x, y) => x - y)

    // 2. Throughput of a burst.
    deliveries = 0
    const expected = BURST_MESSAGES * subscribers.length
    const started = process.hrtime.bigint()
    for (let i = 0; i < BURST_MESSAGES; i++) publisher.socket.send(`{"type":"pub","channel":"chat","data":{"text":"B${i}"}}`)
    // `deliveries` is bumped by the message listeners while we sleep.
    const allDelivered = (): boolean => deliveries >= expected
    while (!allDelivered()) await sleep(5)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9

    const result = {
      machine: `${process.platform} ${process.arch}, Node ${process.version}, 3 nodes + redis-server on one host (loopback)`,
      subscribers: subscribers.length,
      latencyMs: { messages: LATENCY_MESSAGES, ratePerSec: LATENCY_RATE_PER_SEC, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) },
      burst: { publications: BURST_MESSAGES, seconds: Number(seconds.toFixed(2)), publicationsPerSec: Math.round(BURST_MESSAGES / seconds), deliveriesPerSec: Math.round(expected / seconds) }
    }
    console.log(JSON.stringify(result, null, 2))
    for (const client of [publisher, ...subscribers]) client.socket.terminate()
  } finally {
    for (const proc of procs) proc.child.kill('SIGKILL')
    await redis.destroy()
  }
}

await main()
