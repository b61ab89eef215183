/** What the client connects with: a WebSocket, or the event stream made to look like one. */

/**
 * The part of the WebSocket API this client uses: the browser's WebSocket, Node ≥ 22's global
 * one and the `ws` package all fit.
 */
export interface SocketLike {
  readonly readyState: number
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  onopen: ((event: never) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number, reason: string }) => void) | null
  onerror: ((event: never) => void) | null
}

/**
 * A WebSocket class: `new WebSocketClass(url)` must make a {@link SocketLike}. Typed loosely on
 * purpose: implementations type their event handlers with their own event classes, which no
 * single structural type accepts for writing.
 */
export type WebSocketClass = new (url: string) => object
