import { Cluster } from 'ioredis'
import { TestRedisCluster } from './helpers/redis-cluster.js'
const cluster = await TestRedisCluster.start()
try {
  for (const opts of [{ enableOfflineQueue: false }, { redisOptions: { maxRetriesPerRequest: 1 } }, {}, { enableOfflineQueue: false }]) {
    const sub = new Cluster(cluster.nodes, { shardedSubscribers: true })
    const got: string[] = []
    sub.on('smessage', (_c: string, m: string) => { got.push(m) })
    await sub.ssubscribe('ctlx')
    const pub = new Cluster(cluster.nodes, opts)
    await new Promise((r) => pub.once('ready', r))
    const errs: string[] = []
    pub.on('node error', (e: Error, k: string) => errs.push(k + ' ' + e.message))
    const moved: string[] = []
    await Promise.all(Array.from({ length: 30 }, (_, n) => pub.spublish('ctlx', String(n))))
    await new Promise((r) => setTimeout(r, 300))
    console.log(JSON.stringify(opts), got.join(','), errs)
    console.log(String(await cluster.command(cluster.nodes[0]!.port, 'CLUSTER', 'NODES')))
    pub.disconnect(); sub.disconnect()
  }
} finally { await cluster.destroy() }
