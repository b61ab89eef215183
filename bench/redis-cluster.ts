/**
 * Cross-node fan-out on one Redis vs a 3-master Redis Cluster (3 replicas too), same load, same
 * run: `npm run bench:redis-cluster`.
 *
 * For each topology: a private redis-server (or a 3+3 cluster of them), three node processes
 * (test/fixtures/realtime-node.mjs: the built package embedded in a Fastify app), a publisher socket
 * on node A and 100 subscriber sockets on each of B and C, all on channel `feed:chat`. Then:
 * 1. latency: 1,000 publications at 100/s, each carrying its send time; p50/p99/max of (receive
 *    time on B − send time);
 * 2. throughput: 5,000 publications sent back to back; publications/s until every one reached
 *    every subscriber, and deliveries/s.
 * 3. publish cost alone: 5,000 adapter publishes (in-process RedisAdapter, 50 in flight) per
 *    topology, and on the cluster the same with the script by SHA1 (EVALSHA) instead of EVAL, to
 *    show what the Cluster's EVAL-only choice costs.
 * Stops by itself; loopback only.
 */
import { join } from 'node:path'
import { cpus, loadavg } from 'node:os'
import { RedisAdapter } from '../src/adapters/redis/redis-adapter.js'
import { startNode, type RunningProcess } from '../test/helpers/process.js'
import { TestRedisCluster } from '../test/helpers/redis-cluster.js'
import { TestRedisServer } from '../test/helpers/redis-server.js'
import { connect, sleep, type RecordingClient } from '../test/helpers/ws-client.js'
import { Cluster } from 'ioredis'
import { PUBLISH_LUA } from '../src/adapters/redis/scripts.js'

const SUBSCRIBERS_PER_NODE = 100
const LATENCY_MESSAGES = 1000
const LATENCY_RATE_PER_SEC = 100
const BURST_MESSAGES = 5000
const ADAPTER_PUBLISHES = 5000

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function fanOut (env: Record<string, string>): Promise<Record<string, unknown>> {
  const procs: RunningProcess[] = []
  try {
    const ports = await Promise.all([0, 1, 2].map(async () => {
      const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { ...env, REDIS_KEY_PREFIX: 'bench:', BENCH: '1' })
      procs.push(proc)
      return await proc.listening()
    }))
    const [a, b, c] = ports
    const publisher = await connect(`ws://127.0.0.1:${a ?? 0}/ws?visitor=publisher`)
    const latencies: number[] = []
    let deliveries = 0
    const subscribers: RecordingClient[] = []
    for (const port of [b, c]) {
      for (let i = 0; i < SUBSCRIBERS_PER_NODE; i++) {
        const client = await connect(`ws://127.0.0.1:${port ?? 0}/ws?visitor=s${i}`)
        client.socket.removeAllListeners('message')
        client.socket.on('message', (raw) => {
          const text = raw.toString()
          if (!text.startsWith('{"type":"pub"')) return
          deliveries++
          const sent = /"text":"L(\d+)"/.exec(text)?.[1]
          if (sent !== undefined && client === subscribers[0]) latencies.push(Date.now() - Number(sent))
        })
        client.socket.send('{"type":"sub","channel":"feed:chat"}')
        subscribers.push(client)
      }
    }
    await sleep(1000)
    for (let i = 0; i < LATENCY_MESSAGES; i++) {
      publisher.socket.send(JSON.stringify({ type: 'pub', channel: 'feed:chat', data: { text: `L${Date.now()}` } }))
      if (i % 10 === 9) await sleep(1000 / LATENCY_RATE_PER_SEC * 10)
    }
    const measured = (): boolean => latencies.length >= LATENCY_MESSAGES
    while (!measured()) await sleep(20)
    const sorted = [...latencies].sort((x, y) => x - y)
    deliveries = 0
    const expected = BURST_MESSAGES * subscribers.length
    const started = process.hrtime.bigint()
    for (let i = 0; i < BURST_MESSAGES; i++) publisher.socket.send(`{"type":"pub","channel":"feed:chat","data":{"text":"B${i}"}}`)
    const delivered = (): boolean => deliveries >= expected
    while (!delivered()) await sleep(5)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    for (const client of [publisher, ...subscribers]) client.socket.terminate()
    return {
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) },
      burst: { seconds: Number(seconds.toFixed(2)), publicationsPerSec: Math.round(BURST_MESSAGES / seconds), deliveriesPerSec: Math.round(expected / seconds) }
    }
  } finally {
    for (const proc of procs) proc.child.kill('SIGKILL')
  }
}

