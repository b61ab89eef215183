/**
 * The `resume` frame: a WebSocket's first protocol message, `{"type":"resume","token":"…"}`,
 * which brings back what the connection of that token left (resume-store.ts), on whichever node
 * the reconnect lands. A token never travels in a URL (which reaches access logs).
 *
 * - A token resumes once: the first presentation claims it in the adapter (atomically, so two
 *   nodes never both honour it); a second is refused with `resume_token_used`, and the socket
 *   stays as it was (no identity, no channels). A token read from a log is a used token.
 * - Only as the first protocol message (`resume_not_first` otherwise): what follows it runs as
 *   the identity it restores (the connection's next messages are held meanwhile).
 * - The old connection's visitor comes back only to a socket that identifies nobody itself (no
 *   cookie, no bearer), and one that came from a token only until that token's expiry; a socket
 *   identified as another visitor is not resumed.
 * - A token that is not honoured for any other reason (forged, expired, its state gone, another
 *   visitor) is no error: the answer says `resumed: false`.
 *
 * The answer is an `ack` (with the frame's `id`, if any) carrying `resumed` and `visitor`, then
 * each channel is answered as a `sub` (an `ack` with `recovered`). With `channels` in the frame,
 * they decide the channels and positions (a client that keeps its own) and the token only the
 * identity. After a crash of the old node (only the live form was saved), every channel is
 * answered `recovered: false`: its position cannot be proved.
 */
import type { StreamPosition } from '../adapters/adapter.js'
import type { Identity } from '../auth/identity.js'
import { ClientErrorCode } from '../errors.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import type { ResumeFrame } from '../protocols/ours/client-messages.js'
import type { ServerMessage } from '../protocols/ours/server-messages.js'
import type { Connection } from '../node/connection.js'
import type { MessageFlow } from '../node/realtime-node.js'
import type { ResumeStore } from './resume-store.js'
import type { ResumeTokens } from './resume-tokens.js'

/** What {@link ResumeFrames} is made from. */
export interface ResumeFramesInit {
  tokens: ResumeTokens
  store: ResumeStore
  /** Answers go through the node; the connection's next messages are held while the token is checked. */
  node: MessageFlow
  /** The connection now has the old connection's visitor (user index, token deadline, server channels). */
  intake: { resumed: (connection: Connection, identity: Identity, positions: ReadonlyMap<string, StreamPosition>) => Promise<void> }
  /** Subscribes the connection to channels on its behalf, each answered as a `sub`. */
  channels: { restore: (connection: Connection, entries: readonly ChannelListEntry[], rewind: number) => Promise<void> }
}

/** See the module comment. */
export class ResumeFrames {
  readonly #init: ResumeFramesInit

  constructor (init: ResumeFramesInit) {
    this.#init = init
  }

  /** A `resume` frame arrived (the node calls this before marking the connection as having spoken). */
  resume (connection: Connection, message: ResumeFrame): void {
    // A connection its transport does not resume with a token (an event stream has its Last-Event-ID).
    if (!connection.resumable) {
      this.#error(connection, message, ClientErrorCode.UNSUPPORTED, 'This connection resumes another way (an event stream, with its Last-Event-ID), not with a "resume" message.')
      return
    }
    if (connection.spoke) {
      this.#error(connection, message, ClientErrorCode.RESUME_NOT_FIRST, 'A "resume" must be the first message of a connection; nothing was resumed.')
      return
    }
    this.#init.node.hold(connection)
    this.#restore(connection, message)
      .catch((err: unknown) => {
        connection.log.error({ err }, 'resume failed')
        if (!connection.closed) this.#init.node.sendTo(connection, answer(message, false, connection))
      })
      .finally(() => { this.#init.node.release(connection) })
  }

  async #restore (connection: Connection, message: ResumeFrame): Promise<void> {
    const { tokens, store } = this.#init
    const checked = tokens.verify(message.token)
    if ('problem' in checked) {
      connection.log.info({ reason: checked.problem }, 'resume token not honoured')
      this.#init.node.sendTo(connection, answer(message, false, connection))
      return
    }
    const resumes = checked.connectionId
    if (!await store.claim(resumes)) {
      connection.log.warn({ resumes }, 'resume token presented again: refused')
      this.#error(connection, message, ClientErrorCode.RESUME_TOKEN_USED, 'This resume token was used before; a token resumes once (use the token of your latest welcome).')
      return
    }
    const state = await store.load(resumes)
    if (connection.closed) return
    if (state === null) {
      connection.log.info({ reason: 'nothing to resume', resumes }, 'resume token not honoured')
      this.#init.node.sendTo(connection, answer(message, false, connection))
      return
    }
    const identified = connection.visitor
    if (identified !== null && state.visitor !== null && identified.id !== state.visitor.id) {
      connection.log.warn({ reason: 'another visitor', resumes }, 'resume token not honoured')
      this.#init.node.sendTo(connection, answer(message, false, connection))
      return
    }
    // The old visitor comes back only to a socket that identifies nobody itself, and one that
    // came from a token only until that token's expiry (its deadline goes on).
    let identity: Identity | null = null
    if (identified === null && state.visitor !== null) {
      if (state.expiresAt === null) identity = { visitor: state.visitor, expiresAt: null, source: 'session' }
      else if (state.expiresAt > Date.now()) identity = { visitor: state.visitor, expiresAt: state.expiresAt, source: 'token' }
      else connection.log.info({ resumes }, 'resume: the token that identified the visitor has expired; resuming anonymously')
    }
    if (identity !== null) connection.visitor = identity.visitor
    const entries = message.channels ?? state.channels
    connection.log.info({ resumes, channels: entries.length, crashed: state.live }, 'resuming')
    this.#init.node.sendTo(connection, answer(message, true, connection))
    const positions = new Map(entries.flatMap(({ channel, since }) => since === undefined ? [] : [[channel, since] as const]))
    const identifiedNow = identity === null ? Promise.resolve() : this.#init.intake.resumed(connection, identity, positions)
    // After the server's own channels (restore skips what the connection already has).
    identifiedNow
      .then(async () => { await this.#init.channels.restore(connection, entries, message.rewind ?? 0) })
      .catch((err: unknown) => { connection.log.error({ err }, 'restoring the resumed channels failed') })
  }

  #error (connection: Connection, message: ResumeFrame, code: string, text: string): void {
    this.#init.node.sendTo(connection, message.id === undefined ? { type: 'error', code, message: text } : { type: 'error', code, message: text, id: message.id })
  }
}

function answer (message: ResumeFrame, resumed: boolean, connection: Connection): ServerMessage {
  const ack: ServerMessage = { type: 'ack', resumed, visitor: connection.visitor?.id ?? null }
  if (message.id !== undefined) ack.id = message.id
  return ack
}
