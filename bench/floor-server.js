/**
 * The floor of the tick phase: the least a Node server can do to deliver one tick per socket.
 * No WebSocket library, no parsing, no checks: it answers the upgrade by hand and, on a shared
 * timer spread over 5 ms slots (like our ticker; env SLOT_MS), writes a tick framed once per slot to each socket
 * of the slot with one `socket.write`. Whatever a real server costs beyond this is overhead it
 * can cut; what this costs (the write system call and the kernel's loopback TCP work) no server
 * can. It is measured in the tick phase only, to tell how close a target is to the possible.
 *
 * Fan-out mode (env FANOUT=1, the fan-out phase's steady rate): the same least work for a channel.
 * Client frames are unmasked by hand; a `sub` joins the one channel (`chat`), a `pub` is numbered,
 * serialised and framed once, and the same bytes go to each subscriber with one `socket.write`,
 * in the shape and size of ours and the baseline's (bench/fanout.js). What ours costs per
 * delivered publication beyond this, when publications come one at a time, it could cut.
 *
 * Forked by bench/run.js; env TICK_MS (0: no ticks), SLOT_MS (bench/run.js --floor-slot-ms), FANOUT.
 * IPC as bench/server-ipc.js (no broadcast).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import { serveBenchIpc } from './server-ipc.js'

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const SLOT_MS = Number(process.env.SLOT_MS ?? 5)
const tickMs = Number(process.env.TICK_MS ?? 3000)
const FANOUT = process.env.FANOUT === '1'
const slotCount = Math.max(1, Math.floor(tickMs / SLOT_MS))
/** Sockets by slot, assigned round-robin as they connect. */
const slots = Array.from({ length: slotCount }, () => new Set())
let nextSlot = 0
let seq = 0

/** An unmasked server text frame (payloads here stay under 64 KiB). */
function frame (text) {
  const payload = Buffer.from(text)
  const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff])
  return Buffer.concat([header, payload])
}

const server = http.createServer((_req, res) => { res.end('floor') })
server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key']
  if (typeof key !== 'string') { socket.destroy(); return }
  const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64')
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
  socket.write(frame(JSON.stringify({ type: 'welcome', tickIntervalMs: tickMs })))
  const slot = slots[nextSlot]
  nextSlot = (nextSlot + 1) % slotCount
  slot.add(socket)
  socket.on('error', () => socket.destroy())
  socket.on('close', () => slot.delete(socket))
  if (FANOUT) followClientFrames(socket)
})

/** The fan-out mode's channel, as the demo's `chat`: subscribers, offsets, an epoch. */
const CHAT = 'chat'
const CHAT_MAX_CHARS = 500
const chat = { subscribers: new Set(), offset: 0, epoch: randomBytes(6).toString('base64url') }
/** The author id of each socket that published (ours signs with the visitor's UUID). */
const authors = new WeakMap()

function authorOf (socket) {
  let id = authors.get(socket)
  if (id === undefined) {
    id = randomUUID()
    authors.set(socket, id)
  }
  return id
}

/** Read a socket's client frames as they arrive, and leave the channel when it closes. */
function followClientFrames (socket) {
  let pending = null
  socket.on('data', (chunk) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
    const used = readClientFrames(socket, buf)
    // Keep only the unread tail (copied, so the chunk it came from can be freed).
    pending = used < buf.length ? Buffer.from(buf.subarray(used)) : null
  })
  socket.on('close', () => chat.subscribers.delete(socket))
}

/**
 * Handle the complete masked client frames at the start of `buf` (RFC 6455 §5.2): text frames
 * go to the channel, a close ends the socket. Payloads stay under 64 KiB (the generator's do).
 * @returns how many bytes were used
 */
function readClientFrames (socket, buf) {
  let offset = 0
  while (buf.length - offset >= 2) {
    const opcode = buf[offset] & 0x0f
    let length = buf[offset + 1] & 0x7f
    let maskAt = offset + 2
    if (length === 126) {
      if (buf.length - offset < 4) break
      length = buf.readUInt16BE(offset + 2)
      maskAt = offset + 4
    } else if (length === 127) {
      socket.destroy()
      return buf.length
    }
    const start = maskAt + 4
    if (start + length > buf.length) break
    if (opcode === 0x1) {
      const payload = Buffer.allocUnsafe(length)
      for (let i = 0; i < length; i++) payload[i] = buf[start + i] ^ buf[maskAt + (i & 3)]
      onChatMessage(socket, payload.toString())
    } else if (opcode === 0x8) {
      socket.end()
    }
    offset = start + length
  }
  return offset
}

function ack (socket, id, offset) {
  socket.write(frame(JSON.stringify({ type: 'ack', id, channel: CHAT, offset, epoch: chat.epoch })))
}

/** `sub` and `pub` to the chat, as bench/baseline-server.js handles them; anything else is ignored. */
function onChatMessage (socket, text) {
  let message
  try {
    message = JSON.parse(text)
  } catch {
    return
  }
  if (message?.channel !== CHAT) return
  if (message.type === 'sub') {
    chat.subscribers.add(socket)
    ack(socket, message.id, chat.offset)
    return
  }
  const chatText = typeof message.data?.text === 'string' ? message.data.text.trim() : ''
  if (message.type !== 'pub' || chatText === '' || chatText.length > CHAT_MAX_CHARS) return
  const offset = ++chat.offset
  // Framed once; the same bytes, one write per subscriber.
  const bytes = frame(JSON.stringify({ type: 'pub', channel: CHAT, offset, epoch: chat.epoch, data: { text: chatText, from: { id: authorOf(socket), name: null } }, t: Date.now() }))
  for (const subscriber of chat.subscribers) subscriber.write(bytes)
  ack(socket, message.id, offset)
}

let cursor = 0
let nextFireAt = Date.now() + SLOT_MS

function fireSlot () {
  const due = slots[cursor]
  cursor = (cursor + 1) % slotCount
  if (due.size === 0) return
  // The baseline's tick, framed once for the slot.
  const bytes = frame(JSON.stringify({
    type: 'tick',
    seq: ++seq,
    t: Date.now(),
    data: { message: 'send Msg from server to client.', time: new Date().toISOString(), connections: server.connections }
  }))
  for (const socket of due) socket.write(bytes)
}

/**
 * Fire the slots due when this turn began, then sleep until the next (no drift, as ours); slots
 * that fall due meanwhile wait for the next turn, so an overloaded floor still accepts sockets.
 */
function onTimer () {
  const startedAt = Date.now()
  while (startedAt >= nextFireAt) {
    fireSlot()
    nextFireAt += SLOT_MS
  }
  setTimeout(onTimer, Math.max(0, nextFireAt - Date.now()))
}
if (tickMs > 0) setTimeout(onTimer, SLOT_MS)

server.listen(0, '127.0.0.1', () => {
  serveBenchIpc({ port: server.address().port, broadcast: () => 0 })
})
