/**
 * The text of the adapter's pub/sub messages, as the Lua scripts write them:
 * publications `p\n<node>\n<offset>\n<epoch>\n<t>\n<dataJson>`,
 * presence `r\n{"a":"join"|"leave","id":<visitor>,"n":<name>?}` (cjson, so any visitor id is safe).
 *
 * Two fields ride in text the scripts keep opaque, so the scripts need not know them: a
 * publication's extras (its event name, the connection it skips, the sender's user id) lead its
 * data text as `\u0001<extrasJson>\n<dataJson>` (history entries and pub/sub alike), and a presence
 * member's info is kept in its name field as `\u0001{"n":<name>?,"i":<info>}`. Data without extras
 * and members without info are stored exactly as before.
 */
import type { PresenceMember, Publication } from '../adapter.js'

/** What marks stored text that carries more than the plain value (never the first character of JSON). */
const MARK = '\u0001'

/** The extra fields of a publication that travel with its data. */
export type PublicationExtras = Pick<Publication, 'event' | 'except' | 'userId'>

/** The data text a publication is stored and fanned out with (see the module comment). */
export function encodeStoredData (data: unknown, extras: PublicationExtras): string {
  const json = JSON.stringify(data ?? null)
  if (extras.event === undefined && extras.except === undefined && extras.userId === undefined) return json
  return `${MARK}${JSON.stringify(extras)}\n${json}`
}

/** The data and extras of stored data text. */
export function decodeStoredData (text: string): { data: unknown, extras: PublicationExtras } {
  if (!text.startsWith(MARK)) return { data: JSON.parse(text) as unknown, extras: {} }
  // JSON text never holds a raw newline: the first one ends the extras.
  const end = text.indexOf('\n')
  const raw = JSON.parse(text.slice(1, end)) as Record<string, unknown>
  const extras: PublicationExtras = {}
  if (typeof raw.event === 'string') extras.event = raw.event
  if (typeof raw.except === 'string') extras.except = raw.except
  if (typeof raw.userId === 'string') extras.userId = raw.userId
  return { data: JSON.parse(text.slice(end + 1)) as unknown, extras }
}

/** The name field a presence member is kept with: its name, or its name and info (see the module comment). */
export function encodeMemberLabel (name: string | undefined, info: unknown): string | undefined {
  if (info === undefined) return name
  return MARK + JSON.stringify(name === undefined ? { i: info } : { n: name, i: info })
}

/** A presence member from its visitor id and kept name field. */
export function decodeMember (id: string, label: string | undefined): PresenceMember {
  if (label === undefined) return { id }
  if (!label.startsWith(MARK)) return { id, name: label }
  const raw = JSON.parse(label.slice(1)) as { n?: unknown, i?: unknown }
  const member: PresenceMember = typeof raw.n === 'string' ? { id, name: raw.n } : { id }
  member.info = raw.i
  return member
}

/** A decoded pub/sub message. */
export type PubsubMessage =
  | { kind: 'publication', nodeId: string, publication: Publication }
  | { kind: 'presence', action: 'join' | 'leave', member: PresenceMember }

/** Split off the first `count` newline-separated fields; the rest is the last field. */
function fields (text: string, count: number): string[] | null {
  const out: string[] = []
  let start = 0
  for (let i = 0; i < count; i++) {
    const end = text.indexOf('\n', start)
    if (end === -1) return null
    out.push(text.slice(start, end))
    start = end + 1
  }
  out.push(text.slice(start))
  return out
}

/**
 * Decode one pub/sub message of `channel`.
 * @returns the message, or null when it is malformed (it is then dropped and reported)
 */
export function decodePubsub (channel: string, text: string): PubsubMessage | null {
  if (text.startsWith('p\n')) {
    const parts = fields(text.slice(2), 4)
    if (parts === null) return null
    const [nodeId = '', offset = '', epoch = '', t = '', stored = ''] = parts
    const { data, extras } = decodeStoredData(stored)
    return { kind: 'publication', nodeId, publication: { channel, offset: Number(offset), epoch, t: Number(t), data, ...extras } }
  }
  if (text.startsWith('r\n')) {
    const event = JSON.parse(text.slice(2)) as { a?: unknown, id?: unknown, n?: unknown }
    if ((event.a !== 'join' && event.a !== 'leave') || typeof event.id !== 'string') return null
    return { kind: 'presence', action: event.a, member: decodeMember(event.id, typeof event.n === 'string' ? event.n : undefined) }
  }
  return null
}
