/**
 * The pure parts of recovery: channel lists as text (what an event id and a `channels`
 * parameter hold), resume tokens (signed, expiring, bound to one connection), what a subscribe
 * replays and where its client then stands (against the memory adapter's real history), and
 * admission pacing (a node-wide rate, newcomers served in order, refused only when the line is
 * too long).
 */
import t from 'tap'
import { MemoryAdapter } from '../../src/adapters/memory.js'
import { Admission } from '../../src/limits/admission.js'
import { readReplay } from '../../src/recovery/replay.js'
import { ResumeTokens, TOKEN_LIFETIME_MS } from '../../src/recovery/resume-tokens.js'
import { formatChannelList, formatCursorId, parseChannelList, parseEventId } from '../../src/protocols/ours/channel-list.js'

t.test('channel lists: written and read back, positions in base 36, odd epochs percent-encoded', async (t) => {
  const entries = [{ channel: 'chat', since: { epoch: 'Ht0Tj1vz', offset: 46 } }, { channel: 'room:a/b@c$d' }, { channel: 'x', since: { epoch: 'odd|epoch,~!%', offset: 0 } }]
  const text = formatChannelList(entries)
  t.equal(text.split(',')[0], 'chat|Ht0Tj1vz|1a')
  t.same(parseChannelList(text, 10), entries)
  t.same(parseChannelList('', 10), [])
  t.match(parseChannelList('a,b,c', 2), /more than the 2/)
  t.match(parseChannelList('a,a', 10), /named twice/)
  t.match(parseChannelList('a b', 10), /not a channel name/)
  t.match(parseChannelList('a|e', 10), /epoch\|offset/)
  t.match(parseChannelList('a|e|-1', 10), /epoch\|offset/)
  t.match(parseChannelList('a|%zz|1', 10), /epoch\|offset/)
  t.match(parseChannelList('a|e|zzzzzzzzzzz', 10), /too large/)
})

t.test('event ids: a list, or a cursor and what moved since it', async (t) => {
  t.same(parseEventId('chat|E|1', 10), { entries: [{ channel: 'chat', since: { epoch: 'E', offset: 1 } }], dropped: [] })
  const id = formatCursorId('abcDEF_-12.3', [{ channel: 'chat', since: { epoch: 'E', offset: 36 } }], ['gone'])
  t.equal(id, '~abcDEF_-12.3~chat|E|10,!gone')
  t.same(parseEventId(id, 10), { cursor: 'abcDEF_-12.3', entries: [{ channel: 'chat', since: { epoch: 'E', offset: 36 } }], dropped: ['gone'] })
  t.same(parseEventId('~c.1~', 10), { cursor: 'c.1', entries: [], dropped: [] })
  t.match(parseEventId('~not a cursor~', 10), /cursor/)
  t.match(parseEventId('!gone', 10), /not a channel name/, 'a dropped channel outside a cursor id is refused')
})

t.test('resume tokens: signed, bound to their connection, expiring', async (t) => {
  let now = 1_000_000
  const tokens = new ResumeTokens('a-secret-of-at-least-thirty-two-characters', () => now)
  const token = tokens.issue('conn123')
  t.same(tokens.verify(token), { connectionId: 'conn123' })
  const [id, expires, signature] = token.split('.')
  t.same(tokens.verify(`conn124.${expires ?? ''}.${signature ?? ''}`), { problem: 'bad signature' }, 'pointed at another connection')
  t.same(tokens.verify(`${id ?? ''}.${(Number.parseInt(expires ?? '0', 36) + 1).toString(36)}.${signature ?? ''}`), { problem: 'bad signature' }, 'its expiry pushed back')
  t.same(new ResumeTokens('another-secret-of-at-least-thirty-two-chars', () => now).verify(token), { problem: 'bad signature' }, 'another deployment\'s secret')
  t.same(tokens.verify('garbage'), { problem: 'malformed' })
  now += TOKEN_LIFETIME_MS
  t.same(tokens.verify(token), { problem: 'expired' })
})

