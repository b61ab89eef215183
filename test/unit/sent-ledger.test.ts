/**
 * The sent ledger of a resumable WebSocket: positions of frames still queued in the process when
 * the server cut the socket are taken back, those that reached the kernel are kept, and bytes
 * written before the ledger began (its base) and control frames line up with the stream's count.
 */
import t from 'tap'
import { StreamPositions } from '../../src/recovery/stream-positions.js'
import { handedToKernel, SentLedger } from '../../src/transports/sent-ledger.js'

/** A stand-in for net.Socket's private counters, as handedToKernel reads them. */
const stream = (dispatched: number, queuedInLibuv: number): unknown => ({ _bytesDispatched: dispatched, _handle: { writeQueueSize: queuedInLibuv } })

t.test('what reached the kernel is kept; what was still queued at the cut is taken back', async (t) => {
  const positions = new StreamPositions()
  // 500 bytes (the upgrade, ticks) were written before the first positioned frame.
  const ledger = new SentLedger(500)
  const write = (channel: string, offset: number, bytes: number, pending: number): void => {
    const position = { channel, epoch: 'e', offset }
    ledger.wrote(bytes, pending, position, positions.apply(position))
  }
  write('a', 1, 100, 0) // flushed at once: never journaled
  write('a', 2, 100, 100) // queued
  ledger.control(2) // a ping between them
  write('b', 1, 100, 202) // queued
  write('a', 3, 100, 302) // queued
  // At the cut 500 + 100 + 100 + 2 = 702 bytes had reached the kernel: a:2 did, b:1 and a:3 did not.
  ledger.cutting(stream(702 + 50, 50))
  ledger.takeBack(positions, undefined)
  t.same(positions.get('a'), { epoch: 'e', offset: 2 }, 'a goes back to the last frame that left')
  t.equal(positions.get('b'), undefined, 'b was never reached: it is not followed')
})

t.test('a frame later flushed leaves the journal; without a cut the stream\'s own count decides', async (t) => {
  const positions = new StreamPositions()
  const ledger = new SentLedger(0)
  const write = (offset: number, bytes: number, pending: number): void => {
    const position = { channel: 'c', epoch: 'e', offset }
    ledger.wrote(bytes, pending, position, positions.apply(position))
  }
  write(1, 10, 10)
  write(2, 10, 5) // the first has flushed by now
  ledger.takeBack(positions, 20)
  t.same(positions.get('c'), { epoch: 'e', offset: 2 }, 'everything written counts as handed when nobody cut the socket')
  const other = new SentLedger(0)
  const kept = new StreamPositions()
  const position = { channel: 'c', epoch: 'e', offset: 1 }
  other.wrote(10, 10, position, kept.apply(position))
  other.cutting(stream(0, 0))
  other.takeBack(kept, 10)
  t.equal(kept.get('c'), undefined, 'the kernel\'s count read at the cut wins over the stream\'s later one')
})

t.test('handedToKernel reads Node\'s counters, and knows nothing without them', async (t) => {
  t.equal(handedToKernel(stream(1000, 300)), 700)
  t.equal(handedToKernel({ _bytesDispatched: 40, _handle: null }), 40)
  t.equal(handedToKernel({}), undefined)
})
