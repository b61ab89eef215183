/**
 * A private Redis Cluster for tests: 3 masters + 3 replicas, each a real redis-server process on a
 * free loopback port in its own temp directory, so tests can SIGKILL a master, let its replica take
 * over, bring it back, and migrate slots, without touching the machine's shared Redis.
 *
 * Ready in ~2 s on this machine: `--repl-diskless-sync-delay 0` (else each replica sync waits 5 s)
 * and `cluster-node-timeout 2000` (a failover then takes ~2.5–4 s).
 */
import { execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, startRedisProcess, stopRedisProcess } from './redis-server.js'

const run = promisify(execFile)

/** How long the cluster may take to agree after a start, a failover or a migration (a guard, not a wait). */
const SETTLE_TIMEOUT_MS = 30_000

/** One redis-server of the cluster. */
class ClusterNodeProcess {
  readonly port: number
  readonly dir: string
  #child: ChildProcess | null = null

  constructor (port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  get running (): boolean {
    return this.#child !== null
  }

  /** (Re)start with the same port and nodes file: a restarted node rejoins (as a replica if it was failed over). */
  async start (nodeTimeoutMs: number): Promise<void> {
    if (this.#child !== null) return
    const child = await startRedisProcess([
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${this.port}.conf`, '--cluster-node-timeout', String(nodeTimeoutMs),
      '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'
    ], 'Ready to accept connections')
    this.#child = child
    child.once('exit', () => { if (this.#child === child) this.#child = null })
  }

  async stop (signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child === null) return
    this.#child = null
    await stopRedisProcess(child, signal)
  }
}

/** A slot and the master serving it. */
export interface SlotOwner {
  slot: number
  port: number
}

/** A 3-master + 3-replica Redis Cluster the test controls. */
export class TestRedisCluster {
  readonly #nodes: ClusterNodeProcess[]
  readonly #root: string
  readonly nodeTimeoutMs: number

  private constructor (nodes: ClusterNodeProcess[], root: string, nodeTimeoutMs: number) {
    this.#nodes = nodes
    this.#root = root
    this.nodeTimeoutMs = nodeTimeoutMs
  }

  /** Start six servers and make a cluster of them (3 masters, one replica each); resolves once every node says `cluster_state:ok`. */
  static async start (nodeTimeoutMs = 2000): Promise<TestRedisCluster> {
    const root = mkdtempSync(join(tmpdir(), 'rt-cluster-'))
    const ports: number[] = []
    while (ports.length < 6) {
      const port = await freePort()
      // Each node also listens on port + 10000 (the cluster bus): keep both free of each other.
      if (port <= 55_535 && !ports.some((p) => Math.abs(p - port) === 10_000 || p === port)) ports.push(port)
    }
    const nodes = ports.map((port) => new ClusterNodeProcess(port, mkdtempSync(join(root, `${port}-`))))
    const cluster = new TestRedisCluster(nodes, root, nodeTimeoutMs)
    try {
      await Promise.all(nodes.map(async (node) => { await node.start(nodeTimeoutMs) }))
      await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'])
      await cluster.settled()
    } catch (err) {
      await cluster.destroy()
      throw err
    }
    return cluster
  }

  /** Startup nodes for an ioredis Cluster: every port. */
  get nodes (): Array<{ host: string, port: number }> {
    return this.#nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  /** Ports of the running nodes. */
  get runningPorts (): number[] {
    return this.#nodes.filter((node) => node.running).map((node) => node.port)
  }

  /** Run one command on the node at `port` (a short-lived connection). */
  async command (port: number, ...args: Array<string | number>): Promise<unknown> {
    const [name = '', ...rest] = args.map(String)
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await redis.connect()
      return await redis.call(name, ...rest)
    } finally {
      redis.disconnect()
    }
  }

  /** The master serving `slot`, as the running nodes agree on it. */
  async masterOf (slot: number): Promise<number> {
    for (const port of this.runningPorts) {
      const slots = await this.command(port, 'CLUSTER', 'SLOTS').catch(() => null) as Array<[number, number, [string, number]]> | null
      const range = slots?.find(([from, to]) => slot >= from && slot <= to)
      if (range !== undefined) return Number(range[2][1])
    }
    throw new Error(`no running node knows the master of slot ${slot}`)
  }

  /** The running masters' ports. */
  async masters (): Promise<number[]> {
    const roles = await Promise.all(this.runningPorts.map(async (port) => [port, await this.command(port, 'ROLE').catch(() => null)] as const))
    return roles.filter(([, role]) => Array.isArray(role) && role[0] === 'master').map(([port]) => port)
  }

  /**
   * Resolve once every running node says `cluster_state:ok` and they agree on one master per slot
   * range; polls (there is no event to wait on), with a guard.
   */
  async settled (): Promise<void> {
    const started = Date.now()
    for (;;) {
      const states = await Promise.all(this.runningPorts.map(async (port) => String(await this.command(port, 'CLUSTER', 'INFO').catch(() => ''))))
      const views = await Promise.all(this.runningPorts.map(async (port) => JSON.stringify(
        ((await this.command(port, 'CLUSTER', 'SLOTS').catch(() => [])) as Array<[number, number, [string, number]]>)
          .map(([from, to, master]) => [from, to, master[1]]).sort((a, b) => Number(a[0]) - Number(b[0])))))
      if (states.every((info) => info.includes('cluster_state:ok')) && new Set(views).size === 1) return
      if (Date.now() - started > SETTLE_TIMEOUT_MS) throw new Error(`cluster not settled after ${SETTLE_TIMEOUT_MS} ms:\n${states.join('\n')}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** SIGKILL the node at `port` (a crash: no goodbye to clients or to the cluster). */
  async kill (port: number): Promise<void> {
    await this.#node(port).stop('SIGKILL')
  }

  /** Start the node at `port` again with its nodes file; it rejoins (a master that was failed over comes back as a replica). */
  async restart (port: number): Promise<void> {
    await this.#node(port).start(this.nodeTimeoutMs)
  }

  /** Wait until a replica has taken over from the killed master at `port` and the cluster is ok again. */
  async failedOver (port: number): Promise<void> {
    const started = Date.now()
    for (;;) {
      const masters = await this.masters()
      if (masters.length === 3 && !masters.includes(port)) break
      if (Date.now() - started > SETTLE_TIMEOUT_MS) throw new Error(`no replica took over from ${port} within ${SETTLE_TIMEOUT_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await this.settled()
  }

  /**
   * Move `slot` to the master at `to`, keys and all, as `redis-cli --cluster reshard` does:
   * IMPORTING/MIGRATING, MIGRATE of its keys in batches, then SETSLOT NODE everywhere.
   */
  async migrateSlot (slot: number, to: number): Promise<void> {
    const from = await this.masterOf(slot)
    if (from === to) return
    const id = async (port: number): Promise<string> => String(await this.command(port, 'CLUSTER', 'MYID'))
    const [fromId, toId] = await Promise.all([id(from), id(to)])
    await this.command(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId)
    await this.command(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId)
    for (;;) {
      const keys = await this.command(from, 'CLUSTER', 'GETKEYSINSLOT', slot, 100) as string[]
      if (keys.length === 0) break
      await this.command(from, 'MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys)
    }
    await this.command(to, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId)
    await this.command(from, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId)
    for (const port of await this.masters()) if (port !== from && port !== to) await this.command(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId)
    await this.settled()
  }

  /** Stop every server and remove the temp directories. */
  async destroy (): Promise<void> {
    await Promise.all(this.#nodes.map(async (node) => { await node.stop('SIGKILL') }))
    rmSync(this.#root, { recursive: true, force: true })
  }

  #node (port: number): ClusterNodeProcess {
    const node = this.#nodes.find((n) => n.port === port)
    if (node === undefined) throw new Error(`no cluster node on port ${port}`)
    return node
  }
}
