/**
 * The Pusher protocol's parts on their own: the `pusher` option's checks (coded errors naming the
 * field), channel names inside and out, signatures (HMAC-SHA256, what the SDK signs), the close
 * code table pusher-js acts on, frame decoding, and the Redis codec's extras and member info.
 */
import PusherSdk from 'pusher'
import t from 'tap'
import { decodeMember, decodePubsub, decodeStoredData, encodeMemberLabel, encodeStoredData } from '../../src/adapters/redis/codec.js'
import { CloseCode } from '../../src/errors.js'
import { resolveOptions } from '../../src/options.js'
import { channelKind, fromInternalChannel, pusherChannelName } from '../../src/protocols/pusher/channel-names.js'
import { pusherCloseCode } from '../../src/protocols/pusher/close-codes.js'
import { decodePusherFrame, pusherProtocol } from '../../src/protocols/pusher/protocol.js'
import { channelAuthText, newSocketId, userAuthText, verifyAuth } from '../../src/protocols/pusher/signatures.js'
import { ADDRESSEE, SENDER, type DirectMessage, type PubMessage } from '../../src/protocols/ours/server-messages.js'

const app = { id: '1', key: 'key', secret: 'secret-0123456789' }

t.test('the pusher option: off by default, defaults, and coded errors naming what is wrong', async (t) => {
  t.equal(resolveOptions({}).pusher, undefined, 'off when absent')
  const resolved = resolveOptions({ pusher: { apps: [app, { id: '2', key: 'key2', secret: 'secret-22222222' }] } }).pusher
  t.match(resolved, { path: '/app', apiPath: '', activityTimeoutS: 120, userAuthenticationTimeoutMs: 0, maxClientEventsPerSecond: 10 })
  t.equal(resolved?.byKey.get('key2')?.id, '2', 'apps by key')
  t.equal(resolved?.byId.get('1')?.key, 'key', 'and by id')
  t.same(resolved?.apps.map((entry) => entry.channelPrefix), ['', '2/'], 'the first app shares our namespace, the others have their own')
  const refusals: Array<[unknown, RegExp]> = [
    [{ apps: [] }, /pusher/],
    [{ apps: [{ ...app, secret: 'short' }] }, /pusher/],
    [{ apps: [app, { ...app, key: 'other' }] }, /apps\[1\]\.id: "1" is used by two apps/],
    [{ apps: [app, { ...app, id: '2' }] }, /apps\[1\]\.key: two apps have the same key/],
    [{ apps: [{ ...app, key: 'with space' }] }, /pusher/],
    [{ apps: [app], activityTimeoutS: 0 }, /pusher/],
    [{ apps: [app], unknown: 1 }, /pusher/]
  ]
  for (const [pusher, message] of refusals) {
    t.throws(() => resolveOptions({ pusher } as never), { code: 'FRT_INVALID_OPTION', message }, JSON.stringify(pusher))
  }
  t.throws(() => resolveOptions({ pusher: { apps: [app] }, requireAuth: true }), { code: 'FRT_INVALID_OPTION', message: /requireAuth/ }, 'not with requireAuth')
  let refusal = ''
  try {
    resolveOptions({ pusher: { apps: [{ ...app, secret: 'tiny' }] } })
  } catch (error) {
    refusal = (error as Error).message
  }
  t.ok(refusal !== '' && !refusal.includes('tiny'), 'a refusal never repeats the secret')
})

t.test('channel names: = , ; escaped inside, other apps under their id, kinds by prefix', async (t) => {
  const first = { id: '1', channelPrefix: '' }
  const second = { id: '2', channelPrefix: '2/' }
  t.equal(pusherChannelName(first, 'orders'), 'orders', 'the first app\'s channel IS ours')
  t.equal(pusherChannelName(first, 'a=b,c;d'), 'a$3db$2cc$3bd')
  t.equal(fromInternalChannel(first, 'a$3db$2cc$3bd'), 'a=b,c;d', 'and back')
  t.equal(pusherChannelName(second, 'orders'), '2/orders')
  t.equal(fromInternalChannel(second, '2/orders'), 'orders')
  t.equal(fromInternalChannel(first, '2/orders'), null, 'not the first app\'s')
  t.equal(fromInternalChannel(first, 'room:1'), null, 'ours with a colon is no Pusher channel')
  t.same(channelKind('private-encrypted-cache-x'), { kind: 'encrypted', cache: true })
  t.same(channelKind('presence-cache-x'), { kind: 'presence', cache: true })
  t.same(channelKind('private-x'), { kind: 'private', cache: false })
  t.same(channelKind('cache-x'), { kind: 'public', cache: true })
})

t.test('signatures: what the pusher SDK signs verifies; anything else does not', async (t) => {
  const sdk = new PusherSdk({ appId: app.id, key: app.key, secret: app.secret, cluster: 'local' })
  const socketId = newSocketId()
  t.match(socketId, /^\d+\.\d+$/, 'socket ids as the SDK requires')
  const data = JSON.stringify({ user_id: 'u', user_info: { a: 1 } })
  const presence = sdk.authorizeChannel(socketId, 'presence-x', { user_id: 'u', user_info: { a: 1 } })
  t.ok(verifyAuth(app, presence.auth, channelAuthText(socketId, 'presence-x', data)), 'presence auth')
  t.notOk(verifyAuth(app, presence.auth, channelAuthText(socketId, 'presence-x', JSON.stringify({ user_id: 'admin' }))), 'not for other channel_data')
  t.notOk(verifyAuth(app, presence.auth, channelAuthText('1.2', 'presence-x', data)), 'not for another socket')
  t.notOk(verifyAuth({ ...app, key: 'other' }, presence.auth, channelAuthText(socketId, 'presence-x', data)), 'not under another key')
  t.notOk(verifyAuth(app, 'key:short', channelAuthText(socketId, 'presence-x', data)), 'a signature of the wrong length')
  const user = sdk.authenticateUser(socketId, { id: 'u1' })
  t.ok(verifyAuth(app, user.auth, userAuthText(socketId, user.user_data)), 'user sign-in')
})

