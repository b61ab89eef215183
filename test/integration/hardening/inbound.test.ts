/**
 * Bad inbound frames over real sockets: malformed JSON, unknown types, binary, oversize, a flood.
 * Each gets a clear answer (an error frame or a close code) and never takes the process down.
 */
import type { Socket } from 'node:net'
import t from 'tap'
import { bareApp, rawUpgrade } from '../../helpers/realtime-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

t.test('malformed JSON, unknown types and binary frames get error frames; the socket stays usable', async (t) => {
  const { ws } = await bareApp(t, { tickIntervalMs: 50 })
  const client = await connect(`${ws}/ws`)
  await client.waitFor('welcome')
  client.socket.send('{"type": "sub", oops')
  const [invalidJson] = await client.waitFor('error', 1)
  t.equal(invalidJson?.code, 'invalid_json')
  client.socket.send(JSON.stringify({ type: 'shout', id: 7 }))
  const unknown = (await client.waitFor('error', 2))[1]
  t.equal(unknown?.code, 'unknown_type')
  t.equal(unknown?.id, 7, 'the request id is echoed')
  client.socket.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]))
  const binary = (await client.waitFor('error', 3))[2]
  t.equal(binary?.code, 'binary_unsupported')
  client.socket.send(JSON.stringify({ type: 'sub', channel: 'bad channel name!' }))
  const invalid = (await client.waitFor('error', 4))[3]
  t.equal(invalid?.code, 'invalid_message')
  // Still usable: ticks keep coming and plain text is still accepted.
  const ticksBefore = client.ofType('tick').length
  client.socket.send('plain text is fine')
  await client.waitFor('tick', ticksBefore + 2)
  t.equal(client.closeCode, null, 'not closed')
  await client.close()
})

t.test('a frame over maxPayloadBytes closes with 1009', async (t) => {
  const { ws } = await bareApp(t, { maxPayloadBytes: 1024 })
  const small = await connect(`${ws}/ws`)
  small.socket.send('x'.repeat(1024))
  const client = await connect(`${ws}/ws`)
  client.socket.send('x'.repeat(1025))
  const { code } = await client.closed
  t.equal(code, 1009, 'message too big')
  await sleep(50)
  t.equal(small.closeCode, null, 'a frame at the limit is accepted; other sockets are unaffected')
  await small.close()
})

t.test('the default maxPayloadBytes is 64 KiB, not ws\'s 100 MiB', async (t) => {
  const { ws } = await bareApp(t, {})
  const client = await connect(`${ws}/ws`)
  client.socket.send('x'.repeat(64 * 1024 + 1))
  const { code } = await client.closed
  t.equal(code, 1009)
})

t.test('a flood of 10k messages gets rate_limited, then 1008; a client within its rate is untouched', async (t) => {
  const { ws, logs } = await bareApp(t, { messageRatePerSec: 20, messageBurst: 40 })
  const polite = await connect(`${ws}/ws`)
  const flooder = await connect(`${ws}/ws`)
  await flooder.waitFor('welcome')
  for (let i = 0; i < 10_000; i++) flooder.socket.send(`flood ${i}`)
  const { code, reason } = await flooder.closed
  t.equal(code, 1008, 'continued abuse closes with policy violation')
  t.equal(reason, 'rate limit exceeded')
  const limited = flooder.ofType('error').filter((frame) => frame.code === 'rate_limited')
  t.ok(limited.length >= 1, `got ${limited.length} rate_limited error frame(s) before the close`)
  t.ok(limited.length < 20, 'errors are not sent for every message of the flood')
  t.equal(logs.withMessage('message rate abuse: closing').length, 1, 'logged once')
  for (let i = 0; i < 10; i++) polite.socket.send(`hello ${i}`)
  await sleep(100)
  t.equal(polite.ofType('error').length, 0, 'a client within its rate gets no error')
  t.equal(polite.closeCode, null)
  await polite.close()
})

