/**
 * What a resumable connection leaves behind for its resume token, in the adapter's shared state
 * (so any node can resume it), with a TTL (`resumeTtlMs`): its visitor, every channel it
 * subscribes to, and the position of the last frame this server wrote to it in each (frames
 * still in flight when the socket ended are not known; a client that sends its own positions in
 * its `resume` frame is exact, resume-frames.ts).
 *
 * Two forms. The full state (positions included) is saved when the connection ends and when the
 * node drains, never per frame. What changes rarely (the visitor, the set of channels) is also
 * saved while the connection is open, each time it changes (batched per event-loop turn) and
 * refreshed before its TTL runs out ({@link ResumeStore.refreshOpen}), marked `l` (live): after
 * a crash (SIGKILL, power loss) that is all there is, and its channels resume with no position
 * (each answered `recovered: false`, so the client knows), never as a silent fresh start. An
 * adapter whose state dies with this process (the memory adapter, `inProcess`) would lose the
 * live form in the same crash, so none is written there.
 *
 * A reconnect that finds no full state asks every live node to let go of the old connection (a
 * request, cluster/requests.ts): the node holding it cuts it, which saves it, answers yes, and
 * the reconnect reads the state a moment later. That covers a client that comes back before its
 * old node noticed it was gone; when no node holds it (its node is dead), the live form resumes.
 *
 * A token resumes once: its first presentation claims it in the adapter (atomic on every node,
 * {@link ResumeStore.claim}); a second is refused.
 */
import { ControlKind } from '../cluster/kinds.js'
import type { Answer, AskOptions } from '../cluster/requests.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import type { Connection } from '../node/connection.js'
import type { Visitor } from '../node/visitor.js'

/** What a resume restores. */
export interface ResumeState {
  visitor: Visitor | null
  /** When the visitor came from a token: its expiry (epoch ms), which a resume must not outlive. */
  expiresAt: number | null
  /** Each channel with where to resume it (absent: its subscribe had not been answered yet, or the state is {@link live}). */
  channels: ChannelListEntry[]
  /** Saved while the connection was open (its node died since): no position is proved. */
  live: boolean
}

/** What the store needs from the adapter. */
export interface ResumeAdapter {
  stateSet: (key: string, value: unknown, ttlMs: number) => Promise<void>
  stateGet: (key: string) => Promise<unknown>
  stateClaim: (key: string, value: unknown, ttlMs: number) => Promise<boolean>
}

/** What the store needs from the cluster: its request/reply (cluster/requests.ts). */
export interface ResumeCluster {
  ask: (kind: typeof ControlKind.RESUME_TAKEOVER, body: unknown, options: AskOptions) => Promise<Answer[]>
  answer: (kind: typeof ControlKind.RESUME_TAKEOVER, respond: (body: unknown) => unknown) => void
}

/** What {@link ResumeStore} is made from. */
export interface ResumeStoreOptions {
  adapter: ResumeAdapter
  /** Takeovers of connections held by another node. */
  cluster: ResumeCluster
  ttlMs: number
  /** The channels a connection is subscribing to and has not been answered for (they resume afresh). */
  pendingChannels: (connection: Connection) => string[]
  /** A connection of this node by id (for a takeover). */
  find: (id: string) => Connection | undefined
  /** A save failed (logged by the caller). */
  onError: (err: unknown, connection: Connection) => void
  /**
   * Whether open connections' live forms are saved: only worth it when the adapter's state
   * outlives this process (a crash of the node leaves them behind); false for an in-process one.
   * @default true
   */
  live?: boolean
}

/** Stored form: `{ v: visitor, x?: token expiry, c: [[channel, epoch, offset] | [channel]], l?: 1 (live) }`. */
interface Stored {
  v: Visitor | null
  x?: number
  c: Array<[string, string, number] | [string]>
  l?: 1
}

/** The longest a takeover waits for the node holding the connection to say it cut it, in ms. */
const TAKEOVER_DEADLINE_MS = 1000
/** Waits between reads after a takeover was asked (about 0.8 s in all). */
const TAKEOVER_READS_MS = [25, 50, 100, 200, 400]

/** The shared-state key of a connection's resume state. */
export function resumeKey (connectionId: string): string {
  return `resume:${connectionId}`
}

