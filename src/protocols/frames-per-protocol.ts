/**
 * One message for many connections (a tick batch, a broadcast, a publication, a presence change,
 * a user's direct message), framed once per protocol in use, lazily: a protocol's frame is built
 * the first time one of its connections comes up, and the same bytes go to each of its
 * connections. A node that speaks one protocol (the common case) encodes exactly once per
 * fan-out, and pays one identity check per connection: the protocol of the last connection and
 * its frame are kept at hand, so nothing is looked up or allocated per connection.
 *
 * A protocol with no frame for the message (its `encode` answers null) gets nothing: its
 * connections are skipped, and that is not a failed send.
 */
import type { ServerMessage } from './ours/server-messages.js'
import type { WireProtocol } from './protocol.js'
import { textFrame, type FramePosition, type TextFrame } from './ws-frame.js'

/**
 * What a fan-out sends to: a connection, as far as framing goes (node/connection.ts's
 * `Connection` is one; named here so this folder imports nothing from node/, which builds on it).
 * @typeParam K - how the connection's send budget treats the frame (`SendKind`)
 */
export interface FrameReceiver<K> {
  /** The protocol the connection speaks. */
  readonly protocol: WireProtocol
  /** Send a frame built once, within the connection's budget. @returns whether it was handed on */
  sendFrame: (frame: TextFrame, kind: K) => boolean
}

/** One protocol's frame of the message, and how many connections took it. */
interface Framed {
  readonly protocol: WireProtocol
  /** Null: the protocol has no frame for this message. */
  readonly frame: TextFrame | null
  sent: number
}

/** See the module comment. Made per fan-out: it holds one message. */
export class FramesPerProtocol {
  readonly #message: ServerMessage
  readonly #position: FramePosition | undefined
  /** The entry of the last protocol asked for: with one protocol, the only one there is. */
  #last: Framed | null = null
  /** Every entry, once a second protocol came up (null until then: one protocol needs no list). */
  #all: Framed[] | null = null

  /**
   * @param message - the message every connection gets
   * @param position - the stream position its frames move a client to (a publication's own)
   */
  constructor (message: ServerMessage, position?: FramePosition) {
    this.#message = message
    this.#position = position
  }

  /**
   * The frame of the message in `protocol`, built on the first call for that protocol.
   * Throws what the protocol's `encode` throws (data that cannot be serialised).
   * @returns null when the protocol has no such frame
   */
  frameFor (protocol: WireProtocol): TextFrame | null {
    const last = this.#last
    return last !== null && last.protocol === protocol ? last.frame : this.#entryOf(protocol).frame
  }

  /**
   * Send the message to one connection, in its own protocol's frame.
   * @returns whether it was handed to the transport (false: refused, or no frame in its protocol)
   */
  send<K>(receiver: FrameReceiver<K>, kind: K): boolean {
    let entry = this.#last
    if (entry === null || entry.protocol !== receiver.protocol) entry = this.#entryOf(receiver.protocol)
    const frame = entry.frame
    if (frame === null || !receiver.sendFrame(frame, kind)) return false
    entry.sent++
    return true
  }

  /** Whether a frame was built for at least one protocol (someone was offered the message). */
  get framed (): boolean {
    if (this.#all !== null) return this.#all.some((entry) => entry.frame !== null)
    return this.#last !== null && this.#last.frame !== null
  }

  /**
   * Call `each` for every frame built, with how many connections took it through {@link send}:
   * one metrics report per protocol in use (one in all, with one protocol), never per connection.
   */
  report (each: (frame: TextFrame, sent: number) => void): void {
    if (this.#all === null) {
      const last = this.#last
      if (last !== null && last.frame !== null) each(last.frame, last.sent)
      return
    }
    for (const entry of this.#all) if (entry.frame !== null) each(entry.frame, entry.sent)
  }

  /** The entry of `protocol`, made (and the message encoded) the first time; it becomes the last. */
  #entryOf (protocol: WireProtocol): Framed {
    let entry: Framed | undefined
    if (this.#all !== null) {
      for (const candidate of this.#all) {
        if (candidate.protocol === protocol) {
          entry = candidate
          break
        }
      }
    }
    if (entry === undefined) {
      const text = protocol.encode(this.#message)
      entry = { protocol, frame: text === null ? null : textFrame(text, this.#position), sent: 0 }
      // A second protocol: from now on every entry is kept in the list.
      if (this.#last !== null) (this.#all ??= [this.#last]).push(entry)
    }
    this.#last = entry
    return entry
  }
}
