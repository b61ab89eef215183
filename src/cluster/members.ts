/**
 * Which nodes are alive, known from the control messages themselves: every node says it is up
 * once a second ({@link ControlKind.ALIVE}), says hello when it starts (the others answer it at
 * once, so a new node knows them within a round trip), and says goodbye when it closes. A node
 * heard from within {@link SILENT_AFTER_BEATS} beats counts as alive; this node always does.
 * The request/reply helper waits for exactly these nodes, so a request ends as soon as every
 * live node has answered.
 */
import { realClock, type ClusterClock, type ClusterTimer } from './clock.js'
import { ControlKind } from './kinds.js'
import type { ControlRouter } from './router.js'

/** How often a node says it is up, in ms. */
export const BEAT_MS = 1000
/** A node not heard from for this many beats no longer counts as alive. */
export const SILENT_AFTER_BEATS = 3

/** See the module comment. */
export class ClusterMembers {
  readonly #router: ControlRouter
  readonly #clock: ClusterClock
  /** Other nodes, by id: when each was last heard from. */
  readonly #seen = new Map<string, number>()
  #timer: ClusterTimer | null = null
  #started = false

  constructor (router: ControlRouter, clock: ClusterClock = realClock) {
    this.#router = router
    this.#clock = clock
    router.onSeen = (nodeId) => { if (nodeId !== router.nodeId) this.#seen.set(nodeId, clock.now()) }
    router.on(ControlKind.ALIVE, (envelope) => {
      const hello = typeof envelope.body === 'object' && envelope.body !== null && (envelope.body as { hello?: unknown }).hello === true
      if (hello && envelope.from !== router.nodeId) this.#beat(envelope.from)
    })
    router.on(ControlKind.LEAVE, (envelope) => { this.#seen.delete(envelope.from) })
  }

  /** The live nodes' ids, this one first. */
  alive (): string[] {
    const since = this.#clock.now() - BEAT_MS * SILENT_AFTER_BEATS
    const ids = [this.#router.nodeId]
    for (const [id, at] of this.#seen) {
      if (at >= since) ids.push(id)
      else this.#seen.delete(id)
    }
    return ids
  }

  /** Say hello and start beating (once the router has its broker). */
  start (): void {
    if (this.#started) return
    this.#started = true
    this.#send({ hello: true })
    this.#schedule()
  }

  /** Stop beating and say goodbye (best effort: a dead node just falls silent). */
  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer)
    this.#timer = null
    await this.#router.send(ControlKind.LEAVE, null).catch(() => {})
  }

  #schedule (): void {
    const timer = this.#clock.setTimeout(() => {
      this.#beat()
      if (this.#started) this.#schedule()
    }, BEAT_MS)
    timer.unref?.()
    this.#timer = timer
  }

  /** A beat to every node, or an answer to one node's hello. */
  #beat (to?: string): void {
    this.#send({ hello: false }, to)
  }

  #send (body: { hello: boolean }, to?: string): void {
    // A lost beat only delays what the others know; the broker reports its own failures.
    this.#router.send(ControlKind.ALIVE, body, to === undefined ? {} : { to }).catch(() => {})
  }
}
