/**
 * The one place channel frames leave for a socket. Today it is the connection's plain
 * `sendText`; when the per-connection send budget lands, this is the only call to switch.
 */
import type { Connection } from '../node/connection.js'

/**
 * Send one encoded frame to one connection.
 * @returns whether it was handed to the socket
 */
export function sendFrame (connection: Connection, text: string): boolean {
  return connection.sendText(text)
}
