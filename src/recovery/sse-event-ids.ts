/**
 * The event ids of one event stream: every id says where the client stands in EVERY channel it
 * subscribes to, so the `Last-Event-ID` a browser sends back by itself resumes all of them at
 * once, on any node.
 *
 * While the list fits {@link MAX_INLINE_ID_BYTES} the id is the list itself
 * (`chat|Ht0Tj1vz|1a,prices|Q2x9aa0b|3`, see protocols/ours/channel-list.ts). Past that, the stream stores
 * its positions once in the adapter's shared state (a cursor, kept `resumeTtlMs`), and its ids
 * name that cursor plus only the channels that moved since (`~<cursor>~chat|Ht0Tj1vz|1b`); when
 * that delta grows past the limit too, a new cursor is stored. Ids are exact at every moment:
 * until a cursor is confirmed stored, ids keep the previous form, and a cursor's delta counts
 * every channel that moved after its snapshot was taken.
 */
import { formatChannelList, formatCursorId, parseEventId, type ChannelListEntry, type ParsedEventId } from '../protocols/ours/channel-list.js'
import type { StreamPosition } from '../adapters/adapter.js'
import { StreamPositions } from './stream-positions.js'

/** Longest event id written as a plain list; longer ones name a cursor. Browsers return it as a header. */
export const MAX_INLINE_ID_BYTES = 512

/** How long after a cursor could not be stored the stream tries again. */
const RETRY_STORE_MS = 5000

/** Where cursors are kept: the adapter's shared state. */
export interface CursorStore {
  stateSet: (key: string, value: unknown, ttlMs: number) => Promise<void>
  stateGet: (key: string) => Promise<unknown>
}

/** The shared-state key of a cursor. */
export function cursorKey (cursor: string): string {
  return `sse:${cursor}`
}

/** A stored cursor's value: its channels and their positions. */
type StoredCursor = Array<[channel: string, epoch: string, offset: number]>

function isStoredCursor (value: unknown): value is StoredCursor {
  return Array.isArray(value) && value.every((entry) => Array.isArray(entry) && entry.length === 3 &&
    typeof entry[0] === 'string' && typeof entry[1] === 'string' && Number.isSafeInteger(entry[2]))
}

/** What a stream id resolves to when its stream opens again. */
export interface ResolvedEventId {
  /** The channels to resume, each after its position. */
  entries: ChannelListEntry[]
  /** Whether the id named a cursor that is gone (expired): only its delta could be resumed. */
  cursorLost: boolean
}

/**
 * Turn a `Last-Event-ID` into the channels to resume, reading its cursor when it names one.
 * @returns the entries, or what is wrong with the id
 */
export async function resolveEventId (text: string, maxEntries: number, store: CursorStore): Promise<ResolvedEventId | string> {
  const parsed: ParsedEventId | string = parseEventId(text, maxEntries)
  if (typeof parsed === 'string') return parsed
  if (parsed.cursor === undefined) return { entries: parsed.entries, cursorLost: false }
  const stored = await store.stateGet(cursorKey(parsed.cursor))
  const base = new Map<string, ChannelListEntry>()
  if (isStoredCursor(stored)) for (const [channel, epoch, offset] of stored) base.set(channel, { channel, since: { epoch, offset } })
  for (const entry of parsed.entries) base.set(entry.channel, entry)
  for (const channel of parsed.dropped) base.delete(channel)
  return { entries: [...base.values()].slice(0, maxEntries), cursorLost: !isStoredCursor(stored) }
}

/** See the module comment. */
export class SseEventIds {
  /** The positions the ids are made of (the connection's `positions`). */
  readonly positions = new StreamPositions()
  readonly #streamId: string
  readonly #store: CursorStore
  readonly #ttlMs: number
  readonly #onStoreError: (err: unknown) => void
  /** The stored cursor the ids build on, with its positions; null: ids are plain lists. */
  #cursor: { name: string, snapshot: StoredCursor } | null = null
  /** Channels that moved or left since {@link #cursor}'s snapshot. */
  #moved = new Set<string>()
  /** A cursor being stored, with what moved since its snapshot was taken. */
  #storing: { name: string, moved: Set<string> } | null = null
  #stored = 0
  /** When storing a cursor last failed: the next attempt waits {@link RETRY_STORE_MS}. */
  #failedAt = -Infinity
  #id: string | null = null

  /**
   * @param streamId - the connection's id (cursor names start with it)
   * @param ttlMs - how long a cursor is kept after its last refresh
   * @param onStoreError - a cursor could not be stored (ids stay longer meanwhile)
   */
  constructor (streamId: string, store: CursorStore, ttlMs: number, onStoreError: (err: unknown) => void) {
    this.#streamId = streamId
    this.#store = store
    this.#ttlMs = ttlMs
    this.#onStoreError = onStoreError
    this.positions.onChange = (channel) => {
      this.#id = null
      this.#moved.add(channel)
      this.#storing?.moved.add(channel)
    }
  }

  /** The id of the stream's current positions (made again only after they changed). */
  current (): string {
    if (this.#id !== null) return this.#id
    const plain = formatChannelList(this.positions.toList())
    let id = plain
    if (Buffer.byteLength(plain) > MAX_INLINE_ID_BYTES) {
      if (this.#cursor !== null) id = this.#relative(this.#cursor.name)
      if (Buffer.byteLength(id) > MAX_INLINE_ID_BYTES) this.#storeCursor()
    }
    this.#id = id
    return id
  }

  /** Keep the current cursor for another `ttlMs` (the stream ended: the client may come back). */
  async refresh (): Promise<void> {
    if (this.#cursor === null) return
    await this.#store.stateSet(cursorKey(this.#cursor.name), this.#cursor.snapshot, this.#ttlMs)
  }

  /** Whether the ids name a stored cursor (for tests and logs). */
  get cursor (): string | null {
    return this.#cursor?.name ?? null
  }

  #relative (cursor: string): string {
    const moved: ChannelListEntry[] = []
    const dropped: string[] = []
    for (const channel of this.#moved) {
      const position: StreamPosition | undefined = this.positions.get(channel)
      if (position === undefined) dropped.push(channel)
      else moved.push({ channel, since: position })
    }
    return formatCursorId(cursor, moved, dropped)
  }

  #storeCursor (): void {
    if (this.#storing !== null || Date.now() - this.#failedAt < RETRY_STORE_MS) return
    const name = `${this.#streamId}.${(++this.#stored).toString(36)}`
    const snapshot: StoredCursor = [...this.positions.entries()].map(([channel, { epoch, offset }]) => [channel, epoch, offset])
    const storing = { name, moved: new Set<string>() }
    this.#storing = storing
    this.#store.stateSet(cursorKey(name), snapshot, this.#ttlMs).then(() => {
      if (this.#storing !== storing) return
      this.#cursor = { name, snapshot }
      this.#moved = storing.moved
      this.#storing = null
      this.#id = null
    }, (err: unknown) => {
      // Ids keep their previous form (longer, still exact); the next change tries again.
      if (this.#storing === storing) this.#storing = null
      this.#failedAt = Date.now()
      this.#onStoreError(err)
    })
  }
}
