/**
 * A raw TCP WebSocket client: it completes the handshake and then does only what the test says.
 * It never answers pings or close frames by itself, so it can play a stalled or dead peer.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

/** A raw client socket and everything it has received. */
export interface RawClient {
  socket: Socket
  /** Bytes received after the 101 response. */
  received: () => Buffer
  /** Resolves when the server closes the TCP connection. */
  ended: Promise<void>
}

/**
 * Open a TCP connection and perform the upgrade handshake.
 * @throws when the server does not answer 101
 */
export async function rawUpgrade (port: number, path = '/ws', headers: Record<string, string> = {}): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1' })
  const chunks: Buffer[] = []
  let head = ''
  let upgraded = false
  const ended = new Promise<void>((resolve) => { socket.once('close', () => resolve()) })
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) { chunks.push(chunk); return }
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      if (!head.startsWith('HTTP/1.1 101')) { reject(new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`)); return }
      upgraded = true
      const rest = Buffer.from(head.slice(end + 4), 'latin1')
      if (rest.length > 0) chunks.push(rest)
      resolve()
    })
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`)
  })
  return { socket, received: () => Buffer.concat(chunks), ended }
}

/** Count occurrences of a string in a buffer's latin1 text (frames are unmasked server frames). */
export function countIn (buffer: Buffer, needle: string): number {
  return buffer.toString('latin1').split(needle).length - 1
}
