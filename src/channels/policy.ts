/**
 * Channel declarations: what an application passes in the `channels` option, their validation,
 * and the registry that finds the policy of a channel name (exact names first, then patterns in
 * the order they were declared). A channel nobody declared cannot be used.
 */
import type { FastifyRequest } from 'fastify'
import type { ConnectionInfo } from '../node/connection.js'
import { CHANNEL_NAME_PATTERN } from '../protocols/ours/client-messages.js'
import { Type } from '@sinclair/typebox'
import { InvalidOptionError } from '../errors.js'
import { aFunction, option, resolveTunable, TunableProblem, type OptionsOf, type ResolvedOptionsOf, type Tunable } from '../tunables.js'
import type { Visitor } from '../node/visitor.js'

/** What a channel hook learns about the request it decides on. */
export interface ChannelContext {
  /** The channel name the client asked for (a concrete name, never a pattern). */
  channel: string
  /** The connection asking. */
  connection: ConnectionInfo
  /** Its visitor (from the `identify` option), or null. */
  visitor: Visitor | null
  /**
   * The upgrade request of the connection: `request.session`, headers, `request.ip`. It is kept
   * for the socket's lifetime only when some declaration has a `canSubscribe` hook (holding every
   * upgrade request costs about 5 KB per socket); otherwise, and when the socket was accepted
   * without one, it is undefined. Hooks that only need the visitor should use `visitor`.
   */
  request: FastifyRequest | undefined
}

const allowEveryone = (): boolean => true

/**
 * Every field of a channel declaration but its name, once: its documentation comment (what an
 * editor shows on the field of {@link ChannelDefinition}), type, bounds, default and description
 * (the README's channel table is generated from it). Both {@link ChannelDefinition} and
 * {@link ChannelPolicy} are derived from these rows; `test/unit/channel-fields-types.test.ts`
 * checks every row has a comment and every field keeps its type.
 */
export const CHANNEL_FIELDS = Object.freeze({
  /**
   * Whether this client may subscribe (sync or async). A false answer, or a throw, is answered
   * with a `forbidden` error. @default () => true (anyone may subscribe)
   */
  canSubscribe: option({
    ...aFunction<(context: ChannelContext) => boolean | Promise<boolean>>(),
    default: allowEveryone,
    defaultText: 'anyone',
    description: '`({ channel, connection, visitor, request }) => boolean | Promise<boolean>`; false or a throw → `forbidden`.'
  }),
  /** Whether clients may publish with a `pub` frame (the server always may). @default false */
  clientPublish: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Whether clients may send `pub` frames (the server always may).'
  }),
  /**
   * Checks or rewrites what a client publishes, e.g. to stamp the author from the session.
   * Return the data to publish, or undefined to refuse it (`publish_rejected`).
   * @default data is published as sent
   */
  onClientPublish: option({
    ...aFunction<(context: ChannelContext, data: unknown) => unknown>(),
    default: undefined,
    defaultText: '—',
    description: '`(context, data) => data | undefined`: rewrite or refuse (`publish_rejected`) a client publication; needs `clientPublish`.'
  }),
  /** How many publications are kept for recovery and rewind; 0 keeps none. @default 0 */
  historySize: option({
    schema: Type.Integer({ minimum: 0, maximum: 10_000 }),
    default: 0,
    description: 'Publications kept for recovery and `rewind`; 0 keeps none.'
  }),
  /** How long a kept publication stays recoverable, in milliseconds. @default 300000 (5 min) */
  historyTtlMs: option({
    schema: Type.Integer({ minimum: 1000, maximum: 7 * 24 * 60 * 60 * 1000 }),
    default: 5 * 60 * 1000,
    unit: 'milliseconds',
    description: 'How long a kept publication stays recoverable.'
  }),
  /** Whether subscribers see who else is subscribed (presence frames). @default false */
  presence: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Subscribers get a snapshot of who is there, then join and leave frames.'
  }),
  /**
   * A private channel: a client `sub` must carry a channel token, a signed grant whose `channel`
   * claim is this channel and whose `sub` is the subscriber's visitor id (checked statelessly, on
   * any node); `canSubscribe`, when set, runs too. The subscription ends at the grant's `exp`
   * (`unsubscribed` with `token_expired`). Needs a token key (`jwtSecret`, `jwtPublicKey` or
   * `jwksUrl`). Server-side subscriptions need no grant. @default false
   */
  private: option({
    schema: Type.Boolean(),
    default: false,
    description: 'A client `sub` must carry a channel token (a signed grant: `channel`, `sub` = the visitor id, `exp`), else `token_required` / `token_invalid`; `canSubscribe` runs too; the subscription ends at the grant\'s `exp` (`unsubscribed`, `token_expired`). Needs a token key.'
  }),
  /**
   * Only the server subscribes connections to this channel (the `subscribe` option,
   * `fastify.realtime.subscribeUser`): a client's `sub` is refused with `server_only`, whoever asks,
   * so a per-user channel (`inbox:*`) cannot be read by another client. @default false
   */
  serverOnly: option({
    schema: Type.Boolean(),
    default: false,
    description: 'Only the server subscribes to it (the `subscribe` option, `fastify.realtime.subscribeUser`); a client `sub` is refused (`server_only`), whoever sends it. For per-user channels such as `inbox:*`.'
  })
})

