/**
 * The WebSocket class this plugin gives ws (its documented `WebSocket` server option) when it
 * registers @fastify/websocket itself: a `ws` WebSocket that hands its events straight to the
 * connection that owns it, instead of through listeners.
 *
 * Why: four listeners (message, pong, close, error) turn each socket's `_events` into a larger
 * dictionary, and finding the connection from a shared listener takes a WeakMap entry; together
 * about 300 bytes per socket, on a server that holds tens of thousands. Listeners an application
 * adds (`connection.socket.on(...)`) still run: every event is also emitted as usual.
 */
import { WebSocket, type RawData } from 'ws'

/** What receives a {@link RealtimeSocket}'s events (a Connection). */
export interface SocketEventSink {
  socketMessage: (data: RawData, isBinary: boolean) => void
  socketPong: () => void
  socketError: (error: Error) => void
  socketClose: (code: number, reason: Buffer) => void
}

/** A ws WebSocket that reports its events to one {@link SocketEventSink}. */
export class RealtimeSocket extends WebSocket {
  /** The connection that gets this socket's events; null until it is accepted, and after its close. */
  eventSink: SocketEventSink | null = null

  /**
   * Deliver an event to the sink, then to any listeners. An `error` with neither listener nor
   * sink is dropped rather than thrown: one socket's error must never take the process down.
   */
  override emit (event: string | symbol, first?: unknown, second?: unknown, ...rest: unknown[]): boolean {
    const sink = this.eventSink
    if (sink !== null) {
      switch (event) {
        case 'message':
          sink.socketMessage(first as RawData, second as boolean)
          break
        case 'pong':
          sink.socketPong()
          break
        case 'error':
          sink.socketError(first as Error)
          break
        case 'close':
          this.eventSink = null
          sink.socketClose(first as number, second as Buffer)
          break
      }
    }
    if (event === 'error' && this.listenerCount('error') === 0) return sink !== null
    return rest.length === 0 ? super.emit(event, first, second) : super.emit(event, first, second, ...rest)
  }
}
