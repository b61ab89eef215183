/**
 * Every kind of control message between nodes, declared here and nowhere else, and the one
 * envelope they travel in. A feature names its kinds through {@link ControlKind}; a test scans
 * `src/` for these strings outside `cluster/`.
 */

declare const controlKind: unique symbol

/**
 * A kind: its string, branded, so only {@link ControlKind}'s values are kinds. A bare string
 * (`router.on('user.send', …)`) does not compile: every kind is declared here.
 */
export type Kind<Value extends string = string> = Value & { readonly [controlKind]: true }

const kind = <Value extends string>(value: Value): Kind<Value> => value as Kind<Value>

/** The kinds, by feature. The values are what travels (kept as they were on the wire). */
export const ControlKind = Object.freeze({
  /** A node says it is up (`body.hello`: it just started, answer it). */
  ALIVE: kind('cluster.alive'),
  /** A node is closing: stop counting it. */
  LEAVE: kind('cluster.leave'),
  /** The answer to a request, matched by its `id`. */
  REPLY: kind('cluster.reply'),
  /** A cluster-wide `broadcast` frame (the server API). */
  BROADCAST: kind('broadcast'),
  /** User targeting (users/): a `direct` frame, a kick, server-side (un)subscriptions. */
  USER_SEND: kind('user.send'),
  USER_DISCONNECT: kind('user.disconnect'),
  USER_SUBSCRIBE: kind('user.subscribe'),
  USER_UNSUBSCRIBE: kind('user.unsubscribe'),
  /** A request: every node answers with its report (the server API's `nodes`). */
  NODES_QUERY: kind('nodes.query'),
  /** A request to one node: hand this POSTed text to your event stream (transports/sse-relay.ts). */
  SSE_POST: kind('sse.post'),
  /** A request: whoever holds this resumable connection cuts it (recovery/resume-store.ts). */
  RESUME_TAKEOVER: kind('resume.takeover')
} as const)

/** One of {@link ControlKind}'s values. */
export type ControlKindName = typeof ControlKind[keyof typeof ControlKind]

const KINDS: ReadonlySet<string> = new Set<string>(Object.values(ControlKind))

/** Whether `value` is a known kind. */
export function isControlKind (value: unknown): value is ControlKindName {
  return typeof value === 'string' && KINDS.has(value)
}

/**
 * What every control message carries, one vocabulary for every kind: the sending node, the
 * node it is for (absent: every node), the request id (requests and their replies) and the body.
 */
export interface ControlEnvelope {
  kind: ControlKindName
  /** The sending node's id. */
  from: string
  /** The one node it is for; absent when it is for every node. */
  to?: string
  /** A request's id, repeated by its replies. */
  id?: string
  /** The kind's own fields (JSON). */
  body: unknown
}
