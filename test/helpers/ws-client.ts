/**
 * A `ws` client that records every frame and close, with helpers to await them.
 */
import WebSocket, { type ClientOptions } from 'ws'

/** A parsed server frame. */
export type Frame = Record<string, unknown> & { type: string }

/** A recording WebSocket client. */
export class RecordingClient {
  readonly socket: WebSocket
  readonly frames: Frame[] = []
  readonly receivedAt: number[] = []
  closeCode: number | null = null
  closeReason = ''
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number, reason: string }>

  constructor (url: string, options: ClientOptions = {}) {
    this.socket = new WebSocket(url, options)
    this.socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame)
      this.receivedAt.push(Date.now())
    })
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve())
      this.socket.once('error', reject)
    })
    this.closed = new Promise((resolve) => {
      this.socket.once('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        resolve({ code, reason: this.closeReason })
      })
    })
  }

  /** Frames of one type. */
  ofType (type: string): Frame[] {
    return this.frames.filter((frame) => frame.type === type)
  }

  /** Resolve once `count` frames of `type` have arrived. */
  async waitFor (type: string, count = 1, timeoutMs = 5000): Promise<Frame[]> {
    const started = Date.now()
    for (;;) {
      const found = this.ofType(type)
      if (found.length >= count) return found
      if (Date.now() - started > timeoutMs) throw new Error(`expected ${count} "${type}" frame(s) within ${timeoutMs} ms, got ${found.length}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** Close and wait for the close event. */
  async close (code = 1000, reason = ''): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(code, reason)
    await this.closed
  }
}

/** Open a client and wait for the open event. */
export async function connect (url: string, options: ClientOptions = {}): Promise<RecordingClient> {
  const client = new RecordingClient(url, options)
  await client.opened
  return client
}

/** Sleep. */
export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Open a client and present a resume token as its first message, as a bare WebSocket does (`{"type":"resume"}`, id `resume`). */
export async function resumeWith (url: string, token: string, options: ClientOptions = {}, extra: Record<string, unknown> = {}): Promise<RecordingClient> {
  const client = await connect(url, options)
  client.socket.send(JSON.stringify({ type: 'resume', token, id: 'resume', ...extra }))
  return client
}

/** The answer to a {@link resumeWith}'s frame: its `ack` (with `resumed`, `visitor`) or its `error`. */
export async function resumeAnswer (client: RecordingClient, timeoutMs = 5000): Promise<Frame> {
  const started = Date.now()
  for (;;) {
    const found = client.frames.find((frame) => frame.id === 'resume')
    if (found !== undefined) return found
    if (Date.now() - started > timeoutMs) throw new Error(`no answer to the resume frame within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The acks that answer subscriptions (each names its channel). */
export const channelAcks = (client: RecordingClient): Frame[] => client.ofType('ack').filter((frame) => typeof frame.channel === 'string')
