/**
 * A fan-out frames its message once per protocol in use, lazily: each protocol encodes at most
 * once however its connections interleave, a protocol with no such frame (null) is skipped
 * without counting as a failed send, and nothing is encoded for a fan-out that reaches no one.
 */
import t from 'tap'
import { FramesPerProtocol, type FrameReceiver } from '../../src/protocols/frames-per-protocol.js'
import { ourProtocol } from '../../src/protocols/ours/protocol.js'
import type { ServerMessage } from '../../src/protocols/ours/server-messages.js'
import type { WireProtocol } from '../../src/protocols/protocol.js'
import type { TextFrame } from '../../src/protocols/ws-frame.js'

/** A protocol that counts its encodes; `prefix` tells its frames apart; no frame for `skip` types. */
function countingProtocol (name: string, skip: ReadonlyArray<ServerMessage['type']> = []): WireProtocol & { encodes: number } {
  const protocol = {
    ...ourProtocol,
    name,
    encodes: 0,
    encode: (message: ServerMessage): string | null => {
      protocol.encodes++
      return skip.includes(message.type) ? null : `${name}:${JSON.stringify(message)}`
    }
  }
  return protocol
}

/** A connection as far as framing goes: it records the frames it was handed. */
function receiver (protocol: WireProtocol, accepts = true): FrameReceiver<'message'> & { got: TextFrame[] } {
  const got: TextFrame[] = []
  return { protocol, got, sendFrame: (frame) => { got.push(frame); return accepts } }
}

const MESSAGE: ServerMessage = { type: 'broadcast', t: 1, data: { n: 1 } }

t.test('one protocol: one encode for the whole fan-out, the same frame object for everyone, one report', async (t) => {
  const a = countingProtocol('a')
  const frames = new FramesPerProtocol(MESSAGE)
  const receivers = Array.from({ length: 5 }, () => receiver(a))
  for (const r of receivers) t.equal(frames.send(r, 'message'), true)
  t.equal(a.encodes, 1, 'encoded once')
  const first = receivers[0]?.got[0]
  t.equal(first?.text, `a:${JSON.stringify(MESSAGE)}`)
  t.ok(receivers.every((r) => r.got.length === 1 && r.got[0] === first), 'every receiver got the same frame object')
  const reports: Array<[string, number]> = []
  frames.report((frame, sent) => { reports.push([frame.text.slice(0, 2), sent]) })
  t.same(reports, [['a:', 5]], 'one report, with every send counted')
  t.equal(frames.framed, true)
})

t.test('two protocols, interleaved: each encodes once, each receiver gets its own protocol\'s frame', async (t) => {
  const a = countingProtocol('a')
  const b = countingProtocol('b')
  const frames = new FramesPerProtocol(MESSAGE)
  const receivers = [a, b, a, b, b, a, a].map((protocol) => receiver(protocol))
  for (const r of receivers) frames.send(r, 'message')
  t.equal(a.encodes, 1, 'a encoded once')
  t.equal(b.encodes, 1, 'b encoded once')
  t.equal(frames.frameFor(a), receivers[0]?.got[0], 'frameFor answers the frame already built')
  t.equal(a.encodes, 1, 'still once')
  for (const r of receivers) {
    t.equal(r.got.length, 1)
    t.equal(r.got[0], frames.frameFor(r.protocol), `a ${r.protocol.name} receiver got ${r.protocol.name}'s frame`)
  }
  const reports: Record<string, number> = {}
  frames.report((frame, sent) => { reports[frame.text.slice(0, 1)] = sent })
  t.same(reports, { a: 4, b: 3 }, 'one report per protocol, each with its own count')
})

t.test('a protocol with no such frame: its receivers are skipped, not counted, and never handed anything', async (t) => {
  const a = countingProtocol('a')
  const quiet = countingProtocol('quiet', ['broadcast'])
  const frames = new FramesPerProtocol(MESSAGE)
  const skipped = [receiver(quiet), receiver(quiet)]
  const reached = receiver(a)
  t.equal(frames.send(skipped[0] ?? reached, 'message'), false, 'no frame: not sent')
  t.equal(frames.send(reached, 'message'), true)
  t.equal(frames.send(skipped[1] ?? reached, 'message'), false)
  t.equal(quiet.encodes, 1, 'asked once, answered null once')
  t.ok(skipped.every((r) => r.got.length === 0), 'nothing handed to its receivers')
  const reports: string[] = []
  frames.report((frame, sent) => { reports.push(`${frame.text.slice(0, 1)}=${sent}`) })
  t.same(reports, ['a=1'], 'only the framed protocol is reported')

  const onlyQuiet = new FramesPerProtocol(MESSAGE)
  onlyQuiet.send(receiver(quiet), 'message')
  t.equal(onlyQuiet.framed, false, 'nothing framed when the only protocol has no such frame')
  let called = false
  onlyQuiet.report(() => { called = true })
  t.equal(called, false, 'nothing to report')
})

t.test('a refused send is not counted; a fan-out that reaches no one encodes nothing', async (t) => {
  const a = countingProtocol('a')
  const frames = new FramesPerProtocol(MESSAGE)
  t.equal(frames.send(receiver(a, false), 'message'), false)
  t.equal(frames.send(receiver(a), 'message'), true)
  const counts: number[] = []
  frames.report((_frame, sent) => { counts.push(sent) })
  t.same(counts, [1])

  const idle = countingProtocol('idle')
  const unused = new FramesPerProtocol(MESSAGE)
  t.equal(unused.framed, false)
  unused.report(() => { t.fail('nothing was framed') })
  t.equal(idle.encodes, 0, 'nothing encoded')
})

t.test('the stream position goes on every protocol\'s frame', async (t) => {
  const position = { channel: 'room', offset: 3, epoch: 'e' }
  const frames = new FramesPerProtocol({ type: 'pub', channel: 'room', offset: 3, epoch: 'e', data: null, t: 1 }, position)
  t.same(frames.frameFor(countingProtocol('a'))?.position, position)
  t.same(frames.frameFor(countingProtocol('b'))?.position, position)
})

t.test('ours frames a message exactly as the codec always did', async (t) => {
  const frames = new FramesPerProtocol(MESSAGE)
  t.equal(frames.frameFor(ourProtocol)?.text, JSON.stringify(MESSAGE))
  t.equal(ourProtocol.closeCode(4008), 4008, 'ours sends its close codes as they are')
})
