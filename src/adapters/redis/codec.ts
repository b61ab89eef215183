/**
 * The text of the adapter's pub/sub messages, as the Lua scripts write them:
 * publications `p\n<node>\n<offset>\n<epoch>\n<t>\n<dataJson>`,
 * presence `r\n{"a":"join"|"leave","id":<visitor>,"n":<name>?}` (cjson, so any visitor id is safe).
 */
import type { PresenceMember, Publication } from '../adapter.js'

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
    const [nodeId = '', offset = '', epoch = '', t = '', data = ''] = parts
    return { kind: 'publication', nodeId, publication: { channel, offset: Number(offset), epoch, t: Number(t), data: JSON.parse(data) as unknown } }
  }
  if (text.startsWith('r\n')) {
    const event = JSON.parse(text.slice(2)) as { a?: unknown, id?: unknown, n?: unknown }
    if ((event.a !== 'join' && event.a !== 'leave') || typeof event.id !== 'string') return null
    return { kind: 'presence', action: event.a, member: typeof event.n === 'string' ? { id: event.id, name: event.n } : { id: event.id } }
  }
  return null
}
