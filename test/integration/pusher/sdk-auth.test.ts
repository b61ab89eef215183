/**
 * What the real `pusher` SDK's auth helpers produce, pinned: the strings the Pusher WebSocket side
 * must verify (docs/pusher.md, the shared design). `authorizeChannel` signs
 * `socket_id:channel[:channel_data]`, `authenticateUser` signs `socket_id::user::user_data`, each
 * answered as `<key>:<HMAC-SHA256 hex with the secret>`; both refuse a socket id that is not
 * `digits.digits`, so a Pusher connection's id must have that form, and our own protocol's
 * connection ids (which do not) cannot be authorised through the SDK.
 */
import { createHmac } from 'node:crypto'
import t from 'tap'
import { APP, sdk } from '../../helpers/pusher-http.js'

const hmac = (text: string): string => createHmac('sha256', APP.secret).update(text).digest('hex')

t.test('authorizeChannel and authenticateUser sign what the WebSocket side verifies', async (t) => {
  const pusher = sdk(0)
  t.same(pusher.authorizeChannel('1234.5678', 'private-orders'), { auth: `${APP.key}:${hmac('1234.5678:private-orders')}` }, 'a private channel: socket_id:channel')
  const member = { user_id: 'alice', user_info: { name: 'Alice' } }
  const presence = pusher.authorizeChannel('1234.5678', 'presence-room', member)
  t.same(presence, { auth: `${APP.key}:${hmac(`1234.5678:presence-room:${JSON.stringify(member)}`)}`, channel_data: JSON.stringify(member) }, 'a presence channel: socket_id:channel:channel_data, with the channel_data sent as signed')
  const user = { id: 'alice', name: 'Alice' }
  t.same(pusher.authenticateUser('1234.5678', user), { auth: `${APP.key}:${hmac(`1234.5678::user::${JSON.stringify(user)}`)}`, user_data: JSON.stringify(user) }, 'sign-in: socket_id::user::user_data')
  t.throws(() => pusher.authorizeChannel('AbCd_efGh-123', 'private-orders'), /Invalid socket id/, 'one of our own protocol\'s connection ids is refused by the SDK')
})
