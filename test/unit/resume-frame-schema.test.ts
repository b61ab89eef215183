/**
 * The `resume` frame is a client message like the others: validated by its schema before it
 * reaches the server's handler, with a coded error naming what is wrong.
 */
import t from 'tap'
import { decodeClientFrame } from '../../src/protocols/ours/client-messages.js'

t.test('a resume frame decodes: the token, and optionally the client\'s own channels and positions', async (t) => {
  t.same(decodeClientFrame('{"type":"resume","token":"abc.def.ghi","id":"r"}'), { kind: 'message', message: { type: 'resume', token: 'abc.def.ghi', id: 'r' } })
  const withChannels = '{"type":"resume","token":"t","channels":[{"channel":"chat","since":{"epoch":"E","offset":4}},{"channel":"feed"}],"rewind":5}'
  t.match(decodeClientFrame(withChannels), { kind: 'message', message: { type: 'resume', channels: [{ channel: 'chat', since: { epoch: 'E', offset: 4 } }, { channel: 'feed' }], rewind: 5 } })
})

t.test('a malformed resume frame is refused with invalid_message, its id echoed', async (t) => {
  for (const [frame, where] of [
    ['{"type":"resume","id":1}', /token/],
    ['{"type":"resume","token":"","id":1}', /token/],
    [`{"type":"resume","token":"${'x'.repeat(257)}","id":1}`, /token/],
    ['{"type":"resume","token":"t","channels":[{"channel":"bad name"}],"id":1}', /channels/],
    ['{"type":"resume","token":"t","channels":[{"channel":"chat","since":{"offset":-1,"epoch":"E"}}],"id":1}', /channels/],
    ['{"type":"resume","token":"t","extra":true,"id":1}', /message|extra/]
  ] as const) {
    t.match(decodeClientFrame(frame), { kind: 'error', code: 'invalid_message', id: 1, message: where }, frame.slice(0, 60))
  }
})
