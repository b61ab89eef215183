/**
 * The cluster part of a node, made once by the wiring: its id, the router of control messages,
 * which nodes are alive, and the request/reply helper. Every part that talks to other nodes is
 * given this one object's pieces, so they all name this node the same way.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ClusterMembers } from './members.js'
import { createNodeId, NODE_ID_PATTERN } from './node-id.js'
import { ClusterRequests } from './requests.js'
import { ControlRouter } from './router.js'

/** See the module comment. */
export class Cluster {
  readonly nodeId: string
  readonly router: ControlRouter
  readonly members: ClusterMembers
  readonly requests: ClusterRequests

  /**
   * @param brokerNodeId - the id the broker already names this node by (RedisAdapter's `nodeId`),
   * reused when it fits a node id (an event-stream key's part), so logs and Redis say the same
   */
  constructor (log: FastifyBaseLogger, brokerNodeId?: string) {
    this.nodeId = brokerNodeId !== undefined && NODE_ID_PATTERN.test(brokerNodeId) ? brokerNodeId : createNodeId()
    this.router = new ControlRouter(this.nodeId, log)
    this.members = new ClusterMembers(this.router)
    this.requests = new ClusterRequests(this.router, () => this.members.alive())
  }

  /** The broker is connected (the router has it): say hello and keep saying this node is up. */
  start (): void {
    this.members.start()
  }

  /** Say goodbye (before the broker closes). */
  async stop (): Promise<void> {
    await this.members.stop()
  }
}
