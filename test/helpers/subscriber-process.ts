/**
 * A WebSocket subscriber in another process, reading as fast as it can: it subscribes to one
 * channel and reports each frame it gets (and its close) as a line on stdout, so a test can see
 * what a healthy client that is not sharing the server's event loop receives.
 */
import { spawn } from 'node:child_process'
import { packageRoot } from '../../src/app/paths.js'
import type { TestLike } from './app.js'
import type { Frame } from './ws-client.js'

/** The child's program: plain JavaScript with `ws` from the package's own dependencies. */
const PROGRAM = `
import WebSocket from 'ws'
const [url, sub] = process.argv.slice(1)
const socket = new WebSocket(url)
const out = (line) => { process.stdout.write(JSON.stringify(line) + '\\n') }
socket.on('open', () => { out({ type: 'open' }) })
socket.on('message', (data) => {
  const frame = JSON.parse(data.toString())
  if (frame.type === 'welcome') socket.send(sub)
  out(frame.type === 'pub' ? { type: 'pub', channel: frame.channel, offset: frame.offset } : { type: frame.type, channel: frame.channel })
})
socket.on('close', (code, reason) => { out({ type: 'close', code, reason: reason.toString() }); process.exit(0) })
socket.on('error', (err) => { out({ type: 'error', message: err.message }) })
`

/** A running subscriber process and what it reported. */
export interface SubscriberProcess {
  /** Every frame it reported, in order (a `pub` with its channel and offset only). */
  readonly frames: Frame[]
  /** Resolve once `count` frames of `type` were reported. */
  waitFor: (type: string, count?: number, timeoutMs?: number) => Promise<Frame[]>
}

/**
 * Start a subscriber that connects to `url` and sends `sub` after its welcome; killed on teardown.
 * @param sub - the subscribe frame
 */
export function startSubscriber (t: TestLike, url: string, sub: Record<string, unknown>): SubscriberProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROGRAM, url, JSON.stringify(sub)], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  const frames: Frame[] = []
  let rest = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) if (line !== '') frames.push(JSON.parse(line) as Frame)
  })
  const waitFor = async (type: string, count = 1, timeoutMs = 10_000): Promise<Frame[]> => {
    const started = Date.now()
    for (;;) {
      const found = frames.filter((frame) => frame.type === type)
      if (found.length >= count) return found
      const closed = frames.find((frame) => frame.type === 'close')
      if (closed !== undefined || Date.now() - started > timeoutMs) {
        throw new Error(`expected ${count} "${type}" frame(s), got ${found.length}${closed === undefined ? ` within ${timeoutMs} ms` : `, then close ${String(closed.code)} ${String(closed.reason)}`}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  return { frames, waitFor }
}