/** Publishes per second through one adapter, 50 in flight, on 100 channels. */
async function adapterPublishes (adapter: RedisAdapter): Promise<number> {
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  try {
    let next = 0
    const started = process.hrtime.bigint()
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < ADAPTER_PUBLISHES) {
        const n = next++
        await adapter.publish(`feed:c${n % 100}`, { n, text: 'x'.repeat(100) }, { historySize: 100, historyTtlMs: 60_000 })
      }
    }))
    return Math.round(ADAPTER_PUBLISHES / (Number(process.hrtime.bigint() - started) / 1e9))
  } finally {
    await adapter.close()
  }
}

/** The same publish script on the cluster by SHA1 (loaded on every master first), for comparison with EVAL. */
async function clusterEvalshaPublishes (nodes: Array<{ host: string, port: number }>): Promise<number> {
  const lua = PUBLISH_LUA.replaceAll("redis.call('PUBLISH', ", "redis.call('SPUBLISH', ")
  const redis = new Cluster(nodes)
  await new Promise((resolve) => redis.once('ready', resolve))
  try {
    const sha = String(await Promise.all(redis.nodes('master').map(async (node) => await node.script('LOAD', lua))).then((shas) => shas[0]))
    let next = 0
    const started = process.hrtime.bigint()
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < ADAPTER_PUBLISHES) {
        const n = next++
        const base = `benchsha:{feed:c${n % 100}}`
        await redis.evalsha(sha, 3, `${base}:meta`, `${base}:hist`, `${base}:meta`, 'e', JSON.stringify({ n, text: 'x'.repeat(100) }), Date.now(), 100, 60_000, 60_000, `${base}:pub`, 'node', '', '')
      }
    }))
    return Math.round(ADAPTER_PUBLISHES / (Number(process.hrtime.bigint() - started) / 1e9))
  } finally {
    redis.disconnect()
  }
}

async function main (): Promise<void> {
  const hardStop = setTimeout(() => { console.error('bench: hard time limit reached'); process.exit(2) }, 300_000)
  hardStop.unref()
  const redis = await TestRedisServer.start()
  const cluster = await TestRedisCluster.start()
  try {
    const clusterEnv = { REDIS_CLUSTER_NODES: cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',') }
    const single = await fanOut({ REDIS_URL: redis.url })
    const sharded = await fanOut(clusterEnv)
    const publishSingle = await adapterPublishes(new RedisAdapter({ url: redis.url, keyPrefix: 'benchp:' }))
    const publishCluster = await adapterPublishes(new RedisAdapter({ cluster: { nodes: cluster.nodes }, keyPrefix: 'benchp:' }))
    const publishClusterSha = await clusterEvalshaPublishes(cluster.nodes)
    const ratio = (x: unknown, y: unknown): number => Number((Number(x) / Number(y)).toFixed(2))
    const s = single as { latencyMs: { p50: number, p99: number }, burst: { publicationsPerSec: number } }
    const c = sharded as typeof s
    console.log(JSON.stringify({
      machine: `${process.platform} ${process.arch}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; 3 nodes + Redis on one host (loopback)`,
      subscribers: SUBSCRIBERS_PER_NODE * 2,
      single,
      cluster: sharded,
      clusterOverSingle: { p50: ratio(c.latencyMs.p50, s.latencyMs.p50), p99: ratio(c.latencyMs.p99, s.latencyMs.p99), publicationsPerSec: ratio(c.burst.publicationsPerSec, s.burst.publicationsPerSec) },
      adapterPublishesPerSec: { single: publishSingle, clusterEval: publishCluster, clusterEvalsha: publishClusterSha, evalOverEvalsha: ratio(publishCluster, publishClusterSha) }
    }, null, 2))
  } finally {
    await cluster.destroy()
    await redis.destroy()
  }
}

await main()