t.test('past the burst, messages get rate_limited and the socket recovers once the bucket refills', async (t) => {
  const { ws } = await bareApp(t, { messageRatePerSec: 50, messageBurst: 5 })
  const client = await connect(`${ws}/ws`)
  await client.waitFor('welcome')
  for (let i = 0; i < 8; i++) client.socket.send(JSON.stringify({ type: 'nope', id: i }))
  const errors = await client.waitFor('error', 8)
  t.same(errors.map((frame) => frame.code), ['unknown_type', 'unknown_type', 'unknown_type', 'unknown_type', 'unknown_type', 'rate_limited', 'rate_limited', 'rate_limited'])
  t.same(errors.map((frame) => frame.id), [0, 1, 2, 3, 4, 5, 6, 7], 'every request is answered with its id, the dropped ones too')
  await sleep(200) // 50/s refills the bucket
  client.socket.send(JSON.stringify({ type: 'nope', id: 'after' }))
  const after = (await client.waitFor('error', 9))[8]
  t.equal(after?.code, 'unknown_type', 'handled normally again')
  t.equal(client.closeCode, null)
  await client.close()
})

t.test('every request of a flood is answered with its id: rate_limited for the dropped ones, the last one before the 1008', async (t) => {
  const { ws } = await bareApp(t, { messageRatePerSec: 1, messageBurst: 2 })
  const client = await connect(`${ws}/ws`)
  await client.waitFor('welcome')
  // 2 within the burst (answered unknown_type), then 10 strikes: the 10th closes the socket.
  for (let i = 0; i < 12; i++) client.socket.send(JSON.stringify({ type: 'nope', id: `r${i}` }))
  const { code } = await client.closed
  t.equal(code, 1008)
  const answers = client.ofType('error')
  t.same(answers.map((frame) => frame.id), Array.from({ length: 12 }, (_, i) => `r${i}`), 'one answer per request, in order, each with its id')
  t.same(answers.slice(2).map((frame) => frame.code), Array.from({ length: 10 }, () => 'rate_limited'))
})

/** One client frame: FIN + opcode, masked (as RFC 6455 requires of clients) unless `masked` is false. */
function clientFrame (opcode: number, payload: Buffer, masked = true): Buffer {
  const header = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length])
  if (!masked) return Buffer.concat([header, payload])
  const mask = Buffer.from([1, 2, 3, 4])
  return Buffer.concat([header, mask, payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0))])
}

/** The code of the close frame the server sends on a raw socket. */
async function serverCloseCode (socket: Socket, first: Buffer): Promise<number> {
  let received = first
  return await new Promise((resolve, reject) => {
    const look = (): void => {
      // Skip whole frames (welcome…) until a close frame (opcode 8) with its 2-byte code.
      let at = 0
      while (at + 2 <= received.length) {
        const opcode = (received[at] ?? 0) & 0x0f
        const length = (received[at + 1] ?? 0) & 0x7f
        const start = at + (length === 126 ? 4 : 2)
        const end = start + (length === 126 ? received.readUInt16BE(at + 2) : length)
        if (end > received.length) return
        if (opcode === 8) { resolve(received.readUInt16BE(start)); return }
        at = end
      }
    }
    socket.on('data', (chunk: Buffer) => { received = Buffer.concat([received, chunk]); look() })
    socket.once('error', reject)
    look()
  })
}

t.test('frames that break RFC 6455 are closed by the WebSocket layer: 1002 (unmasked) and 1007 (invalid UTF-8), as the protocol doc says', async (t) => {
  const { port, app } = await bareApp(t)
  const unmasked = await rawUpgrade(port)
  unmasked.socket.write(clientFrame(0x1, Buffer.from('hello'), false))
  t.equal(await serverCloseCode(unmasked.socket, unmasked.rest), 1002, 'an unmasked client frame: protocol error')
  unmasked.socket.destroy()
  const badText = await rawUpgrade(port)
  badText.socket.write(clientFrame(0x1, Buffer.from([0x68, 0x69, 0xff, 0xfe])))
  t.equal(await serverCloseCode(badText.socket, badText.rest), 1007, 'a text frame that is not UTF-8: invalid payload')
  badText.socket.destroy()
  for (const started = Date.now(); app.realtime.connections > 0 && Date.now() - started < 10_000;) await sleep(20)
  t.equal(app.realtime.connections, 0, 'both sockets are gone')
})
