/**
 * The one request/reply between nodes: send a request to every node (or one), collect the
 * answers, matched by the request's id, until every node that should answer has (the one node
 * asked, or every live node: {@link ClusterMembers}), until the caller has enough, or until the
 * deadline, whichever comes first. Node reports, the event-stream relay and the resume takeover
 * are requests; a node answers a kind with the function it registered for it.
 */
import { randomBytes } from 'node:crypto'
import { realClock, type ClusterClock } from './clock.js'
import { ControlKind, type ControlKindName } from './kinds.js'
import type { ControlRouter } from './router.js'

/** One node's answer. */
export interface Answer {
  /** The answering node's id. */
  from: string
  body: unknown
}

/** How a request is sent and when it ends. */
export interface AskOptions {
  /** One node's id; absent: every node, this one included. */
  to?: string
  /** The longest the request waits for answers, in ms. */
  deadlineMs: number
  /** Ends the request early once the answers so far are enough (e.g. one node said yes). */
  enough?: (answers: readonly Answer[]) => boolean
}

/** What a request waits for. */
interface Pending {
  expected: Set<string>
  answers: Answer[]
  enough: ((answers: readonly Answer[]) => boolean) | undefined
  done: () => void
}

/** See the module comment. */
export class ClusterRequests {
  readonly #router: ControlRouter
  readonly #alive: () => readonly string[]
  readonly #clock: Pick<ClusterClock, 'setTimeout' | 'clearTimeout'>
  readonly #pending = new Map<string, Pending>()

  /**
   * @param alive - the ids of the nodes alive now (this one included): who a request to every node waits for
   */
  constructor (router: ControlRouter, alive: () => readonly string[], clock: Pick<ClusterClock, 'setTimeout' | 'clearTimeout'> = realClock) {
    this.#router = router
    this.#alive = alive
    this.#clock = clock
    router.on(ControlKind.REPLY, (envelope) => {
      const pending = envelope.id === undefined ? undefined : this.#pending.get(envelope.id)
      if (pending === undefined || pending.answers.some((answer) => answer.from === envelope.from)) return
      pending.answers.push({ from: envelope.from, body: envelope.body })
      pending.expected.delete(envelope.from)
      if (pending.expected.size === 0 || pending.enough?.(pending.answers) === true) pending.done()
    })
  }

  /** Requests waiting for answers (for leak checks). */
  get waiting (): number {
    return this.#pending.size
  }

  /**
   * Answer the requests of `kind` with what `respond` returns for their body (a throw or a
   * rejection is no answer: the asker's deadline covers it).
   */
  answer (kind: ControlKindName, respond: (body: unknown, from: string) => unknown): void {
    this.#router.on(kind, (envelope) => {
      const { id, from } = envelope
      if (id === undefined) return
      Promise.resolve()
        .then(() => respond(envelope.body, from))
        .then(async (body) => { await this.#router.send(ControlKind.REPLY, body, { to: from, id }) })
        .catch(() => {})
    })
  }

  /**
   * Send a request and collect its answers (see the module comment).
   * @returns the answers that arrived, in arrival order (none when it could not be sent)
   */
  async ask (kind: ControlKindName, body: unknown, options: AskOptions): Promise<Answer[]> {
    const id = randomBytes(9).toString('base64url')
    const expected = new Set(options.to === undefined ? this.#alive() : [options.to])
    const answers: Answer[] = []
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#clock.clearTimeout(timer)
        this.#pending.delete(id)
        resolve()
      }
      const timer = this.#clock.setTimeout(done, options.deadlineMs)
      this.#pending.set(id, { expected, answers, enough: options.enough, done })
      this.#router.send(kind, body, options.to === undefined ? { id } : { to: options.to, id }).catch(done)
    })
    return answers
  }
}
