/**
 * The cost of the Redis adapter's position check: `node --import tsx bench/position-check.ts`.
 *
 * Starts a private redis-server and one RedisAdapter that follows 1,000 then 10,000 channels (each
 * published once, so each has a stream), with the check running back to back (an interval of
 * 1 ms: a check never overlaps the previous one). For each size it reports per check: the wall
 * time (from how many checks ran back to back), this process's CPU time, Redis's CPU time, and the
 * Redis commands it sent (INFO commandstats: one HMGET per followed channel, one PING). Nothing is
 * behind, so this is the steady cost; a channel found behind adds one read (a Lua script) to it.
 * Stops by itself; loopback only.
 */
import { Redis } from 'ioredis'
import { RedisAdapter } from '../src/adapters/redis/redis-adapter.js'
import { TestRedisServer } from '../test/helpers/redis-server.js'

const SIZES = [1000, 10_000]
const RUN_MS = 5000

interface Stats { calls: Map<string, number>, cpuSeconds: number }

async function redisStats (admin: Redis): Promise<Stats> {
  const calls = new Map<string, number>()
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([a-z|]+):calls=(\d+)/.exec(line.trim())
    if (match !== null) calls.set(match[1] ?? '', Number(match[2]))
  }
  const cpu = await admin.info('cpu')
  const seconds = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0)
  return { calls, cpuSeconds: seconds('used_cpu_user') + seconds('used_cpu_sys') }
}

async function measure (redis: TestRedisServer, admin: Redis, channels: number): Promise<void> {
  const prefix = `bench${channels}:`
  // A publisher that never checks, to give every channel a stream.
  const writer = new RedisAdapter({ url: redis.url, keyPrefix: prefix, positionCheckIntervalMs: 0 })
  await writer.init({ onPublication: () => {}, onPresence: () => {} })
  const names = Array.from({ length: channels }, (_, i) => `ch:${i}`)
  for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map(async (name) => await writer.publish(name, i, { historySize: 10, historyTtlMs: 600_000 })))

  let checks = 0
  let behind = 0
  let counting = false
  const adapter = new RedisAdapter({ url: redis.url, keyPrefix: prefix, positionCheckIntervalMs: 1, presenceSweepIntervalMs: 60_000 })
  await adapter.init({
    onPublication: () => {},
    onPresence: () => {},
    onPositionCheck: (_followed, found) => {
      if (!counting) return
      checks++
      behind += found
    }
  })
  for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map(async (name) => { await adapter.subscribe(name) }))

  const before = await redisStats(admin)
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  counting = true
  await new Promise((resolve) => setTimeout(resolve, RUN_MS))
  counting = false
  const elapsed = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const after = await redisStats(admin)
  await adapter.close()
  await writer.close()

  const delta = (name: string): number => (after.calls.get(name) ?? 0) - (before.calls.get(name) ?? 0)
  const per = (n: number): string => (n / checks).toFixed(checks > 0 ? 1 : 0)
  console.log(`${channels} channels: ${checks} checks back to back in ${(elapsed / 1000).toFixed(1)} s, ${behind} behind`)
  console.log(`  wall per check ${(elapsed / checks).toFixed(1)} ms; node CPU per check ${((cpu.user + cpu.system) / 1000 / checks).toFixed(1)} ms; Redis CPU per check ${((after.cpuSeconds - before.cpuSeconds) * 1000 / checks).toFixed(1)} ms`)
  console.log(`  Redis commands per check: hmget ${per(delta('hmget'))}, ping ${per(delta('ping'))}, evalsha ${per(delta('evalsha'))} (INFO calls between the two reads included)`)
}

async function main (): Promise<void> {
  const hardStop = setTimeout(() => { console.error('bench: hard time limit reached'); process.exit(2) }, 180_000)
  hardStop.unref()
  const redis = await TestRedisServer.start()
  const admin = new Redis(redis.url)
  try {
    for (const size of SIZES) await measure(redis, admin, size)
  } finally {
    admin.disconnect()
    await redis.destroy()
  }
}

await main()