/** The shared-state key that records the one use of a connection's resume token. */
export function resumeUsedKey (connectionId: string): string {
  return `resume-used:${connectionId}`
}

function isVisitor (value: unknown): value is Visitor {
  if (typeof value !== 'object' || value === null) return false
  const { id, name } = value as Record<string, unknown>
  return typeof id === 'string' && (name === undefined || typeof name === 'string')
}

function parseStored (value: unknown): ResumeState | null {
  if (typeof value !== 'object' || value === null) return null
  const { v, x, c, l } = value as Partial<Stored>
  if ((v !== null && !isVisitor(v)) || !Array.isArray(c) || (x !== undefined && !Number.isSafeInteger(x))) return null
  const channels: ChannelListEntry[] = []
  for (const entry of c) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') return null
    if (entry.length === 1) channels.push({ channel: entry[0] })
    else if (typeof entry[1] === 'string' && Number.isSafeInteger(entry[2])) channels.push({ channel: entry[0], since: { epoch: entry[1], offset: entry[2] as number } })
    else return null
  }
  return { visitor: v ?? null, expiresAt: x ?? null, channels, live: l === 1 }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms).unref()) }

/** See the module comment. */
export class ResumeStore {
  readonly #options: ResumeStoreOptions
  /** Saves under way (a drain waits for them). */
  readonly #saving = new Set<Promise<void>>()
  /** Full saves under way, by connection id (a takeover of a connection that just closed waits for its own). */
  readonly #fullSaves = new Map<string, Promise<void>>()
  /** Open connections whose visitor or channel set changed this turn (saved together, once each). */
  readonly #changed = new Set<Connection>()
  /** Set once the node drains (or when live forms are not kept at all): its full saves must not be overwritten by a live form after them. */
  #stopped: boolean
  /** Refreshes the live forms of the open connections ({@link startLive}). */
  #liveTimer: NodeJS.Timeout | null = null

