/**
 * A private Redis Sentinel deployment for tests: one master, one replica and three sentinels
 * (quorum 2), each a real redis-server process on a free loopback port in its own temp directory,
 * tuned so a failover takes a second or two (down after 1 s; INFO every second instead of 10). Tests kill, restart and fail over its nodes without
 * touching the machine's shared Redis.
 *
 * Every process runs from a config file in its directory: Sentinel rewrites them (a demoted or
 * reconfigured node's `replicaof`, a sentinel's view of the deployment), so a node restarted from
 * its file rejoins as whatever Sentinel last made it.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, startRedisProcess, stopRedisProcess } from './redis-server.js'

/** The master group's name the sentinels monitor. */
export const SENTINEL_MASTER_NAME = 'rtmaster'

/** How long the sentinels wait before calling an unanswering master down, ms. */
const DOWN_AFTER_MS = 1000

/** Sentinel's failover timeout (also the pause before it retries a failed failover), ms. */
const FAILOVER_TIMEOUT_MS = 3000

/** How often the sentinels ask the master and the replica for INFO, ms (Sentinel's default: 10 s). */
const INFO_PERIOD_MS = 1000

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** One redis-server process (a data node or a sentinel) started from its config file. */
class RedisProcess {
  readonly port: number
  readonly dir: string
  readonly #config: string
  readonly #sentinel: boolean
  #child: ChildProcess | null = null

