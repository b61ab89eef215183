/**
 * The floor of the tick phase: the least a Node server can do to deliver one tick per socket.
 * No WebSocket library, no parsing, no checks: it answers the upgrade by hand and, on a shared
 * timer spread over 5 ms slots (like our ticker; env SLOT_MS), writes a tick framed once per slot to each socket
 * of the slot with one `socket.write`. Whatever a real server costs beyond this is overhead it
 * can cut; what this costs (the write system call and the kernel's loopback TCP work) no server
 * can. It is measured in the tick phase only, to tell how close a target is to the possible.
 *
 * Forked by bench/run.js; env TICK_MS, SLOT_MS (bench/run.js --floor-slot-ms). IPC as bench/server-ipc.js (no broadcast).
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import { serveBenchIpc } from './server-ipc.js'

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const SLOT_MS = Number(process.env.SLOT_MS ?? 5)
const tickMs = Number(process.env.TICK_MS ?? 3000)
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
})

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
setTimeout(onTimer, SLOT_MS)

server.listen(0, '127.0.0.1', () => {
  serveBenchIpc({ port: server.address().port, broadcast: () => 0 })
})
