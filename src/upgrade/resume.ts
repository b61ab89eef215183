/**
 * What a WebSocket upgrade asks to get back, read before the 101 (a `preHandler` on the upgrade
 * routes, after the gate admitted it): the channels its `channels` parameter lists, each from the
 * position it names. A resume token is never read here: it never travels in a URL (which reaches
 * access logs); `?resume=` is refused with 400 `FRT_RESUME_IN_URL` (recovery/resume-request.ts), and the
 * token comes in the socket's first message instead (recovery/resume-frames.ts).
 */
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { Identity } from '../auth/identity.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import { readResumeRequest } from '../recovery/resume-request.js'

/** What one upgrade asks to get back. */
export interface Resumption {
  /** Who is on the connection: the gate's identity. */
  identity: Identity
  /** Subscribed at once, in this order. */
  channels: ChannelListEntry[]
  /** Replay for the channels without a position. */
  rewind: number
}

/** What {@link UpgradeResumption} is made from. */
export interface UpgradeResumptionInit {
  /** The identity the gate resolved for the request (auth/identity.ts, the one resolver). */
  identityOf: (request: FastifyRequest) => Identity
  maxSubscriptionsPerConnection: number
}

/** See the module comment. */
export class UpgradeResumption {
  readonly #init: UpgradeResumptionInit
  /** Decided by the preHandler, taken by the handler (keyed by the raw request, which both see). */
  readonly #decided = new WeakMap<object, Resumption>()

  /** The `preHandler` of the upgrade routes; requests that are not upgrades pass untouched. */
  readonly preHandler: preHandlerAsyncHookHandler

  constructor (init: UpgradeResumptionInit) {
    this.#init = init
    this.preHandler = async (request) => {
      if (request.ws !== true) return
      const asked = readResumeRequest(request, init.maxSubscriptionsPerConnection)
      this.#decided.set(request.raw, { identity: init.identityOf(request), channels: asked.channels ?? [], rewind: asked.rewind })
    }
  }

  /**
   * What the upgrade of `request` asks for. An upgrade route without the preHandler (an app's own)
   * restores nothing and keeps its visitor.
   */
  take (request: FastifyRequest): Resumption {
    const decided = this.#decided.get(request.raw)
    if (decided !== undefined) {
      this.#decided.delete(request.raw)
      return decided
    }
    return { identity: this.#init.identityOf(request), channels: [], rewind: 0 }
  }
}
