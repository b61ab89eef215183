/**
 * Process plumbing for the benchmark: forked children with request/response IPC, server CPU from
 * /proc (so the load generator's own cost is never counted), and latency percentiles.
 */
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100

/** A forked child answering `{ id, cmd }` requests with `{ id, … }`. */
export class Child {
  /**
   * @param {string} script path of the module to fork
   * @param {{ env?: object, execArgv?: string[], cwd?: string, quiet?: boolean }} options
   */
  constructor (script, options = {}) {
    this.nextId = 1
    this.waiting = new Map()
    this.exited = false
    this.process = fork(script, [], {
      env: options.env ?? process.env,
      execArgv: options.execArgv ?? [],
      cwd: options.cwd,
      // stdout (the servers' logs) goes to /dev/null: formatted, never printed.
      stdio: ['ignore', options.quiet === false ? 'inherit' : 'ignore', 'inherit', 'ipc']
    })
    this.ready = new Promise((resolve, reject) => {
      this.process.on('message', (message) => {
        if (message.ready) { resolve(message); return }
        const pending = this.waiting.get(message.id)
        if (pending === undefined) return
        this.waiting.delete(message.id)
        if (message.error) pending.reject(new Error(message.error))
        else pending.resolve(message)
      })
      this.process.once('exit', (code, signal) => {
        this.exited = true
        const error = new Error(`${script} exited (${code ?? signal})`)
        reject(error)
        for (const pending of this.waiting.values()) pending.reject(error)
        this.waiting.clear()
      })
    })
    // Workers never send `ready`; only servers do. Avoid an unhandled rejection for them.
    this.ready.catch(() => {})
  }

  /** The child's pid. */
  get pid () {
    return this.process.pid
  }

  /** Send a command and wait for its answer. */
  async request (cmd, fields = {}, timeoutMs = 600_000) {
    if (this.exited) throw new Error('child has exited')
    const id = this.nextId++
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`${cmd}: no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      })
      this.process.send({ id, cmd, ...fields })
    })
  }

  /** Stop the child (SIGTERM, then SIGKILL after a grace period) and wait for its exit. */
  async stop (graceMs = 3000) {
    if (this.exited) return
    const exited = new Promise((resolve) => this.process.once('exit', resolve))
    this.process.kill('SIGTERM')
    const timer = setTimeout(() => { if (!this.exited) this.process.kill('SIGKILL') }, graceMs)
    await exited
    clearTimeout(timer)
  }
}

/**
 * CPU time a process has used so far (user + system, all its threads), in seconds.
 * @param {number} pid
 */
export function cpuSeconds (pid) {
  const { user, system } = cpuTimes(pid)
  return user + system
}

/**
 * User and system CPU time of a process so far, in seconds.
 * @param {number} pid
 */
export function cpuTimes (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS }
}

/**
 * Resident set size of a process, in bytes.
 * @param {number} pid
 */
export function rssBytes (pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) * 1024 : NaN
}

/**
 * Merge sparse histograms of `[ms, count]` pairs.
 * @param {Array<Array<[number, number]>>} hists
 * @returns {Map<number, number>}
 */
export function mergeHists (hists) {
  const merged = new Map()
  for (const hist of hists) for (const [ms, n] of hist) merged.set(ms, (merged.get(ms) ?? 0) + n)
  return merged
}

/**
 * A percentile of a 1 ms-bucket histogram.
 * @param {Map<number, number>} hist
 * @param {number} p e.g. 0.99
 * @returns {number|null} milliseconds, or null when empty
 */
export function percentile (hist, p) {
  const keys = [...hist.keys()].sort((a, b) => a - b)
  let total = 0
  for (const key of keys) total += hist.get(key)
  if (total === 0) return null
  const rank = Math.ceil(p * total)
  let seen = 0
  for (const key of keys) {
    seen += hist.get(key)
    if (seen >= rank) return key
  }
  return keys[keys.length - 1]
}

/** Sleep. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