/**
 * One channel, or a family of channels by pattern, as the application declares it: its name and
 * every row of {@link CHANNEL_FIELDS}, optional, typed and documented by the row.
 */
export interface ChannelDefinition extends OptionsOf<typeof CHANNEL_FIELDS> {
  /**
   * The channel name (`'chat'`) or a pattern where `*` matches any run of characters
   * (`'room:*'`, `'user:*:inbox'`). Same characters as channel names, plus `*`.
   */
  name: string
}

/** A declaration after validation, with its defaults applied (every field present, read-only). Frozen. */
export interface ChannelPolicy extends ResolvedOptionsOf<typeof CHANNEL_FIELDS> {
  readonly name: string
}

const DEFINITION_KEYS = ['name', ...Object.keys(CHANNEL_FIELDS)]
const CHANNEL_NAME = new RegExp(CHANNEL_NAME_PATTERN)
const DECLARED_NAME = /^[A-Za-z0-9_\-.:/@$*]{1,128}$/

/**
 * Whether a string is a valid channel name.
 * @param name - the candidate
 */
export function isChannelName (name: string): boolean {
  return CHANNEL_NAME.test(name)
}

function patternToRegExp (pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.$/\\^+?()[\]{}|-]/g, '\\$&'))
  return new RegExp(`^${escaped.join('.*')}$`)
}

/**
 * Validate one channel declaration.
 * @param raw - what the application wrote
 * @param index - its position in `channels`, for error messages
 * @throws InvalidOptionError naming `channels[i].field`
 */
export function resolveChannel (raw: unknown, index: number): ChannelPolicy {
  const at = `channels[${index}]`
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidOptionError(at, 'expected an object like { name: "chat" }')
  const definition = raw as Record<string, unknown>
  for (const key of Object.keys(definition)) {
    if (!DEFINITION_KEYS.includes(key)) throw new InvalidOptionError(`${at}.${key}`, `unknown field; known fields are ${DEFINITION_KEYS.join(', ')}`)
  }
  const name = definition.name
  if (typeof name !== 'string' || !DECLARED_NAME.test(name)) {
    throw new InvalidOptionError(`${at}.name`, `expected 1–128 characters of letters, digits, _ - . : / @ $ and the wildcard *, got ${JSON.stringify(name)}`)
  }
  const fields: Record<string, unknown> = { name }
  for (const [field, tunable] of Object.entries(CHANNEL_FIELDS) as Array<[string, Tunable]>) {
    const value = resolveTunable(tunable, definition[field])
    if (value instanceof TunableProblem) throw new InvalidOptionError(`${at}.${field}`, value.toString())
    fields[field] = value
  }
  const policy = fields as unknown as ChannelPolicy
  if (policy.onClientPublish !== undefined && !policy.clientPublish) {
    throw new InvalidOptionError(`${at}.onClientPublish`, 'is set but clientPublish is false, so it would never run; set clientPublish: true')
  }
  if (policy.serverOnly && policy.canSubscribe !== allowEveryone) {
    throw new InvalidOptionError(`${at}.canSubscribe`, 'is set but serverOnly is true, so no client sub reaches it; remove one of them')
  }
  if (policy.serverOnly && policy.private) {
    throw new InvalidOptionError(`${at}.private`, 'is true but serverOnly is true, so no client sub (and no channel token) is ever taken; remove one of them')
  }
  return Object.freeze(policy)
}

