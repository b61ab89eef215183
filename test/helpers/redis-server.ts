/**
 * A private redis-server for tests: started on a free loopback port in a temp directory, so tests
 * can stop, kill and restart it without touching the machine's shared Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Find a free TCP port on 127.0.0.1. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/**
 * Run `redis-server <args>`; resolves once its log shows `readyLine` (a server's "Ready to accept
 * connections", a sentinel's "Sentinel ID is"), rejects with its output if it exits first.
 */
export async function startRedisProcess (args: string[], readyLine: string): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000)
    child.once('error', (err) => { clearTimeout(timer); reject(new Error(`redis-server could not be run (is it installed?): ${err.message}`)) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited with ${String(code)}:\n${output}`)) })
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(readyLine)) { clearTimeout(timer); resolve() }
    })
  })
  child.removeAllListeners('exit')
  // Keep reading its output (an unread pipe would block the server once full).
  child.stdout?.removeAllListeners('data')
  child.stdout?.resume()
  return child
}

/** Stop a redis-server child: send `signal` (SIGKILL is a crash: no goodbye to anyone) and resolve once it exited. */
export async function stopRedisProcess (child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  await exited
}

/** A redis-server child process the test controls. */
export class TestRedisServer {
  readonly port: number
  readonly dir: string
  #child: ChildProcess | null = null

  private constructor (port: number) {
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), 'rt-redis-'))
  }

  /** Start a server on a free port. */
  static async start (): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort())
    await server.restart()
    return server
  }

  /** `redis://127.0.0.1:<port>` */
  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Whether the process is running. */
  get running (): boolean {
    return this.#child !== null
  }

  /** (Re)start the server on the same port; resolves once it accepts connections. */
  async restart (): Promise<void> {
    if (this.#child !== null) return
    const child = await startRedisProcess(['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], 'Ready to accept connections')
    this.#child = child
    child.once('exit', () => { if (this.#child === child) this.#child = null })
  }

  /** Stop the server (SIGKILL simulates a crash: no goodbye to clients). */
  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child
    if (child === null) return
    this.#child = null
    await stopRedisProcess(child, signal)
  }

  /** Stop and remove the temp directory. */
  async destroy (): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}
