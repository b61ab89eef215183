/**
 * Channel lists as text: what a client hands back to resume several channels at once, in one
 * header or query parameter. An event stream's event ids are such lists (the browser returns the
 * last one as `Last-Event-ID`), and so are the `channels` a connection asks for when it opens.
 *
 * ```
 * list   = entry *("," entry)
 * entry  = channel                        subscribe afresh
 *        / channel "|" epoch "|" offset   resume after that position (offset in base 36)
 * id     = list / "~" cursor "~" delta    an event id (the second form names a server-side cursor)
 * delta  = [item *("," item)]; item = entry / "!" channel (the cursor's channel was dropped)
 * ```
 *
 * `,` `|` `~` `!` and `%` never occur in channel names; an epoch with other characters than
 * letters, digits and `_ - . :` is percent-encoded, so any adapter's epochs fit.
 */
import type { StreamPosition } from '../../adapters/adapter.js'
import { CHANNEL_NAME_PATTERN } from './client-messages.js'

/** A channel and where to resume it. */
export interface ChannelListEntry {
  channel: string
  /** Resume after this position; absent: subscribe afresh. */
  since?: StreamPosition | undefined
}

/** An event id, read: either a whole list, or a cursor and what changed since it. */
export interface ParsedEventId {
  /** The server-side cursor the id builds on (absent: the id is the whole list). */
  cursor?: string | undefined
  /** The entries of the list, or the cursor's channels that moved since it was stored. */
  entries: ChannelListEntry[]
  /** The cursor's channels that are no longer subscribed. */
  dropped: string[]
}

/** Longest epoch accepted (as the `since` of a `sub` frame). */
const MAX_EPOCH_LENGTH = 64
/** Cursor names: what the server makes (a connection id and a counter). */
const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,40}\.[0-9a-z]{1,8}$/
const OFFSET_PATTERN = /^[0-9a-z]{1,11}$/
const PLAIN_EPOCH = /^[A-Za-z0-9_.:-]+$/
const CHANNEL = new RegExp(CHANNEL_NAME_PATTERN)
const isChannel = (name: string): boolean => CHANNEL.test(name)

function encodeEpoch (epoch: string): string {
  if (PLAIN_EPOCH.test(epoch)) return epoch
  return [...Buffer.from(epoch, 'utf8')].map((byte) => {
    const char = String.fromCharCode(byte)
    return byte < 0x80 && PLAIN_EPOCH.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }).join('')
}

function decodeEpoch (text: string): string | null {
  try {
    const epoch = decodeURIComponent(text)
    return epoch.length > 0 && epoch.length <= MAX_EPOCH_LENGTH ? epoch : null
  } catch {
    return null
  }
}

/** One entry as text. */
export function formatEntry (entry: ChannelListEntry): string {
  return entry.since === undefined ? entry.channel : `${entry.channel}|${encodeEpoch(entry.since.epoch)}|${entry.since.offset.toString(36)}`
}

/** A list as text (the entries in their order). */
export function formatChannelList (entries: Iterable<ChannelListEntry>): string {
  const parts: string[] = []
  for (const entry of entries) parts.push(formatEntry(entry))
  return parts.join(',')
}

/** An event id that builds on a cursor: the cursor, then what changed since it. */
export function formatCursorId (cursor: string, moved: Iterable<ChannelListEntry>, dropped: Iterable<string>): string {
  const parts: string[] = []
  for (const entry of moved) parts.push(formatEntry(entry))
  for (const channel of dropped) parts.push(`!${channel}`)
  return `~${cursor}~${parts.join(',')}`
}

function parseEntry (text: string): ChannelListEntry | string {
  const fields = text.split('|')
  const channel = fields[0] ?? ''
  if (!isChannel(channel)) return `${JSON.stringify(channel.slice(0, 140))} is not a channel name`
  if (fields.length === 1) return { channel }
  const [, epochText = '', offsetText = ''] = fields
  const epoch = decodeEpoch(epochText)
  if (fields.length !== 3 || epoch === null || !OFFSET_PATTERN.test(offsetText)) {
    return `the position of "${channel}" is not epoch|offset (offset in base 36)`
  }
  const offset = parseInt(offsetText, 36)
  if (!Number.isSafeInteger(offset)) return `the offset of "${channel}" is too large`
  return { channel, since: { epoch, offset } }
}

function parseItems (text: string, maxEntries: number, allowDropped: boolean): { entries: ChannelListEntry[], dropped: string[] } | string {
  const entries: ChannelListEntry[] = []
  const dropped: string[] = []
  if (text === '') return { entries, dropped }
  const items = text.split(',')
  if (items.length > maxEntries) return `it names ${items.length} channels, more than the ${maxEntries} a connection may subscribe to`
  const seen = new Set<string>()
  for (const item of items) {
    if (allowDropped && item.startsWith('!')) {
      const channel = item.slice(1)
      if (!isChannel(channel)) return `${JSON.stringify(channel.slice(0, 140))} is not a channel name`
      if (seen.has(channel)) return `"${channel}" is named twice`
      seen.add(channel)
      dropped.push(channel)
      continue
    }
    const entry = parseEntry(item)
    if (typeof entry === 'string') return entry
    if (seen.has(entry.channel)) return `"${entry.channel}" is named twice`
    seen.add(entry.channel)
    entries.push(entry)
  }
  return { entries, dropped }
}

/**
 * Read a channel list (the `channels` a connection asks for).
 * @param maxEntries - most channels it may name (a connection's subscription limit)
 * @returns its entries in order, or what is wrong with it
 */
export function parseChannelList (text: string, maxEntries: number): ChannelListEntry[] | string {
  const parsed = parseItems(text, maxEntries, false)
  return typeof parsed === 'string' ? parsed : parsed.entries
}

/**
 * Read an event id (`Last-Event-ID`): a whole list, or a cursor and what changed since it.
 * @returns the parsed id, or what is wrong with it
 */
export function parseEventId (text: string, maxEntries: number): ParsedEventId | string {
  if (!text.startsWith('~')) {
    const entries = parseChannelList(text, maxEntries)
    return typeof entries === 'string' ? entries : { entries, dropped: [] }
  }
  const end = text.indexOf('~', 1)
  const cursor = end === -1 ? '' : text.slice(1, end)
  if (!CURSOR_PATTERN.test(cursor)) return 'its cursor is not one this server makes'
  const parsed = parseItems(text.slice(end + 1), maxEntries, true)
  return typeof parsed === 'string' ? parsed : { cursor, ...parsed }
}
