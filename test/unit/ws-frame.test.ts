import { Socket } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import type ws from 'ws'
import * as wsModule from 'ws'
import { frameSinkOf, pendingSinks, writeFrame, type FrameSink } from '../../src/transports/raw-frames.js'
import { frameHeaderBytes, textFrame } from '../../src/protocols/ws-frame.js'

/** ws's own encoder and decoder; not in @types/ws, so typed here for the parts the test uses. */
interface WsInternals {
  Sender: { frame: (data: Buffer, options: { fin: boolean, opcode: number, mask: boolean, readOnly: boolean, rsv1: boolean }) => Buffer[] }
  Receiver: new (options: { isServer: boolean }) => Writable & { on: (event: 'message', listener: (data: Buffer, isBinary: boolean) => void) => unknown }
}
const { Sender, Receiver } = wsModule as unknown as WsInternals

const SAMPLES: Array<[string, string]> = [
  ['empty', ''],
  ['short', '{"type":"tick","seq":1}'],
  ['125 bytes, the last 7-bit length', 'a'.repeat(125)],
  ['126 bytes, the first 16-bit length', 'b'.repeat(126)],
  ['65535 bytes, the last 16-bit length', 'c'.repeat(65535)],
  ['65536 bytes, the first 64-bit length', 'd'.repeat(65536)],
  ['multi-byte UTF-8 (length counts bytes, not characters)', 'é€😀'.repeat(50)]
]

t.test('textFrame gives the same bytes as ws\'s own server framing', async (t) => {
  for (const [name, text] of SAMPLES) {
    const expected = Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }))
    const frame = textFrame(text)
    t.same(frame.bytes, expected, name)
    t.equal(frame.text, text)
    t.equal(frame.bytes.length, frameHeaderBytes(Buffer.byteLength(text)) + Buffer.byteLength(text), `${name}: header + payload`)
  }
})

t.test('ws\'s client-side receiver decodes a stream of prepared frames, in order', async (t) => {
  const receiver = new Receiver({ isServer: false })
  const got: string[] = []
  receiver.on('message', (data, isBinary) => {
    t.equal(isBinary, false, 'text frames')
    got.push(data.toString())
  })
  const chunk = Buffer.concat(SAMPLES.map(([, text]) => textFrame(text).bytes))
  // Fed in awkward pieces, as TCP may deliver them.
  for (let offset = 0; offset < chunk.length; offset += 1000) receiver.write(chunk.subarray(offset, offset + 1000))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(got, SAMPLES.map(([, text]) => text))
})

/** A stream that records each system-call-sized write: one entry per _write or _writev. */
class RecordingSink extends Writable implements FrameSink {
  readonly writes: Buffer[][] = []
  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push([chunk])
    callback()
  }

  override _writev (chunks: Array<{ chunk: Buffer }>, callback: () => void): void {
    this.writes.push(chunks.map(({ chunk }) => chunk))
    callback()
  }
}

t.test('frames to one socket in one turn leave in one write, in order', async (t) => {
  const a = new RecordingSink()
  const b = new RecordingSink()
  const frames = Array.from({ length: 100 }, (_, i) => textFrame(`{"n":${i}}`))
  for (const frame of frames) {
    writeFrame(a, frame.bytes)
    writeFrame(b, frame.bytes)
  }
  t.equal(pendingSinks(), 2, 'both sinks wait for the end of the turn')
  t.same(a.writes, [], 'nothing written during the turn')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(pendingSinks(), 0, 'uncorked on the next tick')
  t.equal(a.writes.length, 1, 'one write for 100 frames')
  t.same(Buffer.concat(a.writes[0] ?? []), Buffer.concat(frames.map((frame) => frame.bytes)), 'same bytes, same order')
  t.same(b.writes, a.writes, 'every socket gets the same bytes')

  writeFrame(a, textFrame('next turn').bytes)
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(a.writes.length, 2, 'a later turn is a new write')
})

t.test('other writes to the stream in the same turn keep their place', async (t) => {
  const sink = new RecordingSink()
  writeFrame(sink, textFrame('one').bytes)
  // What ws does for each of its own frames: cork, write header and payload, uncork.
  sink.cork()
  sink.write(Buffer.from('ws-own'))
  sink.uncork()
  writeFrame(sink, textFrame('two').bytes)
  t.same(sink.writes, [], 'ws\'s inner uncork does not flush our cork')
  await new Promise((resolve) => process.nextTick(resolve))
  t.equal(sink.writes.length, 1)
  t.same(Buffer.concat(sink.writes[0] ?? []), Buffer.concat([textFrame('one').bytes, Buffer.from('ws-own'), textFrame('two').bytes]))
})

t.test('a destroyed stream is skipped', async (t) => {
  const sink = new RecordingSink()
  sink.destroy()
  writeFrame(sink, textFrame('late').bytes)
  t.equal(pendingSinks(), 0)
  t.same(sink.writes, [])
})

t.test('frameSinkOf uses the upgrade request\'s own TCP socket only, and only when no extension is active', async (t) => {
  const tcp = new Socket()
  t.teardown(() => { tcp.destroy() })
  const fake = (extensions: string): ws => ({ extensions }) as unknown as ws
  t.equal(frameSinkOf(fake(''), tcp), tcp, 'the upgrade request\'s TCP socket (the one Node\'s \'upgrade\' hands ws)')
  t.equal(frameSinkOf(fake('permessage-deflate'), tcp), null, 'deflate may queue: go through ws')
  t.equal(frameSinkOf(fake(''), new RecordingSink()), null, 'a stream that is not a TCP socket (injectWS\'s stand-in: ws writes to another stream)')
  t.equal(frameSinkOf(fake(''), { remoteAddress: '127.0.0.1' }), null, 'an injected request\'s fake socket')
  t.equal(frameSinkOf(fake(''), undefined), null, 'no socket')
})