t.test('close codes: what pusher-js retries at once, after a second, or never', async (t) => {
  t.equal(pusherCloseCode(CloseCode.GOING_AWAY), 4200, 'drain / restart: at once')
  t.equal(pusherCloseCode(CloseCode.INTERNAL_ERROR), 4200)
  t.equal(pusherCloseCode(CloseCode.SLOW_CONSUMER), 4100, 'slow consumer: after a second')
  t.equal(pusherCloseCode(CloseCode.TRY_AGAIN_LATER), 4100)
  t.equal(pusherCloseCode(CloseCode.POLICY_VIOLATION), 4009, 'policy: never')
  t.equal(pusherCloseCode(CloseCode.MESSAGE_TOO_BIG), 4009)
  t.equal(pusherCloseCode(CloseCode.AUTH_REQUIRED), 4009)
  t.equal(pusherCloseCode(CloseCode.KICKED), 4009, 'a kick: never')
  t.equal(pusherCloseCode(CloseCode.NORMAL), 1000)
  t.equal(pusherCloseCode(4201), 4201, 'Pusher codes an application passes stay')
  t.equal(pusherCloseCode(4350), 4100)
})

t.test('decoding Pusher frames into requests, and refusing what is not one', async (t) => {
  t.same(decodePusherFrame('{"event":"pusher:subscribe","data":{"channel":"c","auth":"k:s"}}'), { kind: 'message', message: { type: 'pusher:subscribe', channel: 'c', auth: 'k:s', channelData: undefined } })
  t.same(decodePusherFrame('{"event":"pusher:subscribe","data":"{\\"channel\\":\\"c\\"}"}'), { kind: 'message', message: { type: 'pusher:subscribe', channel: 'c', auth: undefined, channelData: undefined } }, 'data as JSON text too')
  t.same(decodePusherFrame('{"event":"client-x","channel":"private-c","data":{"a":1}}'), { kind: 'message', message: { type: 'pusher:client-event', channel: 'private-c', event: 'client-x', data: { a: 1 } } })
  t.same(decodePusherFrame('{"event":"pusher:ping","data":{}}'), { kind: 'message', message: { type: 'pusher:ping' } })
  t.match(decodePusherFrame('nope'), { kind: 'error', code: 'invalid_json' })
  t.match(decodePusherFrame('{"event":"pusher:subscribe","data":{}}'), { kind: 'error', code: 'invalid_message' })
  t.match(decodePusherFrame('{"event":"other"}'), { kind: 'error', code: 'unknown_type' })
  t.match(decodePusherFrame('{"event":"client-x"}'), { kind: 'error', code: 'invalid_message' })
})

t.test('encoding: pub with event and user_id, direct to #server-to-user-<id>, the sender and addressee never in our JSON', async (t) => {
  const protocol = pusherProtocol({ app: { id: '1', key: 'key', channelPrefix: '' }, activityTimeoutS: 120 })
  const pub: PubMessage = { type: 'pub', channel: 'presence-a', offset: 1, epoch: 'e', data: { x: 1 }, t: 0, event: 'client-x', [SENDER]: 'u1' }
  t.same(JSON.parse(protocol.encode(pub) ?? ''), { event: 'client-x', channel: 'presence-a', data: '{"x":1}', user_id: 'u1' })
  t.notOk(JSON.stringify(pub).includes('u1'), 'our frame does not carry the sender')
  const direct: DirectMessage = { type: 'direct', t: 0, data: 'hi', [ADDRESSEE]: 'u2' }
  t.same(JSON.parse(protocol.encode(direct) ?? ''), { event: 'message', channel: '#server-to-user-u2', data: 'hi' })
  t.notOk(JSON.stringify(direct).includes('u2'), 'our frame does not carry the addressee')
  t.equal(protocol.encode({ type: 'tick', seq: 1, t: 0, data: null }), null, 'no ticks')
  t.equal(protocol.encode({ type: 'pub', channel: 'room:1', offset: 1, epoch: 'e', data: 1, t: 0 }), null, 'a channel of ours that is no Pusher channel: nothing')
})

t.test('the Redis codec: extras and member info ride opaque text, and plain values stay as before', async (t) => {
  t.equal(encodeStoredData({ a: 1 }, {}), '{"a":1}', 'no extras: exactly as before')
  const stored = encodeStoredData({ a: 1 }, { event: 'e', except: '1.2', userId: 'u' })
  t.same(decodeStoredData(stored), { data: { a: 1 }, extras: { event: 'e', except: '1.2', userId: 'u' } })
  t.match(decodePubsub('room', `p\nnode\n3\nep\n99\n${stored}`), { kind: 'publication', publication: { channel: 'room', offset: 3, event: 'e', except: '1.2', userId: 'u', data: { a: 1 } } })
  t.equal(encodeMemberLabel('Ann', undefined), 'Ann', 'no info: the name as before')
  t.same(decodeMember('ann', encodeMemberLabel('Ann', { role: 'x' })), { id: 'ann', name: 'Ann', info: { role: 'x' } })
  t.same(decodeMember('u', encodeMemberLabel(undefined, { a: 1 })), { id: 'u', info: { a: 1 } })
  t.same(decodeMember('ann', 'Ann'), { id: 'ann', name: 'Ann' })
})
