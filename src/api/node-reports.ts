/**
 * What every live node says of itself, gathered on demand through control messages: the asking
 * node sends a query, each node (itself included) answers with its report, and the answers that
 * arrive within a short window are the nodes that are up. No registry to keep: a dead node simply
 * does not answer.
 */
import { randomBytes } from 'node:crypto'
import type { ControlMessage } from '../adapters/broker.js'
import type { ControlRouter } from '../node/control.js'
import type { NodeReport as NodeReportValue } from './server-api.js'

/** How long the asking node collects answers, in ms. */
const COLLECT_MS = 250

/** See the module comment. */
export class NodeReports {
  readonly #nodeId: string
  readonly #router: ControlRouter
  readonly #report: () => NodeReportValue
  readonly #waiting = new Map<string, NodeReportValue[]>()

  /**
   * @param report - this node's report, made when asked
   */
  constructor (nodeId: string, router: ControlRouter, report: () => NodeReportValue) {
    this.#nodeId = nodeId
    this.#router = router
    this.#report = report
    router.on('nodes.query', (message) => { this.#answer(message) })
    router.on('nodes.report', (message) => { this.#collect(message) })
  }

  /** Every node that answered within the window, sorted by id. */
  async all (): Promise<NodeReportValue[]> {
    const requestId = randomBytes(8).toString('base64url')
    const answers: NodeReportValue[] = []
    this.#waiting.set(requestId, answers)
    try {
      await this.#router.send({ kind: 'nodes.query', requestId, replyTo: this.#nodeId })
      await new Promise((resolve) => setTimeout(resolve, COLLECT_MS))
    } finally {
      this.#waiting.delete(requestId)
    }
    return answers.sort((a, b) => a.nodeId.localeCompare(b.nodeId))
  }

  #answer (message: ControlMessage): void {
    this.#router.send({ kind: 'nodes.report', requestId: message.requestId, to: message.replyTo, report: this.#report() }).catch(() => {})
  }

  #collect (message: ControlMessage): void {
    if (message.to !== this.#nodeId || typeof message.requestId !== 'string') return
    this.#waiting.get(message.requestId)?.push(message.report as NodeReportValue)
  }
}
