/**
 * The shared-state part of the adapter contract: small JSON values every node reads and writes
 * (resume state, event-stream cursors, pending webhook leaves), one-winner claims (a resume
 * token's single use), and channel occupancy across nodes, reported as lifecycle events.
 */
import type { PresenceMember } from './presence.js'

/**
 * A change in a channel's life, as webhooks report it: the channel gained its first subscriber
 * (on any node) or lost its last; a visitor joined (their first connection) or left (their last,
 * whether it closed or expired on a node that died). Each is told to ONE node: the one whose
 * operation caused it, or whose sweep found it.
 */
export type LifecycleEvent =
  | { type: 'channel.occupied' | 'channel.vacated', channel: string }
  | { type: 'presence.join' | 'presence.leave', channel: string, member: PresenceMember }

/**
 * How occupancy reaches the node. A full adapter keeps occupancy with the subscriptions and
 * presence it already shares (the broker's `subscribe` marks it, presence entries count as
 * members), so it is the adapter that calls this; a broker alone never needs to.
 */
export interface StateHandler {
  /** A lifecycle change of a channel, on exactly one node across all of them. Absent: nobody listens. */
  onLifecycle?: (event: LifecycleEvent) => void
}

/** JSON values shared by every node, each with a time to live. Every method may be asynchronous. */
export interface SharedState {
  /**
   * True when the values live in this process only and die with it (the memory adapter): then
   * nothing is written only to outlive a crash of this node (an open connection's live resume
   * state). Absent or false: they outlive the process (Redis).
   */
  readonly inProcess?: boolean
  /** Keep a JSON value under `key` for `ttlMs`, replacing what was there (shared by every node). */
  stateSet: (key: string, value: unknown, ttlMs: number) => Promise<void>
  /**
   * Keep a JSON value under `key` for `ttlMs` only if nothing is there: the one node (or request)
   * that gets true is the one that claimed it (do a thing once across nodes).
   * @returns whether this call stored it
   */
  stateClaim: (key: string, value: unknown, ttlMs: number) => Promise<boolean>
  /** The value kept under `key`, or undefined when there is none (or it expired). */
  stateGet: (key: string) => Promise<unknown>
  /** Forget what is kept under `key`. */
  stateDelete: (key: string) => Promise<void>
}
