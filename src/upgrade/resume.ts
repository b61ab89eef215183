/**
 * What a WebSocket upgrade gets back, decided before the 101 (a `preHandler` on the upgrade
 * routes, after the gate admitted it): the channels its `channels` parameter lists, or, with a
 * resume token (`?resume=`), everything its old connection left (node/resume-store.ts), read
 * from the adapter on whichever node the reconnect lands.
 *
 * A token restores the old connection's visitor when the reconnect identifies nobody itself; one
 * whose connection belonged to another visitor than the reconnect's is not honoured. A token that
 * is not honoured (forged, expired, its state gone) is no error: the connection opens afresh and
 * its `welcome` says `resumed: false`. With `channels` as well, the list decides the channels and
 * positions (a client that knows its own positions) and the token only the identity.
 */
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { Identity } from '../auth/identity.js'
import type { ResumeStore } from '../node/resume-store.js'
import type { ResumeTokens } from '../node/resume-tokens.js'
import type { ChannelListEntry } from '../wire/channel-list.js'
import { readResumeRequest } from './resume-request.js'

/** What one upgrade resumes. */
export interface Resumption {
  /** Who is on the connection: the gate's identity, or the old connection's when that was nobody. */
  identity: Identity
  /** Subscribed at once, in this order. */
  channels: ChannelListEntry[]
  /** Replay for the channels without a position. */
  rewind: number
  /** Present when a token was presented: whether it was honoured. */
  resumed: boolean | undefined
}

/** What {@link UpgradeResumption} is made from. */
export interface UpgradeResumptionInit {
  tokens: ResumeTokens
  store: ResumeStore
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
      this.#decided.set(request.raw, await this.#decide(request))
    }
  }

  /**
   * What the upgrade of `request` resumes. An upgrade route without the preHandler (an app's own)
   * resumes nothing and keeps its visitor.
   */
  take (request: FastifyRequest): Resumption {
    const decided = this.#decided.get(request.raw)
    if (decided !== undefined) {
      this.#decided.delete(request.raw)
      return decided
    }
    return { identity: this.#init.identityOf(request), channels: [], rewind: 0, resumed: undefined }
  }

  async #decide (request: FastifyRequest): Promise<Resumption> {
    const { tokens, store, identityOf, maxSubscriptionsPerConnection } = this.#init
    const asked = readResumeRequest(request, maxSubscriptionsPerConnection)
    const identity = identityOf(request)
    const identified = identity.visitor
    const resumption: Resumption = { identity, channels: asked.channels ?? [], rewind: asked.rewind, resumed: undefined }
    if (asked.resume === undefined) return resumption
    resumption.resumed = false
    const checked = tokens.verify(asked.resume)
    if ('problem' in checked) {
      request.log.info({ reason: checked.problem }, 'resume token not honoured')
      return resumption
    }
    const state = await store.load(checked.connectionId)
    if (state === null) {
      request.log.info({ reason: 'nothing to resume', resumes: checked.connectionId }, 'resume token not honoured')
      return resumption
    }
    if (identified !== null && state.visitor !== null && identified.id !== state.visitor.id) {
      request.log.warn({ reason: 'another visitor', resumes: checked.connectionId }, 'resume token not honoured')
      return resumption
    }
    resumption.resumed = true
    // The old connection's visitor comes back only to a request that identifies nobody itself,
    // and one that came from a token only until that token's expiry (its deadline goes on).
    if (identified === null && state.visitor !== null) {
      if (state.expiresAt === null) resumption.identity = { visitor: state.visitor, expiresAt: null, source: 'session' }
      else if (state.expiresAt > Date.now()) resumption.identity = { visitor: state.visitor, expiresAt: state.expiresAt, source: 'token' }
      else request.log.info({ resumes: checked.connectionId }, 'resume: the token that identified the visitor has expired; resuming anonymously')
    }
    if (asked.channels === undefined) resumption.channels = state.channels
    request.log.debug({ resumes: checked.connectionId, channels: resumption.channels.length }, 'resuming')
    return resumption
  }
}
