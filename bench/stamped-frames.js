/**
 * The two dialects of the Pusher phases' subscribers, read without parsing JSON (a load generator
 * must cost little per frame): how a socket subscribes, which frames acknowledge or refuse that,
 * which are publications, and the send time and sequence number at the head of a publication's
 * data (bench/pusher-server.js writes `"data":"<epoch ms> <sequence> …"`, which both framings
 * carry as it is).
 *   - `ours`: `{"type":"sub",…}` on `/ws`; `ack`, `error` and `pub` frames by their type's first letter.
 *   - `pusher`: `{"event":"pusher:subscribe","data":{"channel":…}}` on `/app/<key>?protocol=7`;
 *     `pusher_internal:subscription_succeeded`, `pusher:subscription_error` / `pusher:error`, and
 *     the publications' event (`message`: the server published without an event name).
 */

/** The one Pusher app of the bench (key and secret are the bench's own, on loopback only). */
export const PUSHER_APP = Object.freeze({ id: '1001', key: 'bench-key', secret: 'bench-secret-loopback-only' })

/** What a frame is to a subscriber. */
export const FRAME = Object.freeze({ ack: 1, error: 2, pub: 3, other: 0 })

const DATA_FIELD = Buffer.from('"data":"')
const c = (char) => char.charCodeAt(0)

/** The WebSocket path each dialect connects to. */
export function dialectPath (dialect) {
  if (dialect === 'ours') return '/ws'
  if (dialect === 'pusher') return `/app/${PUSHER_APP.key}?protocol=7&client=bench&version=1.0.0`
  throw new Error(`unknown dialect ${dialect}`)
}

/** The text a socket of `dialect` sends to subscribe to `channel`. */
export function subscribeText (dialect, channel, id) {
  return dialect === 'pusher'
    ? JSON.stringify({ event: 'pusher:subscribe', data: { channel } })
    : JSON.stringify({ type: 'sub', channel, id })
}

/**
 * What the text frame at `buf[start, end)` is.
 * Ours: `{"type":"` then the type (its first letter at 9; `presence` shares `p` with `pub`).
 * Pusher: `{"event":"` then the event name at 10: `message`, `pusher_internal:…` (`_` at 16),
 * `pusher:subscription_error` (`s` at 17), `pusher:error` (`e` at 17).
 */
export function classify (dialect, buf, start, end) {
  if (end - start < 18) return FRAME.other
  if (dialect === 'ours') {
    const first = buf[start + 9]
    if (first === c('p')) return buf[start + 10] === c('u') ? FRAME.pub : FRAME.other
    if (first === c('a')) return FRAME.ack
    if (first === c('e')) return FRAME.error
    return FRAME.other
  }
  const first = buf[start + 10]
  if (first === c('m')) return FRAME.pub
  if (first !== c('p')) return FRAME.other
  if (buf[start + 16] === c('_')) return buf[start + 26] === c('s') ? FRAME.ack : FRAME.other
  const after = buf[start + 17]
  return after === c('s') || after === c('e') ? FRAME.error : FRAME.other
}

/**
 * The send time and sequence number at the head of a publication's data, or -1s.
 * @returns {{ t: number, seq: number }}
 */
export function readStamp (buf, start, end) {
  const at = buf.indexOf(DATA_FIELD, start)
  if (at < 0 || at >= end) return { t: -1, seq: -1 }
  let i = at + DATA_FIELD.length
  let t = 0
  for (; i < end && buf[i] >= 48 && buf[i] <= 57; i++) t = t * 10 + buf[i] - 48
  let seq = 0
  for (i++; i < end && buf[i] >= 48 && buf[i] <= 57; i++) seq = seq * 10 + buf[i] - 48
  return { t, seq }
}
