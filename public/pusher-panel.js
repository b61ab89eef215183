// The demo page's Pusher panel (shown with PUSHER_APP_* set): pusher-js's own web build, loaded
// by a plain <script> before this one as window.Pusher, pointed at this server with the options
// a self-hosted server needs (docs/pusher.md, "Point the clients at it"). It subscribes to the
// public channel `chat` (what the page's own client publishes) and the presence channel
// `presence-demo` (signed by POST /pusher/auth), lists its members, and sends a client event.

/** @typedef {typeof import('pusher-js').default} PusherClass */
/** @typedef {import('pusher-js').PresenceChannel} PresenceChannel */
/** @typedef {{ id: string, info: { name?: string | null } | undefined }} Member */

const MAX_EVENTS = 100

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from the page`)
  return element
}

const script = /** @type {HTMLScriptElement | null} */ (document.querySelector('script[data-pusher-key]'))
const key = script?.dataset.pusherKey ?? ''
const PusherJs = /** @type {PusherClass | undefined} */ (Reflect.get(window, 'Pusher'))
if (PusherJs === undefined) throw new Error('pusher-js did not load (/vendor/pusher-js/pusher.min.js)')

const tls = location.protocol === 'https:'
const pusher = new PusherJs(key, {
  cluster: 'local', // required by pusher-js; any string for a self-hosted server
  wsHost: location.hostname,
  wsPort: Number(location.port) || (tls ? 443 : 80),
  wssPort: Number(location.port) || 443,
  forceTLS: tls,
  enabledTransports: ['ws'],
  channelAuthorization: { endpoint: '/pusher/auth', transport: 'ajax' }
})

/**
 * One received event in the panel's list.
 * @param {string} channel
 * @param {string} event
 * @param {unknown} data
 */
function showEvent (channel, event, data) {
  const item = document.createElement('li')
  item.dataset.channel = channel
  item.dataset.event = event
  item.textContent = `${channel} · ${event} · ${typeof data === 'string' ? data : JSON.stringify(data)}`
  const list = $('pusher-events')
  list.append(item)
  while (list.children.length > MAX_EVENTS) list.firstElementChild?.remove()
}

pusher.connection.bind('state_change', (/** @type {{ current: string }} */ { current }) => {
  const state = $('pusher-state')
  state.dataset.state = current
  state.textContent = current
  $('pusher-socket-id').textContent = current === 'connected' ? pusher.connection.socket_id : '—'
})

const chat = pusher.subscribe('chat')
chat.bind_global((/** @type {string} */ event, /** @type {unknown} */ data) => {
  if (!event.startsWith('pusher:')) showEvent('chat', event, data)
})

const room = /** @type {PresenceChannel} */ (pusher.subscribe('presence-demo'))

function showMembers () {
  const list = $('pusher-members')
  list.replaceChildren()
  room.members.each((/** @type {Member} */ member) => {
    const item = document.createElement('li')
    item.dataset.visitor = member.id
    const me = member.id === room.members.myID
    item.textContent = `${member.info?.name ?? member.id.slice(0, 8)}${me ? ' (you)' : ''}`
    list.append(item)
  })
}

room.bind('pusher:subscription_succeeded', () => {
  showMembers()
  const wave = /** @type {HTMLButtonElement} */ ($('pusher-wave'))
  wave.disabled = false
})
room.bind('pusher:member_added', showMembers)
room.bind('pusher:member_removed', showMembers)
room.bind_global((/** @type {string} */ event, /** @type {unknown} */ data) => {
  if (!event.startsWith('pusher')) showEvent('presence-demo', event, data)
})

$('pusher-wave-form').addEventListener('submit', (event) => {
  event.preventDefault()
  // Client events go to the others on the channel, never back to the sender.
  room.trigger('client-wave', { from: room.members.me?.info?.name ?? room.members.myID, at: Date.now() })
  showEvent('presence-demo', 'client-wave (sent)', '')
})
