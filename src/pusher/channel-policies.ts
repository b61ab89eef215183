/**
 * The policies of Pusher's channels that no declaration matches (with the `pusher` option): what
 * Pusher's own rules say, by the channel's prefix, so a Pusher app needs no `channels` entry for
 * them. A declaration that matches a channel wins (its hooks, its history).
 *
 * - public (`orders`): anyone subscribes, only the server publishes;
 * - `private-`, `private-encrypted-`, `presence-`: private (a Pusher client signs with the app's
 *   secret; a client of our protocol needs a channel token, as for any private channel), presence
 *   listed on `presence-`;
 * - cache channels (`cache-`, `private-cache-`, `presence-cache-`, `private-encrypted-cache-`):
 *   the last publication is kept for 30 minutes.
 */
import { resolveChannel, type ChannelPolicy } from '../channels/policy.js'
import { channelKind, fromInternalChannel, type ChannelNamespace, type PusherChannelKind } from '../protocols/pusher/channel-names.js'

/** How long a cache channel keeps its last event (Pusher's 30 minutes). */
const CACHE_TTL_MS = 30 * 60 * 1000

function policyOf (kind: PusherChannelKind, cache: boolean): ChannelPolicy {
  const history = cache ? { historySize: 1, historyTtlMs: CACHE_TTL_MS } : {}
  const access = kind === 'public' ? {} : { private: true }
  return resolveChannel({ name: '*', ...access, ...(kind === 'presence' ? { presence: true } : {}), ...history }, 0)
}

/**
 * The fallback of the channel registry for these apps: the Pusher policy of a channel of one of
 * them (by its name inside), or undefined for any other name.
 */
export function pusherChannelPolicies (apps: readonly ChannelNamespace[]): (channel: string) => ChannelPolicy | undefined {
  const policies = new Map<string, ChannelPolicy>()
  for (const kind of ['public', 'private', 'presence', 'encrypted'] as const) {
    for (const cache of [false, true]) policies.set(`${kind}:${String(cache)}`, policyOf(kind, cache))
  }
  return (channel) => {
    for (const app of apps) {
      const name = fromInternalChannel(app, channel)
      if (name === null) continue
      const { kind, cache } = channelKind(name)
      return policies.get(`${kind}:${String(cache)}`)
    }
    return undefined
  }
}
