/**
 * The WebSocket's route and handler (the plugin registers them; @fastify/websocket routes the
 * upgrade through Fastify, so hooks, sessions and `request.ip` work on it as on any request).
 *
 * Any route that serves upgrades with {@link WebSocketEndpoint.handler} gets the upgrade gate and
 * the reading of what the upgrade asks to get back (upgrade/resume.ts): our own `<path>` and an
 * app's (the demo's `/`), in either form: `{ wsHandler: fastify.realtime.wsHandler }` beside a
 * page handler, or `{ websocket: true }` with it as the route's handler.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { WebSocket } from 'ws'
import type { RealtimeNode } from '../node/realtime-node.js'
import type { WireProtocol } from '../protocols/protocol.js'
import type { ResumeTokens } from '../recovery/resume-tokens.js'
import { WebSocketConnection } from '../transports/websocket.js'
import { clientIp } from '../upgrade/client-ip.js'
import type { UpgradeGate } from '../upgrade/gate.js'
import type { ReleaseUpgrade } from '../upgrade/release.js'
import type { UpgradeResumption } from '../upgrade/resume.js'
import type { ConnectionIntake } from './intake.js'

/** What the endpoint needs. */
export interface WebSocketEndpointInit {
  node: Pick<RealtimeNode, 'connectionShared'>
  /** What the sockets of this endpoint speak. @default ours */
  protocol?: WireProtocol
  gate: Pick<UpgradeGate, 'adopt' | 'onRequest'>
  resumption: Pick<UpgradeResumption, 'take' | 'preHandler'>
  /** Issues the token each welcome carries (a `resume` frame presents it after a reconnect). */
  resumeTokens: Pick<ResumeTokens, 'issue'>
  intake: Pick<ConnectionIntake, 'accept'>
  /** Lets go of the upgrade request once the socket is in service (upgrade/release.ts). */
  releaseUpgrade: ReleaseUpgrade
  /**
   * Whether the plugin registered @fastify/websocket itself: then the `error` listener it put on
   * each socket only repeats the connection's own error log, and is removed (upgrade/release.ts).
   */
  ownsWebsocket: boolean
}

/** A hook list as a route may give it: none, one, or several. */
function asList<H> (hooks: H | H[] | undefined): H[] {
  if (hooks === undefined) return []
  return Array.isArray(hooks) ? hooks : [hooks]
}

/** See the module comment. */
export class WebSocketEndpoint {
  readonly #init: WebSocketEndpointInit

  constructor (init: WebSocketEndpointInit) {
    this.#init = init
  }

  /** Takes an upgraded socket into service (`fastify.realtime.wsHandler`). */
  readonly handler = (socket: WebSocket, request: FastifyRequest): void => {
    const { node, protocol, gate, resumption, resumeTokens, intake, releaseUpgrade, ownsWebsocket } = this.#init
    const inherited = ownsWebsocket ? socket.listeners('error') : []
    // What the upgrade asks for (its `channels`) was read before the 101; a token comes in a `resume` frame.
    const { identity, channels, rewind } = resumption.take(request)
    // request.raw.socket is the TCP socket ws took over: raw frames go to it, and its `drain`
    // releases coalesced ticks. The connection wires the socket's events as it is made, before
    // any await, so nothing is missed.
    const connection = new WebSocketConnection(socket, request.raw.socket, node.connectionShared, { ip: clientIp(request), visitor: identity.visitor, requestId: request.id, ...(protocol === undefined ? {} : { protocol }) }, true)
    connection.holdsGateSlot = gate.adopt(request.raw.socket)
    intake.accept(connection, request, identity, { resume: resumeTokens.issue(connection.id) }, { entries: channels, rewind })
    // Nothing reads the request after this: let the socket stop retaining it.
    releaseUpgrade(request, socket, inherited)
  }

  /**
   * An `onRoute` hook: a route that serves our sockets gets the gate first and the resumption's
   * `preHandler` last. Added before @fastify/websocket's own onRoute hook, which replaces such a
   * route's handler with a wrapper.
   */
  readonly onRoute = (route: RouteOptions): void => {
    const servesOurSockets = route.wsHandler === this.handler || (route.websocket === true && (route.handler as unknown) === this.handler)
    if (!servesOurSockets) return
    route.onRequest = [this.#init.gate.onRequest, ...asList(route.onRequest)]
    // What the upgrade asks for is read before the 101 (a `?resume=` is refused there), once the gate admitted it.
    route.preHandler = [...asList(route.preHandler), this.#init.resumption.preHandler]
  }

  /** Register the WebSocket route on `routes` (a scope of its own, under the plugin's prefix). */
  readonly register = async (routes: FastifyInstance, { path }: { path: string }): Promise<void> => {
    routes.get(path, { websocket: true }, this.handler)
  }
}
