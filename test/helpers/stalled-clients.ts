/**
 * Clients that stop reading, and the memory the server holds for them: shared by the slow-consumer
 * test (shortened budget) and bench/hardening-figures.ts (default budget).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Connection } from '../../src/node/connection.js'
import type { ConnectionInfo } from '../../src/index.js'
import type { LogCapture } from './app.js'
import { rawUpgrade, type RawUpgrade } from './realtime-app.js'

/** Memory after a full GC: RSS, and JS heap plus Buffer memory (`arrayBuffers`, which holds unsent frames). */
export function heldBytes (): { rss: number, held: number } {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  gc?.()
  const memory = process.memoryUsage()
  return { rss: memory.rss, held: memory.heapUsed + Math.max(memory.arrayBuffers, memory.external) }
}

/** Open `count` raw clients that complete the handshake and then never read. */
export async function openStalledClients (port: number, count: number): Promise<RawUpgrade[]> {
  const stalled: RawUpgrade[] = []
  for (let i = 0; i < count; i++) {
    const upgrade = await rawUpgrade(port)
    upgrade.socket.pause()
    stalled.push(upgrade)
  }
  return stalled
}

/** What {@link offerUntilClosed} saw. */
export interface OfferResult {
  /** Bytes handed to the connections' sockets. */
  offered: number
  /** Peaks over the run: memory after GC, and the sum of every socket's `bufferedAmount`. */
  peak: { rss: number, held: number, buffered: number }
}

/**
 * Send each connection a distinct frame per round (the worst case: a broadcast would share one
 * string between sockets) until every stalled client has been closed as a slow consumer or
 * `maxRounds` have passed, sampling memory every 8 rounds.
 */
export async function offerUntilClosed (logs: LogCapture, connections: readonly ConnectionInfo[], frameBytes: number, maxRounds: number): Promise<OfferResult> {
  const base = 'x'.repeat(frameBytes - 16)
  const peak = { rss: 0, held: 0, buffered: 0 }
  const sample = (): void => {
    const now = heldBytes()
    let buffered = 0
    // onConnection hands out the public ConnectionInfo; the object is the server's Connection.
    for (const connection of connections) buffered += (connection as Connection).bufferedBytes
    peak.rss = Math.max(peak.rss, now.rss)
    peak.held = Math.max(peak.held, now.held)
    peak.buffered = Math.max(peak.buffered, buffered)
  }
  let offered = 0
  for (let round = 0; round < maxRounds && logs.withMessage('slow consumer: closing').length < connections.length; round++) {
    for (const [i, connection] of connections.entries()) {
      if (connection.send(`${String(i).padStart(6, '0')}:${String(round).padStart(8, '0')}:${base}`)) offered += frameBytes
    }
    if (round % 8 === 7) {
      await new Promise((resolve) => setTimeout(resolve, 1))
      sample()
    }
  }
  sample()
  return { offered, peak }
}
