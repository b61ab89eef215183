// The demo page's client: a plain browser WebSocket, no library. It connects to the realtime
// endpoint, shows the connection status and each tick, and (like the tutorial's client) can
// reply to every message it receives.

const MAX_LOG_LINES = 50

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
// Module scripts have no document.currentScript: find the tag by its data attribute.
const script = /** @type {HTMLScriptElement | null} */ (document.querySelector('script[data-ws-path]'))
const wsPath = script?.dataset.wsPath ?? '/ws'
const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${wsPath}`

let ticks = 0
let retryMs = 500
/** @type {WebSocket | null} */
let socket = null

function setStatus (state, text) {
  const status = $('status')
  status.dataset.state = state
  status.textContent = text
}

function log (kind, text) {
  const item = document.createElement('li')
  item.className = kind
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`
  const list = $('log')
  list.prepend(item)
  while (list.children.length > MAX_LOG_LINES) list.lastElementChild?.remove()
}

function onTick (message) {
  ticks++
  $('tick-count').textContent = String(ticks)
  const data = message.data ?? {}
  $('tick-time').textContent = data.time ?? new Date(message.t).toISOString()
  $('tick-connections').textContent = String(data.connections ?? '—')
  $('tick-load').textContent = String(data.load1 ?? '—')
  $('tick-rss').textContent = data.rssMiB === undefined ? '—' : `${data.rssMiB} MiB`
}

function send (text) {
  if (socket?.readyState !== WebSocket.OPEN) return
  socket.send(text)
  log('out', `→ ${text}`)
}

function connect () {
  setStatus('connecting', 'connecting…')
  socket = new WebSocket(wsUrl)
  socket.addEventListener('open', () => {
    retryMs = 500
    setStatus('open', 'connected')
    log('sys', `connected to ${wsUrl}`)
  })
  socket.addEventListener('message', (event) => {
    let message
    try { message = JSON.parse(event.data) } catch { message = { type: 'text', data: event.data } }
    if (message.type === 'welcome') $('conn-id').textContent = message.connId
    if (message.type === 'tick') onTick(message)
    log('in', `← ${event.data}`)
    if (message.type === 'tick' && /** @type {HTMLInputElement} */ ($('auto-reply')).checked) {
      send(`got tick ${message.seq}`)
    }
  })
  socket.addEventListener('close', (event) => {
    setStatus('closed', `closed (${event.code}), retrying…`)
    log('sys', `closed with code ${event.code} ${event.reason}`)
    const hint = /retry=(\d+)/.exec(event.reason)
    const delay = hint ? Number(hint[1]) : retryMs
    retryMs = Math.min(retryMs * 2, 15000)
    setTimeout(connect, delay + Math.random() * 250)
  })
}

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = /** @type {HTMLInputElement} */ ($('send-text'))
  if (input.value.trim() !== '') send(input.value)
  input.value = ''
})

connect()
