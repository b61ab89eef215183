/**
 * What a new connection asks to get back, read from its request before it is taken into service,
 * the same way for a WebSocket upgrade and an event stream:
 *
 * - `channels`: a channel list (protocols/ours/channel-list.ts), subscribed at once, each with `since`
 *   where it names a position: `?channels=chat,prices|Q2x9aa0b|2s`;
 * - `rewind`: for the entries without a position, replay that many recent publications first;
 * - never a resume token: `resume` in the URL is refused (400 `FRT_RESUME_IN_URL`), since a URL
 *   reaches access logs; a WebSocket sends its token in a `resume` frame (resume-frames.ts);
 * - `Last-Event-ID` (or the `lastEventId` parameter, for a stream opened anew): an event
 *   stream's last id, which names every channel and position it had.
 *
 * Anything unreadable is refused before the connection exists (400 `FRT_INVALID_CHANNEL_LIST`).
 */
import type { FastifyRequest } from 'fastify'
import { InvalidChannelListError, ResumeInUrlError } from '../errors.js'
import { parseChannelList, type ChannelListEntry } from '../protocols/ours/channel-list.js'

/** What a connection asks to get back. */
export interface ResumeRequest {
  /** The `channels` list, when given (even empty: then the connection decides its channels itself). */
  channels: ChannelListEntry[] | undefined
  /** Replay for the entries without a position. */
  rewind: number
  /** An event stream's last id (header first, then the query parameter), when given. */
  lastEventId: string | undefined
}

/** Largest `rewind` (as the `sub` frame's). */
const MAX_REWIND = 10_000

function single (query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new InvalidChannelListError(`the "${name}" parameter`, 'it must be given once')
  return value
}

/**
 * Read what a request asks to get back.
 * @param maxEntries - most channels a connection may subscribe to
 * @throws InvalidChannelListError (400) naming what cannot be read
 * @throws ResumeInUrlError (400) for a `resume` parameter
 */
export function readResumeRequest (request: FastifyRequest, maxEntries: number): ResumeRequest {
  const query = (typeof request.query === 'object' && request.query !== null ? request.query : {}) as Record<string, unknown>
  if (query.resume !== undefined) throw new ResumeInUrlError()
  const channelsText = single(query, 'channels')
  let channels: ChannelListEntry[] | undefined
  if (channelsText !== undefined) {
    const parsed = parseChannelList(channelsText, maxEntries)
    if (typeof parsed === 'string') throw new InvalidChannelListError('the "channels" parameter', parsed)
    channels = parsed
  }
  const rewindText = single(query, 'rewind')
  const rewind = rewindText === undefined ? 0 : Number(rewindText)
  if (!Number.isSafeInteger(rewind) || rewind < 0 || rewind > MAX_REWIND || !/^\d+$/.test(rewindText ?? '0')) {
    throw new InvalidChannelListError('the "rewind" parameter', `expected an integer from 0 to ${MAX_REWIND}`)
  }
  const header = request.headers['last-event-id']
  const lastEventId = (typeof header === 'string' && header !== '' ? header : undefined) ?? single(query, 'lastEventId')
  return { channels, rewind, lastEventId: lastEventId === '' ? undefined : lastEventId }
}