/** Finds the policy of a channel name: exact declarations first, then patterns in declaration order. */
export class ChannelRegistry {
  readonly #exact = new Map<string, ChannelPolicy>()
  readonly #patterns: Array<{ test: RegExp, policy: ChannelPolicy }> = []
  readonly #policies: readonly ChannelPolicy[]
  readonly #fallback: ((channel: string) => ChannelPolicy | undefined) | null

  /**
   * @param policies - validated declarations
   * @param fallback - the policy of a name no declaration matches (Pusher's channels by prefix), if any
   * @throws InvalidOptionError when a name is declared twice
   */
  constructor (policies: readonly ChannelPolicy[], fallback: ((channel: string) => ChannelPolicy | undefined) | null = null) {
    this.#policies = policies
    this.#fallback = fallback
    const seen = new Set<string>()
    for (const [index, policy] of policies.entries()) {
      if (seen.has(policy.name)) throw new InvalidOptionError(`channels[${index}].name`, `"${policy.name}" is declared twice`)
      seen.add(policy.name)
      if (policy.name.includes('*')) this.#patterns.push({ test: patternToRegExp(policy.name), policy })
      else this.#exact.set(policy.name, policy)
    }
  }

  /**
   * The same declarations, with `fallback` giving the policy of a name none of them matches
   * (with the `pusher` option: Pusher's channels, by their prefix).
   */
  withFallback (fallback: (channel: string) => ChannelPolicy | undefined): ChannelRegistry {
    return new ChannelRegistry(this.#policies, fallback)
  }

  /** Whether some declaration is private (it needs channel tokens, so a token key). */
  get hasPrivate (): boolean {
    return [...this.#exact.values(), ...this.#patterns.map((pattern) => pattern.policy)].some((policy) => policy.private)
  }

  /** Whether some declaration has its own `canSubscribe` hook (which may read the upgrade request). */
  get hasSubscribeHooks (): boolean {
    return [...this.#exact.values(), ...this.#patterns.map((pattern) => pattern.policy)].some((policy) => policy.canSubscribe !== allowEveryone)
  }

  /** Number of declarations. */
  get size (): number {
    return this.#exact.size + this.#patterns.length
  }

  /**
   * The policy of a concrete channel name.
   * @returns the policy, or undefined when no declaration matches (or the name is invalid)
   */
  match (channel: string): ChannelPolicy | undefined {
    const exact = this.#exact.get(channel)
    if (exact !== undefined) return exact
    if (!isChannelName(channel)) return undefined
    return this.#patterns.find((pattern) => pattern.test.test(channel))?.policy ?? this.#fallback?.(channel)
  }
}

/**
 * Validate the `channels` option.
 * @throws InvalidOptionError naming the bad declaration
 */
export function resolveChannels (value: unknown): ChannelRegistry {
  if (value === undefined) return new ChannelRegistry([])
  if (!Array.isArray(value)) throw new InvalidOptionError('channels', 'expected an array of channel declarations like [{ name: "chat" }]')
  return new ChannelRegistry(value.map((definition, index) => resolveChannel(definition, index)))
}
