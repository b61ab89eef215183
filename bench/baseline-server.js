/**
 * The baseline: the tutorial's design on plain `ws`, as users would otherwise write it. One
 * `setInterval` per socket sends a tick (serialised per socket, with the server timestamp) while
 * the socket is OPEN, cleared on close. Broadcasts are the plain loop over `wss.clients`, the
 * text serialised once per message. No heartbeat, no sessions, no limits.
 *
 * The fan-out phase's channel is what a hand-written ws chat server does: a `sub` adds the socket
 * to a Set of subscribers, a `pub` is checked, numbered, serialised once and sent with `ws.send`
 * to every subscriber in a plain loop. Its frames have the shape and size of ours (bench/fanout.js).
 *
 * Forked by bench/run.js (needs `--expose-gc`); env TICK_MS (0: no ticks). IPC, shared with bench/our-server.js:
 *   { cmd: 'mem' } → { heapUsed, rss, external } after a full GC
 *   { cmd: 'broadcast', count, bytes } → { loopMs, sent } (count messages in one turn, payload `bytes` long)
 */
import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import WebSocket, { WebSocketServer } from 'ws'
import { broadcastPayload, serveBenchIpc } from './server-ipc.js'

const tickMs = Number(process.env.TICK_MS ?? 3000)
const server = http.createServer((_req, res) => { res.end('baseline') })
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 })

/** The one channel clients may use, as the demo's `chat`: subscribers, offsets, an epoch. */
const CHAT = 'chat'
const CHAT_MAX_CHARS = 500
const chat = { subscribers: new Set(), offset: 0, epoch: randomBytes(6).toString('base64url') }
/**
 * The author id of each socket that published, made on its first publication (ours signs with
 * the visitor's UUID). Not made at connect, so the memory phase's sockets stay as they were.
 */
const authors = new WeakMap()

function authorOf (ws) {
  let id = authors.get(ws)
  if (id === undefined) {
    id = randomUUID()
    authors.set(ws, id)
  }
  return id
}

function ack (ws, id, offset) {
  ws.send(JSON.stringify({ type: 'ack', id, channel: CHAT, offset, epoch: chat.epoch }))
}

/** A chat message: trimmed, non-empty, bounded, signed with the sender's id (as the demo does). */
function publish (ws, message) {
  const text = typeof message.data?.text === 'string' ? message.data.text.trim() : ''
  if (text === '' || text.length > CHAT_MAX_CHARS) {
    ws.send(JSON.stringify({ type: 'error', id: message.id, code: 'publish_rejected', message: 'Empty or too long.' }))
    return
  }
  const offset = ++chat.offset
  // Serialised once per message; ws frames it again for each subscriber.
  const frame = JSON.stringify({ type: 'pub', channel: CHAT, offset, epoch: chat.epoch, data: { text, from: { id: authorOf(ws), name: null } }, t: Date.now() })
  for (const client of chat.subscribers) {
    if (client.readyState === WebSocket.OPEN) client.send(frame)
  }
  ack(ws, message.id, offset)
}

/** `sub` and `pub` to the chat; anything else is ignored. */
function onChatMessage (ws, data) {
  let message
  try {
    message = JSON.parse(data.toString())
  } catch {
    return
  }
  if (message?.channel !== CHAT) return
  if (message.type === 'sub') {
    chat.subscribers.add(ws)
    ack(ws, message.id, chat.offset)
  } else if (message.type === 'pub') {
    publish(ws, message)
  }
}

wss.on('connection', (ws, req) => {
  // The tutorial's IP (spoofable; kept as the baseline's behaviour, never ours).
  const ip = req.headers['x-forwarded-for'] || req.socket.remoteAddress
  let seq = 0
  const timer = tickMs > 0
    ? setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({
          type: 'tick',
          seq: ++seq,
          t: Date.now(),
          data: { message: 'send Msg from server to client.', time: new Date().toISOString(), connections: wss.clients.size }
        }))
      }
    }, tickMs)
    : undefined
  ws.on('message', (data, isBinary) => {
    if (data.length === 0) process.stdout.write(`${ip}\n`)
    else if (!isBinary) onChatMessage(ws, data)
  })
  ws.on('close', () => {
    clearInterval(timer)
    chat.subscribers.delete(ws)
  })
  ws.send(JSON.stringify({ type: 'welcome', tickIntervalMs: tickMs }))
})

server.listen(0, '127.0.0.1', () => {
  serveBenchIpc({
    port: server.address().port,
    broadcast: (count, bytes, burstStartedAt) => {
      let sent = 0
      for (let i = 0; i < count; i++) {
        const text = broadcastPayload(bytes, burstStartedAt)
        for (const client of wss.clients) {
          if (client.readyState === WebSocket.OPEN) { client.send(text); sent++ }
        }
      }
      return sent
    }
  })
})