  constructor (port: number, config: string, sentinel: boolean) {
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), sentinel ? 'rt-sentinel-' : 'rt-redis-node-'))
    this.#config = join(this.dir, sentinel ? 'sentinel.conf' : 'redis.conf')
    this.#sentinel = sentinel
    writeFileSync(this.#config, `${config}\ndir ${this.dir}\n`)
  }

  get running (): boolean {
    return this.#child !== null
  }

  /** Start it (again) from its config file; resolves once it serves. */
  async start (): Promise<void> {
    if (this.#child !== null) return
    const args = this.#sentinel ? [this.#config, '--sentinel'] : [this.#config]
    const child = await startRedisProcess(args, this.#sentinel ? 'Sentinel ID is' : 'Ready to accept connections')
    this.#child = child
    child.once('exit', () => { if (this.#child === child) this.#child = null })
  }

  /** Stop it; SIGKILL (the default) is a crash: no goodbye to anyone. */
  async stop (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child
    if (child === null) return
    this.#child = null
    await stopRedisProcess(child, signal)
  }

  async destroy (): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** What one data node says of itself (`ROLE`). */
export interface NodeRole {
  role: 'master' | 'slave' | 'sentinel' | 'unknown'
  /** For a replica: the port of its master and whether the link is up (`connected`). */
  masterPort?: number
  linkUp?: boolean
}

/** A master, a replica and three sentinels; see the module comment. */
export class TestSentinelSetup {
  /** The two data nodes, by port: which is master changes with every failover. */
  readonly nodes: ReadonlyMap<number, RedisProcess>
  readonly sentinels: readonly RedisProcess[]
  readonly name = SENTINEL_MASTER_NAME

  private constructor (nodes: RedisProcess[], sentinels: RedisProcess[]) {
    this.nodes = new Map(nodes.map((node) => [node.port, node]))
    this.sentinels = sentinels
  }

  /**
   * Start the deployment; resolves once the replica is in sync and every sentinel knows the
   * replica and the two other sentinels (`SENTINEL CKQUORUM` answers OK), i.e. a failover can run.
   */
  static async start (): Promise<TestSentinelSetup> {
    const [masterPort, replicaPort, ...sentinelPorts] = await Promise.all(Array.from({ length: 5 }, async () => await freePort()))
    if (masterPort === undefined || replicaPort === undefined) throw new Error('no ports')
    const dataConfig = (port: number): string => [
      `port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no',
      // Without it, every (re)sync of a replica waits 5 s for more replicas to join.
      'repl-diskless-sync-delay 0'
    ].join('\n')
    const master = new RedisProcess(masterPort, dataConfig(masterPort), false)
    const replica = new RedisProcess(replicaPort, `${dataConfig(replicaPort)}\nreplicaof 127.0.0.1 ${masterPort}`, false)
    const sentinels = sentinelPorts.map((port) => new RedisProcess(port, [
      `port ${port}`, 'bind 127.0.0.1',
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`
    ].join('\n'), true))
    const setup = new TestSentinelSetup([master, replica], sentinels)
    try {
      await master.start()
      await replica.start()
      await setup.waitForReplica(replicaPort, masterPort)
      await Promise.all(sentinels.map(async (sentinel) => { await sentinel.start() }))
      // Sentinel looks at replicas (INFO) every 10 s: a rejoined node would wait that long to be
      // seen in sync, and to be promotable. Once a second keeps the tests short.
      await Promise.all(sentinels.map(async (sentinel) => await setup.#ask(sentinel.port, async (redis) => await redis.call('SENTINEL', 'DEBUG', 'info-period', String(INFO_PERIOD_MS)))))
      await setup.#waitForQuorum()
      await setup.#waitForSentinelsToSee(replicaPort, masterPort)
    } catch (err) {
      await setup.destroy()
      throw err
    }
    return setup
  }

  /** The sentinels' addresses, as ioredis's `sentinels` option takes them. */
  get sentinelAddresses (): Array<{ host: string, port: number }> {
    return this.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port }))
  }

  /** `host:port,host:port,host:port`, as REDIS_SENTINELS takes them. */
  get sentinelList (): string {
    return this.sentinelAddresses.map(({ host, port }) => `${host}:${port}`).join(',')
  }

  /** A plain connection to one data node (the test closes it). */
  direct (port: number): Redis {
    return new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1 })
  }

  /** The master's port, as the first answering sentinel says. */
  async masterPort (): Promise<number> {
    for (const sentinel of this.sentinels) {
      if (!sentinel.running) continue
      const answer = await this.#ask(sentinel.port, async (redis) => await redis.call('SENTINEL', 'get-master-addr-by-name', this.name) as [string, string] | null)
      if (answer !== null) return Number(answer[1])
    }
    throw new Error('no sentinel knows the master')
  }

  /** The data node that is not `port`. */
  other (port: number): number {
    const found = [...this.nodes.keys()].find((p) => p !== port)
    if (found === undefined) throw new Error('one node only')
    return found
  }

  /** What a data node says it is (`unknown` when it does not answer). */
  async role (port: number): Promise<NodeRole> {
    try {
      return await this.#ask(port, async (redis) => {
        const role = await redis.call('ROLE') as [string, ...unknown[]]
        if (role[0] === 'master') return { role: 'master' }
        if (role[0] === 'slave') return { role: 'slave', masterPort: Number(role[2]), linkUp: role[3] === 'connected' }
        return { role: 'unknown' }
      })
    } catch {
      return { role: 'unknown' }
    }
  }

  /** SIGKILL a data node (by default the current master); resolves with its port. */
  async kill (port?: number): Promise<number> {
    const target = port ?? await this.masterPort()
    await this.#node(target).stop('SIGKILL')
    return target
  }

  /** Start a killed data node again from its config file. */
  async restart (port: number): Promise<void> {
    await this.#node(port).start()
  }

  /**
   * Ask a sentinel for a manual failover (`SENTINEL FAILOVER`): the replica is promoted, and the
   * master, alive, is demoted to a replica of it. Resolves with the old master's port once asked.
   */
  async failover (): Promise<number> {
    const old = await this.masterPort()
    // Sentinel promotes only a replica it has seen in sync (else NOGOODSLAVE, or an abort).
    await this.#waitForSentinelsToSee(this.other(old), old)
    const [sentinel] = this.sentinels.filter((s) => s.running)
    if (sentinel === undefined) throw new Error('no sentinel running')
    await this.#ask(sentinel.port, async (redis) => await redis.call('SENTINEL', 'failover', this.name))
    return old
  }

  /**
   * Resolve once every running sentinel names a master other than `oldPort` and that node says
   * it is master. Sentinels publish `+switch-master` when they switch; this listens to it on
   * every sentinel rather than polling them.
   * @returns the new master's port
   */
  async waitForFailover (oldPort: number, timeoutMs = 20_000): Promise<number> {
    const started = Date.now()
    const listeners = this.sentinels.filter((s) => s.running).map((sentinel) => {
      const redis = new Redis({ host: '127.0.0.1', port: sentinel.port, maxRetriesPerRequest: 1, retryStrategy: () => null })
      redis.on('error', () => {})
      return redis
    })
    let switched = (): void => {}
    const aSwitch = new Promise<void>((resolve) => { switched = resolve })
    try {
      await Promise.all(listeners.map(async (redis) => {
        redis.on('message', () => { switched() })
        await redis.subscribe('+switch-master')
      }))
      for (;;) {
        const ports = await Promise.all(this.sentinels.filter((s) => s.running).map(async (sentinel) => {
          const answer = await this.#ask(sentinel.port, async (redis) => await redis.call('SENTINEL', 'get-master-addr-by-name', this.name) as [string, string] | null)
          return answer === null ? oldPort : Number(answer[1])
        }))
        const newPort = ports[0]
        if (newPort !== undefined && newPort !== oldPort && ports.every((p) => p === newPort) && (await this.role(newPort)).role === 'master') return newPort
        if (Date.now() - started > timeoutMs) throw new Error(`no failover from port ${oldPort} within ${timeoutMs} ms (sentinels say ${ports.join(', ')})`)
        // Until the next switch (some sentinels may have switched already), or a short while: a
        // promoted node may report its new role a moment after the sentinels announce it.
        await Promise.race([aSwitch, sleep(100)])
      }
    } finally {
      for (const redis of listeners) redis.disconnect()
    }
  }

  /**
   * Resolve once the node on `port` is a replica of `masterPort` with its link up (in sync), and
   * every running sentinel has seen it so (only then can they promote it). Polled: a replica announces nothing to its clients.
   */
  async waitForReplica (port: number, masterPort?: number, timeoutMs = 20_000): Promise<void> {
    const started = Date.now()
    for (;;) {
      const role = await this.role(port)
      if (role.role === 'slave' && role.linkUp === true && (masterPort === undefined || role.masterPort === masterPort)) break
      if (Date.now() - started > timeoutMs) throw new Error(`port ${port} is not an in-sync replica within ${timeoutMs} ms (${JSON.stringify(role)})`)
      await sleep(50)
    }
    await this.#waitForSentinelsToSee(port, masterPort ?? (await this.role(port)).masterPort ?? 0, timeoutMs)
  }

  /** Every running sentinel reports `port` as a healthy replica of `masterPort` (`SENTINEL REPLICAS`). */
  async #waitForSentinelsToSee (port: number, masterPort: number, timeoutMs = 20_000): Promise<void> {
    const started = Date.now()
    for (;;) {
      const views = await Promise.all(this.sentinels.filter((s) => s.running).map(async (sentinel) => {
        try {
          const replicas = await this.#ask(sentinel.port, async (redis) => await redis.call('SENTINEL', 'replicas', this.name) as string[][])
          const fields = replicas.map((entry) => new Map(entry.flatMap((value, i) => i % 2 === 0 ? [[value, entry[i + 1] ?? '']] : [])))
          const seen = fields.find((entry) => entry.get('port') === String(port))
          return seen?.get('flags') === 'slave' && seen.get('role-reported') === 'slave' && seen.get('master-link-status') === 'ok' && seen.get('master-port') === String(masterPort)
        } catch {
          return false
        }
      }))
      if (views.every(Boolean)) return
      if (Date.now() - started > timeoutMs) throw new Error(`the sentinels do not see port ${port} as an in-sync replica of ${masterPort} within ${timeoutMs} ms`)
      await sleep(100)
    }
  }

  /** Stop every process and remove their directories. */
  async destroy (): Promise<void> {
    await Promise.all([...this.sentinels, ...this.nodes.values()].map(async (p) => { await p.destroy() }))
  }

  /** Every sentinel knows the replica and can reach the quorum and the majority to authorise a failover. */
  async #waitForQuorum (timeoutMs = 20_000): Promise<void> {
    const started = Date.now()
    for (;;) {
      const ready = await Promise.all(this.sentinels.map(async (sentinel) => {
        try {
          return await this.#ask(sentinel.port, async (redis) => {
            const quorum = String(await redis.call('SENTINEL', 'ckquorum', this.name))
            const replicas = await redis.call('SENTINEL', 'replicas', this.name) as unknown[]
            return quorum.startsWith('OK 3 ') && replicas.length === 1
          })
        } catch {
          return false
        }
      }))
      if (ready.every(Boolean)) return
      if (Date.now() - started > timeoutMs) throw new Error(`the sentinels did not reach their quorum within ${timeoutMs} ms`)
      await sleep(100)
    }
  }

  #node (port: number): RedisProcess {
    const node = this.nodes.get(port)
    if (node === undefined) throw new Error(`no data node on port ${port}`)
    return node
  }

  /** Run `work` on a short-lived connection to `port`, closed after. */
  async #ask<T> (port: number, work: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: true, connectTimeout: 1000 })
    redis.on('error', () => {})
    try {
      return await work(redis)
    } finally {
      redis.disconnect()
    }
  }
}
