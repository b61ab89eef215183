/**
 * The node's id: made once by the wiring and handed to every part that names this node to the
 * others (control messages, node reports, event-stream keys), so they all say the same.
 */
import { randomBytes } from 'node:crypto'

/** What a node id looks like: base64url, short enough for an event-stream key. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,16}$/

/** A fresh node id (8 base64url characters). */
export function createNodeId (): string {
  return randomBytes(6).toString('base64url')
}
