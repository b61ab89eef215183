// The demo page: connection status, a live chart of the ticks, a chat with history and presence,
// and the tutorial's behaviour (it can reply to every message). Built on the package's browser
// client (`fastify-realtime/client`): the server serves its build under /client/, the very file
// the package publishes; this script itself needs no build step.
import { RealtimeClient } from '/client/index.js'

/** @typedef {import('/client/index.js').TickFrame} TickFrame */
/** @typedef {import('/client/index.js').Publication<ChatMessage>} ChatPublication */
/** @typedef {import('/client/index.js').PresenceMember} PresenceMember */
/** @typedef {{ text: string, from: { id: string, name: string | null } }} ChatMessage */
/** @typedef {import('/client/index.js').DirectFrame<ChatMessage>} DirectMessage */
/** @typedef {{ latencyMs: number, load: number }} ChartPoint */

const MAX_LOG_LINES = 50
const MAX_CHAT_LINES = 200
const CHART_POINTS = 60

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from the page`)
  return element
}
// Module scripts have no document.currentScript: find the tag by its data attribute.
const script = /** @type {HTMLScriptElement | null} */ (document.querySelector('script[data-ws-path]'))
const wsPath = script?.dataset.wsPath ?? '/ws'
const myVisitorId = script?.dataset.visitor ?? ''
// The name the page was rendered with: the session keeps it, so our own presence entry arriving
// without it means that session is gone (a restart with in-memory sessions, an expired cookie).
const myRenderedName = script?.dataset.name ?? ''
const useTokens = script?.dataset.tokens === 'true'
const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${wsPath}`

let ticks = 0
/** @type {ChartPoint[]} */
const points = []

/**
 * @param {string} state
 * @param {string} text
 */
function setStatus (state, text) {
  const status = $('status')
  status.dataset.state = state
  status.textContent = text
}

/**
 * @param {'in' | 'out' | 'sys'} kind
 * @param {string} text
 */
