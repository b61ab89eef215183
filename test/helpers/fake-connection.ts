/**
 * A connection with an in-memory transport, for unit tests of what runs after the 101 (the node,
 * channels): it records the frames it is sent and lets a test play the client.
 */
import { Connection, type ConnectionShared } from '../../src/node/connection.js'
import type { Visitor } from '../../src/node/visitor.js'
import type { TextFrame } from '../../src/protocols/ws-frame.js'
import type { Frame } from './ws-client.js'

/** See the module comment. */
export class FakeConnection extends Connection {
  /** Every frame sent to this client, parsed. */
  readonly frames: Frame[] = []
  /** Every frame object handed to the transport (a frame built once for many is the same object). */
  readonly written: TextFrame[] = []
  /** Set by close(): the code and reason the server closed with. */
  closedWith: { code: number, reason: string } | null = null
  #open = true

  constructor (shared: ConnectionShared, visitor: Visitor | null = null) {
    super(shared, { ip: '127.0.0.1', visitor, requestId: 'req-test' })
  }

  /** The client sends a text frame. */
  clientSends (message: unknown): void {
    this.received(typeof message === 'string' ? message : JSON.stringify(message), false)
  }

  /** The client goes away. */
  clientCloses (code = 1000): void {
    this.#open = false
    this.ended(code, '')
  }

  /** Frames of one type. */
  ofType (type: string): Frame[] {
    return this.frames.filter((frame) => frame.type === type)
  }

  get isOpen (): boolean {
    return this.#open
  }

  get bufferedBytes (): number {
    return 0
  }

  protected get drainSource (): null {
    return null
  }

  protected write (frame: TextFrame): void {
    this.written.push(frame)
    this.frames.push(JSON.parse(frame.text) as Frame)
  }

  /** Nothing is ever waiting here: call back at once, as a drained socket would. */
  protected whenWritten (callback: () => void): void {
    queueMicrotask(callback)
  }

  close (code: number, reason = ''): void {
    if (!this.#open) return
    this.closedWith = { code, reason }
    this.clientCloses(code)
  }

  terminate (): void {
    this.clientCloses(1006)
  }

  ping (): void {}
}
