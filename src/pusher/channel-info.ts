/**
 * What the Pusher HTTP API says of an app's channels (`occupied`, `subscription_count`,
 * `user_count`, the users of a presence channel), read from the server's verbs, so the answer is
 * the whole cluster's: subscriptions summed over every live node (`channels()`), presence from
 * the adapter (`presence()`).
 */
import type { PresenceMember } from '../adapters/presence.js'
import type { ChannelSummary, RealtimeApi } from '../api/server-api.js'
import { UnknownChannelError } from '../errors.js'
import { fromInternalChannel, pusherChannelName, type ChannelNamespace } from '../protocols/pusher/channel-names.js'
import { PusherHttpError } from './http-answers.js'

/** The attributes an `info` parameter may ask for. */
export type InfoAttribute = 'user_count' | 'subscription_count'

/** What is said of one channel: only the attributes asked for. */
export interface ChannelAttributes {
  user_count?: number
  subscription_count?: number
}

/** Whether a Pusher channel is a presence channel (`presence-…`), the only kind with users. */
export const isPresenceChannel = (name: string): boolean => name.startsWith('presence-')

/** The attributes of an `info` parameter (`user_count,subscription_count`). */
export function infoAttributes (info: string | undefined): Set<InfoAttribute> {
  return new Set((info === undefined || info === '' ? [] : info.split(',')) as InfoAttribute[])
}

/** Refuse `user_count` on what is not a presence channel (Pusher answers 400 too). */
export function checkUserCount (attributes: ReadonlySet<InfoAttribute>, presence: boolean): void {
  if (attributes.has('user_count') && !presence) throw new PusherHttpError(400, 'user_count may only be requested for presence channels')
}

/** The counts of an app's channels, read through the server's verbs. */
export class ChannelInfo {
  readonly #realtime: RealtimeApi

  constructor (realtime: RealtimeApi) {
    this.#realtime = realtime
  }

  /** Every occupied channel of the app (its names), with its subscriptions on every node. */
  async occupied (app: ChannelNamespace): Promise<Map<string, ChannelSummary>> {
    const channels = new Map<string, ChannelSummary>()
    for (const summary of await this.#realtime.channels()) {
      const name = fromInternalChannel(app, summary.channel)
      if (name !== null && summary.subscribers > 0) channels.set(name, summary)
    }
    return channels
  }

  /** The members of an app's presence channel (none when no declaration matches it: nobody can be there). */
  async members (app: ChannelNamespace, name: string): Promise<PresenceMember[]> {
    try {
      return await this.#realtime.presence(pusherChannelName(app, name))
    } catch (err) {
      if (err instanceof UnknownChannelError) return []
      throw err
    }
  }

  /**
   * The attributes asked for of each of the app's channels named.
   * @param occupied - the app's occupied channels, when the caller has them already
   */
  async attributes (app: ChannelNamespace, names: readonly string[], asked: ReadonlySet<InfoAttribute>, occupied?: Map<string, ChannelSummary>): Promise<Record<string, ChannelAttributes>> {
    const answer: Record<string, ChannelAttributes> = {}
    const counts = asked.has('subscription_count') ? occupied ?? await this.occupied(app) : undefined
    for (const name of names) {
      const attributes: ChannelAttributes = {}
      if (counts !== undefined) attributes.subscription_count = counts.get(name)?.subscribers ?? 0
      if (asked.has('user_count') && isPresenceChannel(name)) attributes.user_count = (await this.members(app, name)).length
      answer[name] = attributes
    }
    return answer
  }
}