function log (kind, text) {
  const item = document.createElement('li')
  item.className = kind
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`
  const list = $('log')
  list.prepend(item)
  while (list.children.length > MAX_LOG_LINES) list.lastElementChild?.remove()
}

// ---- chart: two series on one canvas, each scaled to its own maximum ----

function drawChart () {
  const canvas = /** @type {HTMLCanvasElement} */ ($('chart'))
  const context = canvas.getContext('2d')
  if (context === null) return
  const ratio = window.devicePixelRatio || 1
  const width = canvas.clientWidth
  const height = canvas.clientHeight
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio)
    canvas.height = Math.round(height * ratio)
  }
  context.setTransform(ratio, 0, 0, ratio, 0, 0)
  context.clearRect(0, 0, width, height)
  const pad = { left: 44, right: 44, top: 12, bottom: 20 }
  const plotWidth = width - pad.left - pad.right
  const plotHeight = height - pad.top - pad.bottom
  context.strokeStyle = '#263140'
  context.lineWidth = 1
  context.font = '11px system-ui, sans-serif'
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + plotHeight * i / 4
    context.beginPath()
    context.moveTo(pad.left, y)
    context.lineTo(width - pad.right, y)
    context.stroke()
  }
  const maxLatency = Math.max(10, ...points.map((p) => p.latencyMs)) * 1.2
  const maxLoad = Math.max(1, ...points.map((p) => p.load)) * 1.2
  context.fillStyle = '#58a6ff'
  context.fillText(`${Math.round(maxLatency)} ms`, 4, pad.top + 8)
  context.fillStyle = '#d29922'
  context.fillText(maxLoad.toFixed(1), width - pad.right + 6, pad.top + 8)
  context.fillStyle = '#8b98a5'
  context.fillText(points.length === 0 ? 'waiting for ticks…' : `last ${points.length} ticks`, pad.left, height - 5)
  /**
   * @param {(p: ChartPoint) => number} value
   * @param {number} max
   * @param {string} color
   */
  const series = (value, max, color) => {
    if (points.length === 0) return
    context.strokeStyle = color
    context.lineWidth = 2
    context.beginPath()
    points.forEach((point, i) => {
      const x = pad.left + plotWidth * (i + CHART_POINTS - points.length) / (CHART_POINTS - 1)
      const y = pad.top + plotHeight * (1 - Math.min(1, value(point) / max))
      if (i === 0) context.moveTo(x, y)
      else context.lineTo(x, y)
    })
    context.stroke()
    const last = points[points.length - 1]
    if (last !== undefined) {
      context.fillStyle = color
      context.beginPath()
      context.arc(pad.left + plotWidth, pad.top + plotHeight * (1 - Math.min(1, value(last) / max)), 3, 0, Math.PI * 2)
      context.fill()
    }
  }
  series((p) => p.latencyMs, maxLatency, '#58a6ff')
  series((p) => p.load, maxLoad, '#d29922')
}

/** @param {TickFrame} frame */
function onTick (frame) {
  ticks++
  $('tick-count').textContent = String(ticks)
  const data = /** @type {Record<string, unknown>} */ (frame.data ?? {})
  const t = Number(frame.t)
  const latencyMs = Math.max(0, Date.now() - t)
  const load = Number(data.load1 ?? 0)
  $('tick-time').textContent = String(data.time ?? new Date(t).toISOString())
  $('tick-connections').textContent = String(data.connections ?? '—')
  $('tick-load').textContent = String(data.load1 ?? '—')
  $('tick-rss').textContent = data.rssMiB === undefined ? '—' : `${data.rssMiB} MiB`
  $('tick-latency').textContent = `${latencyMs} ms`
  points.push({ latencyMs, load })
  if (points.length > CHART_POINTS) points.shift()
  $('chart').dataset.points = String(points.length)
  drawChart()
}

// ---- chat and presence ----

/** @param {{ id: string, name?: string | null }} who */
const displayName = (who) => who.name ?? `visitor ${who.id.slice(0, 6)}`

/**
 * A chat line from a publication. The page's own messages are `{ text, from }`, but anything the
 * server or another service publishes on the channel (the HTTP API, a Pusher SDK's trigger) is
 * shown too, as text, without breaking the chat.
 * @param {import('/client/index.js').Publication<unknown>} publication
 */
function showChat (publication) {
  const message = asChatMessage(publication.data) ?? { text: typeof publication.data === 'string' ? publication.data : JSON.stringify(publication.data), from: { id: 'server', name: 'server' } }
  const item = document.createElement('li')
  item.dataset.offset = String(publication.offset)
  const when = document.createElement('span')
  when.className = 'when'
  when.textContent = new Date(publication.t).toLocaleTimeString()
  const who = document.createElement('span')
  who.className = 'who'
  who.textContent = displayName(message.from)
  item.append(when, who, document.createTextNode(message.text))
  addChatLine(item)
}

/**
 * The publication's data when it is a chat message the page sent (`{ text, from: { id, name } }`), else null.
 * @param {unknown} data
 * @returns {ChatMessage | null}
 */
function asChatMessage (data) {
  if (typeof data !== 'object' || data === null) return null
  const { text, from } = /** @type {{ text?: unknown, from?: unknown }} */ (data)
  if (typeof text !== 'string' || typeof from !== 'object' || from === null) return null
  const { id, name } = /** @type {{ id?: unknown, name?: unknown }} */ (from)
  return typeof id === 'string' ? { text, from: { id, name: typeof name === 'string' ? name : null } } : null
}

/** @param {string} text */
function chatNotice (text) {
  const item = document.createElement('li')
  item.className = 'notice'
  item.textContent = text
  addChatLine(item)
}

/** @param {HTMLLIElement} item */
function addChatLine (item) {
  const list = $('chat-list')
  list.append(item)
  while (list.children.length > MAX_CHAT_LINES) list.firstElementChild?.remove()
  list.scrollTop = list.scrollHeight
}

/** @param {PresenceMember[]} members */
function showPresence (members) {
  const list = $('presence')
  list.replaceChildren(...members.map((member) => {
    const item = document.createElement('li')
    item.textContent = displayName(member)
    item.dataset.visitor = member.id
    if (member.id === myVisitorId) {
      const you = document.createElement('span')
      you.className = 'you'
      you.textContent = ' (you)'
      item.append(you)
    }
    return item
  }))
  if (members.length === 0) list.innerHTML = '<li class="muted">nobody yet</li>'
}

// ---- the connection ----

let tokenRefreshes = 0

/**
 * A connection token for this page's visitor (GET /token signs one with the server's JWT_SECRET):
 * fetched at every connect and whenever the server sends `refresh`, so the socket outlives it.
 * @returns {Promise<string>}
 */
async function getToken () {
  const response = await fetch('/token', { cache: 'no-store' })
  if (!response.ok) throw new Error(`GET /token answered ${response.status}`)
  const { token, expiresAt } = /** @type {{ token: string, expiresAt: number }} */ (await response.json())
  const state = $('token-state')
  state.dataset.refreshes = String(tokenRefreshes++)
  state.textContent = `Token valid until ${new Date(expiresAt).toLocaleTimeString()} (fetched ${tokenRefreshes}×)`
  return token
}

/** What of the page's session is gone: its visitor (welcome), its name (our presence entry). */
const ended = { identity: false, name: false }
const sessionGone = () => ended.identity || ended.name

const client = new RealtimeClient(wsUrl, useTokens ? { getToken } : {})

client.on('status', (change) => {
  // Where WebSockets are blocked the client travels on the event stream by itself; the page says which.
  if (change.transport !== undefined) $('status').dataset.transport = change.transport
  if (change.status === 'open' && sessionGone()) setStatus('ended', 'connected, session ended')
  else if (change.status === 'open') setStatus('open', change.transport === 'sse' ? 'connected (event stream)' : 'connected')
  else if (change.status === 'connecting') setStatus('connecting', 'connecting…')
  else if (change.status === 'reconnecting') setStatus('reconnecting', `reconnecting in ${((change.retryInMs ?? 0) / 1000).toFixed(1)} s`)
  else setStatus('closed', `closed (${change.code ?? '—'})`)
  if (change.status !== 'connecting') log('sys', `${change.status}${change.code === undefined ? '' : ` (code ${change.code}${change.reason ? `, ${change.reason}` : ''})`}`)
})
client.on('welcome', (frame) => {
  $('conn-id').textContent = frame.connId
  // The socket carries this page's cookies: another visitor (or none) means the identity this
  // page was rendered with is gone (a new SESSION_SECRET, an expired cookie).
  ended.identity = frame.visitor !== myVisitorId
  showSessionEnded()
})
client.on('tick', onTick)
client.on('message', (frame) => {
  log('in', `← ${JSON.stringify(frame)}`)
  // The tutorial's client answered every message; this one answers ticks when the box is ticked.
  if (frame.type === 'tick' && /** @type {HTMLInputElement} */ ($('auto-reply')).checked) send(`got tick ${frame.seq}`)
})
client.on('error', (error) => log('sys', `error ${error.code}: ${error.message}`))

/**
 * Say whether this page's session has ended. While it has, the page shows nothing of it as
 * current: no old name or visitor, an amber pill instead of the green one, and the chat closed
 * until a reload gives a new session.
 */
function showSessionEnded () {
  const gone = sessionGone()
  $('session-ended').hidden = !gone
  for (const id of ['chat-text', 'chat-send']) /** @type {HTMLInputElement | HTMLButtonElement} */ ($(id)).disabled = gone
  $('display-name').textContent = gone ? '(session ended: reload)' : (myRenderedName || '(none yet)')
  $('visitor').textContent = ended.identity ? '(session ended: reload)' : myVisitorId
  const status = $('status')
  if (gone && status.dataset.state === 'open') setStatus('ended', 'connected, session ended')
  else if (!gone && status.dataset.state === 'ended') setStatus('open', 'connected')
}
$('session-reload').addEventListener('click', () => location.reload())

const chat = client.subscribe('chat', (/** @type {ChatMessage} */ _data, /** @type {ChatPublication} */ publication) => showChat(publication), { rewind: 50 })
chat.on('subscribed', ({ recovered, resumed }) => {
  if (resumed && recovered) chatNotice('reconnected: caught up on everything missed')
  else if (resumed) chatNotice('reconnected: the server lost its history (restart); showing what it has now')
  $('chat-list').dataset.subscribed = String(Number($('chat-list').dataset.subscribed ?? 0) + 1)
})
chat.on('presence', ({ members }) => {
  showPresence(members)
  showRecipients(members)
  const mine = members.find((member) => member.id === myVisitorId)
  if (myRenderedName !== '' && mine !== undefined && (mine.name ?? '') === '' && !ended.name) {
    ended.name = true
    showSessionEnded()
  }
})
chat.on('error', (error) => chatNotice(`chat unavailable: ${error.message}`))

// ---- direct messages: an RPC to the server, which reaches the recipient's every tab ----

/** @param {PresenceMember[]} members */
function showRecipients (members) {
  const select = /** @type {HTMLSelectElement} */ ($('dm-to'))
  const chosen = select.value
  const options = members.filter((member) => member.id !== myVisitorId).map((member) => {
    const option = document.createElement('option')
    option.value = member.id
    option.textContent = displayName(member)
    return option
  })
  const placeholder = document.createElement('option')
  placeholder.value = ''
  placeholder.textContent = options.length === 0 ? 'nobody else here' : 'pick someone here'
  select.replaceChildren(placeholder, ...options)
  select.value = options.some((option) => option.value === chosen) ? chosen : ''
}

/** @param {string} text @param {string} [kind] */
function dmLine (text, kind = 'dm') {
  const item = document.createElement('li')
  item.className = kind
  item.textContent = text
  const list = $('dm-list')
  list.append(item)
  while (list.children.length > MAX_CHAT_LINES) list.firstElementChild?.remove()
}

client.on('direct', (frame) => {
  // The server's dm.send stamps the author; the type is what the demo knows it sends.
  const message = /** @type {DirectMessage} */ (frame).data
  dmLine(`from ${displayName(message.from)}: ${message.text}`)
})

$('dm-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const to = /** @type {HTMLSelectElement} */ ($('dm-to')).value
  const input = /** @type {HTMLInputElement} */ ($('dm-text'))
  const text = input.value.trim()
  if (to === '' || text === '') return
  client.rpc('dm.send', { to, text }, { timeoutMs: 5000 }).then(() => {
    input.value = ''
    dmLine(`to ${/** @type {HTMLSelectElement} */ ($('dm-to')).selectedOptions[0]?.textContent ?? to}: ${text}`, 'notice')
  }, (/** @type {Error & { code?: string }} */ error) => dmLine(`not sent (${error.code ?? 'error'}): ${error.message}`, 'notice'))
})

/** @param {string} text */
function send (text) {
  if (client.send(text)) log('out', `→ ${text}`)
}

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = /** @type {HTMLInputElement} */ ($('send-text'))
  if (input.value.trim() !== '') send(input.value)
  input.value = ''
})

$('chat-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = /** @type {HTMLInputElement} */ ($('chat-text'))
  const text = input.value.trim()
  if (text === '') return
  client.publish('chat', { text }).then(() => { input.value = '' }, (error) => chatNotice(`not sent: ${error.message}`))
})

window.addEventListener('resize', drawChart)
drawChart()
