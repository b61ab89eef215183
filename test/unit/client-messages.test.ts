import t from 'tap'
import { decodeClientFrame } from '../../src/protocols/ours/client-messages.js'

t.test('plain text stays plain text (the tutorial client replies with text)', async (t) => {
  t.same(decodeClientFrame('hello server'), { kind: 'text', text: 'hello server' })
  t.same(decodeClientFrame(''), { kind: 'text', text: '' })
  t.same(decodeClientFrame('[1,2]'), { kind: 'text', text: '[1,2]' })
})

t.test('valid protocol messages decode', async (t) => {
  t.same(decodeClientFrame('{"type":"sub","channel":"chat","since":{"offset":41,"epoch":"e1"},"id":7}'),
    { kind: 'message', message: { type: 'sub', channel: 'chat', since: { offset: 41, epoch: 'e1' }, id: 7 } })
  t.same(decodeClientFrame(' {"type":"unsub","channel":"a:b/c"}'), { kind: 'message', message: { type: 'unsub', channel: 'a:b/c' } })
  t.same(decodeClientFrame('{"type":"pub","channel":"chat","data":{"text":"hi"},"id":"r1"}'),
    { kind: 'message', message: { type: 'pub', channel: 'chat', data: { text: 'hi' }, id: 'r1' } })
})

t.test('malformed frames get a clear error code, with the request id when readable', async (t) => {
  t.match(decodeClientFrame('{"type": "sub",'), { kind: 'error', code: 'invalid_json' })
  t.match(decodeClientFrame('{"type":"dance","id":3}'), { kind: 'error', code: 'unknown_type', id: 3, message: /expected one of sub, unsub, pub/ })
  t.match(decodeClientFrame('{"channel":"x"}'), { kind: 'error', code: 'unknown_type' })
  t.match(decodeClientFrame('{"type":"sub","channel":"bad channel!","id":"q"}'), { kind: 'error', code: 'invalid_message', id: 'q', message: /\/channel/ })
  t.match(decodeClientFrame('{"type":"sub","channel":"x","since":{"offset":-1,"epoch":"e"}}'), { kind: 'error', code: 'invalid_message', message: /since\/offset/ })
  t.match(decodeClientFrame('{"type":"unsub","channel":"x","extra":1}'), { kind: 'error', code: 'invalid_message' })
  t.match(decodeClientFrame('{"type":"sub","channel":"' + 'x'.repeat(129) + '"}'), { kind: 'error', code: 'invalid_message' })
  const noId = decodeClientFrame('{"type":"pub","channel":"c","id":{"nested":true}}')
  t.equal(noId.kind, 'error')
  t.notOk('id' in noId, 'an unusable id is not echoed')
})
