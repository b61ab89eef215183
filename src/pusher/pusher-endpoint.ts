/**
 * Pusher's WebSocket routes, on the same port and behind the same gate as ours: `<path>/<key>`
 * for each app (a WebSocketEndpoint whose sockets speak that app's protocol object), and
 * `<path>/:key` for any other key. An unknown key is accepted and then refused in Pusher's way
 * (`pusher:error` 4001, close 4001): pusher-js keeps retrying an upgrade refused with an HTTP
 * status, and stops only on a close code from 4001 to 4099.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { WebSocket } from 'ws'
import { WebSocketEndpoint, type WebSocketEndpointInit } from '../endpoints/websocket-routes.js'
import { pusherError, PusherCode } from '../protocols/pusher/frames.js'
import type { PusherService } from './pusher-service.js'

/** How long a refused socket is given to answer the close before it is cut. */
const REFUSED_CLOSE_GRACE_MS = 5000

/** What the routes need: a WebSocketEndpoint's parts (without a protocol: each app has its own), and the service that knows the apps. */
export interface PusherEndpointsInit extends Omit<WebSocketEndpointInit, 'protocol'> {
  service: Pick<PusherService, 'protocols'>
}

/** See the module comment. */
export class PusherEndpoints {
  readonly #init: PusherEndpointsInit
  /** Each app's endpoint, by its key. */
  readonly #endpoints = new Map<string, WebSocketEndpoint>()

  constructor (init: PusherEndpointsInit) {
    this.#init = init
    const { service, ...parts } = init
    for (const [key, protocol] of service.protocols) this.#endpoints.set(key, new WebSocketEndpoint({ ...parts, protocol }))
  }

  /** Accept an upgrade for an unknown key, and refuse it as Pusher does (see the module comment). */
  readonly unknownKey = (socket: WebSocket, request: FastifyRequest): void => {
    const { key } = request.params as { key?: string }
    request.log.info({ key }, 'pusher: unknown app key refused')
    socket.send(pusherError(`Could not find app by key ${JSON.stringify(key ?? '')}.`, PusherCode.APP_NOT_FOUND))
    socket.close(PusherCode.APP_NOT_FOUND, 'App not found')
    setTimeout(() => { socket.terminate() }, REFUSED_CLOSE_GRACE_MS).unref()
  }

  /**
   * An `onRoute` hook: each app's route gets the gate and the resumption as ours does; the
   * unknown-key route gets the gate (its pacing and per-IP caps count those sockets too).
   */
  readonly onRoute = (route: RouteOptions): void => {
    for (const endpoint of this.#endpoints.values()) endpoint.onRoute(route)
    if (route.websocket === true && (route.handler as unknown) === this.unknownKey) {
      const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
      route.onRequest = [this.#init.gate.onRequest, ...hooks]
    }
  }

  /** Register the routes on `routes` (a scope of its own, under the plugin's prefix). */
  readonly register = async (routes: FastifyInstance, { path }: { path: string }): Promise<void> => {
    for (const [key, endpoint] of this.#endpoints) routes.get(`${path}/${key}`, { websocket: true }, endpoint.handler)
    routes.get(`${path}/:key`, { websocket: true }, this.unknownKey)
  }
}
