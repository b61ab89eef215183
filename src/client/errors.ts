/**
 * The error the client rejects with and reports: the server's `error` frame as an Error, or one
 * of the client's own conditions.
 */

/** Codes the client itself produces (the server's codes are in docs/PROTOCOL.md). */
export const ClientSideCode = Object.freeze({
  /** The request could not be sent, or its connection closed before the answer came. */
  DISCONNECTED: 'disconnected',
  /** No answer within `requestTimeoutMs` (or an `rpc`'s `timeoutMs`). */
  TIMEOUT: 'timeout',
  /** The token function (a channel token's) failed. */
  TOKEN_UNAVAILABLE: 'token_unavailable'
} as const)

/** A refused or failed request: `code` is the server's error code (or a {@link ClientSideCode}). */
export class RealtimeError extends Error {
  /** Stable, machine-readable code, e.g. `forbidden`, `publish_rejected`, `disconnected`, or an RPC method's own. */
  readonly code: string
  /** Details the server attached (an RPC method's `RpcError` data). */
  readonly data: unknown

  constructor (code: string, message: string, data?: unknown) {
    super(message)
    this.name = 'RealtimeError'
    this.code = code
    this.data = data
  }
}
