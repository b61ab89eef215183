/**
 * The baseline: the tutorial's design on plain `ws`, as users would otherwise write it. One
 * `setInterval` per socket sends a tick (serialised per socket, with the server timestamp) while
 * the socket is OPEN, cleared on close. Broadcasts are the plain loop over `wss.clients`, the
 * text serialised once per message. No heartbeat, no sessions, no limits.
 *
 * Forked by bench/run.js (needs `--expose-gc`); env TICK_MS. IPC, shared with bench/our-server.js:
 *   { cmd: 'mem' } → { heapUsed, rss, external } after a full GC
 *   { cmd: 'broadcast', count, bytes } → { loopMs, sent } (count messages in one turn, payload `bytes` long)
 */
import http from 'node:http'
import WebSocket, { WebSocketServer } from 'ws'
import { broadcastPayload, serveBenchIpc } from './server-ipc.js'

const tickMs = Number(process.env.TICK_MS ?? 3000)
const server = http.createServer((_req, res) => { res.end('baseline') })
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 })

wss.on('connection', (ws, req) => {
  // The tutorial's IP (spoofable; kept as the baseline's behaviour, never ours).
  const ip = req.headers['x-forwarded-for'] || req.socket.remoteAddress
  let seq = 0
  const timer = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({
        type: 'tick',
        seq: ++seq,
        t: Date.now(),
        data: { message: 'send Msg from server to client.', time: new Date().toISOString(), connections: wss.clients.size }
      }))
    }
  }, tickMs)
  ws.on('message', (data) => { if (data.length === 0) process.stdout.write(`${ip}\n`) })
  ws.on('close', () => clearInterval(timer))
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