  constructor (options: ResumeStoreOptions) {
    this.#options = options
    this.#stopped = options.live === false
    options.cluster.answer(ControlKind.RESUME_TAKEOVER, (body) => this.#takeover(body))
  }

  /** Saves under way. */
  get saving (): number {
    return this.#saving.size
  }

  /** Save what a resumable connection has now (its positions, its subscribes in flight). */
  save (connection: Connection): void {
    if (!connection.resumable) return
    this.#changed.delete(connection)
    this.#write(connection, false)
  }

  /**
   * An open connection's visitor or channel set changed: save its live form (no positions) at the
   * end of this turn, so that a crash of its node leaves its identity and channels behind.
   */
  changed (connection: Connection): void {
    if (!connection.resumable || connection.closed || this.#stopped) return
    if (this.#changed.size === 0) setImmediate(() => { this.#saveChanged() }).unref()
    this.#changed.add(connection)
  }

  /**
   * Save the live form of every open connection that has something to resume (a visitor or a
   * channel) again, before its TTL runs out; the node calls it every half `resumeTtlMs`.
   */
  refreshOpen (connections: Iterable<Connection>): void {
    if (this.#stopped) return
    for (const connection of connections) {
      if (connection.resumable && !connection.closed && (connection.visitor !== null || (connection.positions?.size ?? 0) > 0)) this.#write(connection, true)
    }
  }

  /**
   * Record the one use of a connection's token, atomically across nodes.
   * @returns true for the first presentation, false when it was presented before
   */
  async claim (connectionId: string): Promise<boolean> {
    // Kept as long as the state it would resume can last: a live form refreshed, then a full one.
    return await this.#options.adapter.stateClaim(resumeUsedKey(connectionId), 1, 2 * this.#options.ttlMs)
  }

  /**
   * Refresh the live form of `connections` (a node's open ones) every half TTL, so that it
   * outlives neither its connection nor its TTL; until {@link stopLive}.
   */
  startLive (connections: Iterable<Connection>): void {
    if (this.#liveTimer !== null || this.#stopped) return
    this.#liveTimer = setInterval(() => { this.refreshOpen(connections) }, Math.max(500, Math.floor(this.#options.ttlMs / 2))).unref()
  }

  /** The node drains (or closes): from now on only full states are saved. */
  stopLive (): void {
    this.#stopped = true
    this.#changed.clear()
    if (this.#liveTimer !== null) clearInterval(this.#liveTimer)
    this.#liveTimer = null
  }

  #saveChanged (): void {
    if (this.#stopped) return
    for (const connection of this.#changed) if (!connection.closed) this.#write(connection, true)
    this.#changed.clear()
  }

  #write (connection: Connection, live: boolean): void {
    const positions = connection.positions
    const c: Stored['c'] = []
    // The live form names channels only: a position saved now would be stale after a crash.
    if (positions !== null) for (const [channel, { epoch, offset }] of positions.entries()) c.push(live ? [channel] : [channel, epoch, offset])
    if (!live) for (const channel of this.#options.pendingChannels(connection)) if (positions?.get(channel) === undefined) c.push([channel])
    const stored: Stored = { v: connection.visitor === null ? null : { id: connection.visitor.id, ...(connection.visitor.name === undefined ? {} : { name: connection.visitor.name }) }, c }
    if (live) stored.l = 1
    // A visitor established by a token is resumed only until that token's expiry.
    if (connection.tokenExpiresAt > 0) stored.x = connection.tokenExpiresAt
    const saving: Promise<void> = this.#options.adapter.stateSet(resumeKey(connection.id), stored, this.#options.ttlMs)
      .catch((err: unknown) => { this.#options.onError(err, connection) })
      .finally(() => {
        this.#saving.delete(saving)
        if (this.#fullSaves.get(connection.id) === saving) this.#fullSaves.delete(connection.id)
      })
    this.#saving.add(saving)
    if (!live) this.#fullSaves.set(connection.id, saving)
  }

  /** Follow another write to the adapter (a stream's cursor refresh): {@link flush} waits for it too. */
  track (writing: Promise<void>): void {
    const tracked = writing.catch(() => {}).finally(() => { this.#saving.delete(tracked) })
    this.#saving.add(tracked)
  }

  /** Settles once every save started so far is done. */
  async flush (): Promise<void> {
    await Promise.all([...this.#saving])
  }

  /**
   * The state a token's connection left. When no full state is saved yet (the old connection may
   * still be open somewhere), the node that holds it is asked to cut it (which saves it), and the
   * state is read again a few times; when no full state comes (its node is dead), the live form.
   * @returns the state, or null when there is none (expired, or the old node is gone without saving)
   */
  async load (connectionId: string): Promise<ResumeState | null> {
    const { adapter } = this.#options
    const key = resumeKey(connectionId)
    let found = parseStored(await adapter.stateGet(key))
    if (found !== null && !found.live) return found
    // Every live node is asked; the holder answers once it cut the connection, the others that
    // they do not hold it. When every live node says no, the old node is gone: nothing to wait for.
    const answers = await this.#options.cluster.ask(ControlKind.RESUME_TAKEOVER, { connection: connectionId }, {
      deadlineMs: TAKEOVER_DEADLINE_MS,
      enough: (sofar) => sofar.some((answer) => answer.body === true)
    })
    if (!answers.some((answer) => answer.body === true)) {
      // No node holds it: a save that ended since the first read is read once more.
      return parseStored(await adapter.stateGet(key)) ?? found
    }
    for (const wait of TAKEOVER_READS_MS) {
      await sleep(wait)
      const state = parseStored(await adapter.stateGet(key))
      if (state !== null && !state.live) return state
      found = state ?? found
    }
    return found
  }

  /**
   * Another node asks for one of this node's connections (it is being resumed there): cut it, and
   * answer yes once its state is on its way; yes too when it just closed and its full state is
   * being saved (answered once saved). No when this node does not hold it.
   */
  async #takeover (body: unknown): Promise<boolean> {
    const id = typeof body === 'object' && body !== null ? (body as { connection?: unknown }).connection : undefined
    if (typeof id !== 'string') return false
    const connection = this.#options.find(id)
    if (connection !== undefined && connection.resumable && !connection.closed) {
      // Cutting it saves it (its close does), positions as they stand when the cut is done.
      connection.terminate()
      return true
    }
    const saving = this.#fullSaves.get(id)
    if (saving === undefined) return false
    await saving
    return true
  }
}