t.test('admission: a node-wide rate, newcomers in order, refused only when the line is too long', async (t) => {
  const admitted: number[] = []
  const cancelled: number[] = []
  const admission = new Admission({ ratePerSec: 100, burst: 2, maxWaitMs: 35, random: () => 0.5 })
  const ask = (n: number, gone = (): boolean => false): number | null => admission.request({ admit: () => admitted.push(n), cancel: () => cancelled.push(n), gone })
  t.equal(ask(1), null)
  t.equal(ask(2), null)
  t.same(admitted, [1, 2], 'the burst is admitted at once')
  t.equal(ask(3), null)
  let left = false
  t.equal(ask(4, () => left), null)
  t.equal(ask(5), null)
  t.equal(admission.waiting, 3, 'past the burst, newcomers wait')
  const refused = ask(6)
  t.ok(refused !== null && refused >= 1, `one that would wait past maxWaitMs is refused, Retry-After ${refused ?? 'none'} s`)
  left = true
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.same(admitted, [1, 2, 3, 5], 'served in arrival order, one that left skipped')
  t.equal(admission.waiting, 0)
  t.equal(admission.timerArmed, false, 'no timer once nobody waits')
  t.equal(ask(7), null)
  t.equal(ask(8), null)
  admission.cancelAll()
  t.ok(cancelled.length > 0 || admitted.includes(8), 'waiting newcomers are turned away when the node closes')
  t.equal(admission.waiting, 0)
})

t.test('the replay of a subscribe: exact within the bound, newest only past it, and where the client then stands', async (t) => {
  const adapter = new MemoryAdapter()
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  t.teardown(async () => { await adapter.close() })
  const history = { historySize: 100, historyTtlMs: 60_000 }
  for (let i = 1; i <= 10; i++) await adapter.publish('c', i, history)
  const { epoch } = (await adapter.recent('c', 0)).position
  const offsetsOf = (replay: { publications: Array<{ offset: number }> }): number[] => replay.publications.map((p) => p.offset)
  const bounds = { maxRecoveryReplay: 5, historySize: 100 }

  const exact = await readReplay(adapter, 'c', { since: { epoch, offset: 7 } }, bounds)
  t.same([exact.recovered, offsetsOf(exact), exact.position, exact.startsAt], [true, [8, 9, 10], { epoch, offset: 10 }, { epoch, offset: 7 }], 'a gap within the bound: recovered, starting at the client\'s position')

  const far = await readReplay(adapter, 'c', { since: { epoch, offset: 2 } }, bounds)
  t.same([far.recovered, offsetsOf(far), far.startsAt], [false, [6, 7, 8, 9, 10], { epoch, offset: 5 }], 'a larger gap: not recovered, only its newest, starting before them')
  const none = await readReplay(adapter, 'c', { since: { epoch, offset: 2 } }, { ...bounds, maxRecoveryReplay: 0 })
  t.same([none.recovered, offsetsOf(none), none.startsAt], [false, [], { epoch, offset: 10 }], 'a bound of 0 replays nothing: the client stands at the stream\'s end')

  const rewind = await readReplay(adapter, 'c', { rewind: 3 }, bounds)
  t.same([rewind.recovered, offsetsOf(rewind), rewind.startsAt], [false, [8, 9, 10], { epoch, offset: 7 }], 'a rewind: the newest, starting before them')
  const capped = await readReplay(adapter, 'c', { rewind: 50 }, { ...bounds, historySize: 2 })
  t.same(offsetsOf(capped), [9, 10], 'a rewind reads no more than the channel\'s history size')
  const fresh = await readReplay(adapter, 'c', {}, bounds)
  t.same([fresh.recovered, offsetsOf(fresh), fresh.startsAt], [false, [], { epoch, offset: 10 }], 'a fresh subscribe: nothing, at the stream\'s end')

  const otherEpoch = await readReplay(adapter, 'c', { since: { epoch: 'another-life', offset: 3 } }, bounds)
  t.equal(otherEpoch.recovered, false, 'a position of another epoch is never recovered')
})
