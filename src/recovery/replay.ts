/**
 * The replay of a subscribe: what a client that subscribes with `since` (a recovery) or `rewind`
 * gets before it goes live, read from the channel's history, and where its client stands once the
 * subscribe is answered (where the replay starts, so a stream cut during the replay resumes from
 * there).
 *
 * A recovery is bounded: a gap larger than `maxRecoveryReplay` is not recovered, and only its
 * newest publications are replayed (what the client is told to rebuild its view from). The
 * replay's frames are paced by the send path: they go out as the socket drains, and live frames
 * wait behind them (limits/send-backlog.ts, a cap of the connection's send budget like the others).
 * The subscribe flow (channels/requests.ts) sends the answer, this replay and what arrived
 * meanwhile in one synchronous step.
 */
import type { Publication, RealtimeAdapter, StreamPosition } from '../adapters/adapter.js'

/** What a subscribe asks to get back. */
export interface ReplayRequest {
  /** Resume after this position (a recovery). */
  since?: StreamPosition | undefined
  /** Without `since`: replay that many recent publications. */
  rewind?: number | undefined
}

/** The bounds of one replay. */
export interface ReplayBounds {
  /** Most publications one recovery replays; a larger gap is not recovered. */
  maxRecoveryReplay: number
  /** The channel's history size: a rewind reads no more. */
  historySize: number
}

/** A replay, read. */
export interface Replay {
  /** The stream's position now (what the subscribe's answer says). */
  position: StreamPosition
  /** Whether the client's `since` was recovered exactly (false for a rewind or a fresh subscribe). */
  recovered: boolean
  /** The publications to send before going live, oldest first. */
  publications: Publication[]
  /** Where the client stands once the answer is sent: where the replay starts. */
  startsAt: StreamPosition
}

/**
 * Read what a subscribe replays.
 * @param history - the adapter's history reads
 */
export async function readReplay (history: Pick<RealtimeAdapter, 'since' | 'recent'>, channel: string, request: ReplayRequest, bounds: ReplayBounds): Promise<Replay> {
  const { since } = request
  let position: StreamPosition
  let recovered = false
  let publications: Publication[]
  if (since !== undefined) {
    const result = await history.since(channel, since)
    ;({ position, recovered, publications } = result)
    const max = bounds.maxRecoveryReplay
    if (publications.length > max) {
      recovered = false
      publications = max === 0 ? [] : publications.slice(-max)
    }
  } else {
    ({ position, publications } = await history.recent(channel, Math.min(request.rewind ?? 0, bounds.historySize)))
  }
  const first = publications[0]
  const start = recovered && since !== undefined
    ? since.offset
    : first !== undefined && first.epoch === position.epoch ? first.offset - 1 : position.offset
  return { position, recovered, publications, startsAt: { epoch: position.epoch, offset: start } }
}
