/**
 * What every live node says of itself, gathered on demand: a request to every node (the
 * cluster's request/reply), each node (itself included) answers with its report, and the answer
 * comes back as soon as every live node has answered, or at the deadline with the reports that
 * arrived (a node that died since it was last heard from simply does not answer).
 */
import { ControlKind } from '../cluster/kinds.js'
import type { ChannelService } from '../channels/channel-service.js'
import type { ClusterRequests } from '../cluster/requests.js'
import type { RealtimeNode } from '../node/realtime-node.js'
import type { NodeReport as NodeReportValue } from './server-api.js'

/** The longest the asking node waits for a live node's report, in ms. */
const DEADLINE_MS = 1000

const isReport = (value: unknown): value is NodeReportValue =>
  typeof value === 'object' && value !== null && typeof (value as NodeReportValue).nodeId === 'string'

/** See the module comment. */
export class NodeReports {
  readonly #requests: ClusterRequests

  /**
   * @param nodeId - this node's id (the cluster's)
   * @param node - this node's counters, read when asked
   * @param channels - this node's subscribers per channel, read when asked
   */
  constructor (requests: ClusterRequests, nodeId: string, node: Pick<RealtimeNode, 'stats'>, channels: Pick<ChannelService, 'localCounts'>) {
    this.#requests = requests
    requests.answer(ControlKind.NODES_QUERY, (): NodeReportValue => {
      const { connections, startedAt, uptimeMs, draining } = node.stats()
      return { nodeId, connections, channels: channels.localCounts(), startedAt, uptimeMs, draining }
    })
  }

  /** Every node that answered, sorted by id. */
  async all (): Promise<NodeReportValue[]> {
    const answers = await this.#requests.ask(ControlKind.NODES_QUERY, null, { deadlineMs: DEADLINE_MS })
    return answers.map((answer) => answer.body).filter(isReport).sort((a, b) => a.nodeId.localeCompare(b.nodeId))
  }
}
