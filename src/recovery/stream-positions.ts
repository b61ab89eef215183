/**
 * Where one connection's client stands in each channel it subscribes to, as the frames it was
 * sent say: a publication moves its channel to that publication's position, a subscribe's `ack`
 * places it where the replay starts, an unsubscribe takes it out. Transports that resume for their
 * client keep one: an event stream writes it into every event id, a WebSocket leaves it behind
 * (with its resume token) when it closes.
 *
 * It only knows what was handed to the transport, not what reached the client (no public API
 * says what the kernel took of a stream): a client that must be exact sends its own positions.
 */
import type { StreamPosition } from '../adapters/adapter.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import type { FramePosition } from '../protocols/ws-frame.js'

/** See the module comment. */
export class StreamPositions {
  /** Made on the first position: a socket that never subscribes pays for none. */
  #map: Map<string, StreamPosition> | null = null
  /** Told the name of every channel that moved or left (an event stream's cursor follows it). */
  onChange: ((channel: string) => void) | null = null

  get #positions (): Map<string, StreamPosition> {
    this.#map ??= new Map()
    return this.#map
  }

  /** Channels followed. */
  get size (): number {
    return this.#map?.size ?? 0
  }

  /** A channel's position, if followed. */
  get (channel: string): StreamPosition | undefined {
    return this.#map?.get(channel)
  }

  /** A frame that moves a channel was handed to the transport. */
  apply (position: FramePosition): void {
    this.#positions.set(position.channel, { epoch: position.epoch, offset: position.offset })
    this.onChange?.(position.channel)
  }

  /** The client left a channel. @returns whether it was followed */
  remove (channel: string): boolean {
    if (this.#map?.delete(channel) !== true) return false
    this.onChange?.(channel)
    return true
  }

  /** Every channel and its position, in the order they were first followed. */
  entries (): IterableIterator<[string, StreamPosition]> {
    return this.#positions.entries()
  }

  /** The positions as a channel list (each entry resumes after its position). */
  toList (): ChannelListEntry[] {
    return [...this.#positions].map(([channel, since]) => ({ channel, since }))
  }
}
