/**
 * The error the client rejects with and reports: the server's `error` frame as an Error, or one
 * of the client's own conditions.
 */

/** Codes the client itself produces (the server's codes are in docs/PROTOCOL.md). */
export const ClientSideCode = Object.freeze({
  /** The request could not be sent, or its connection closed before the answer came. */
  DISCONNECTED: 'disconnected',
  /** No answer within `requestTimeoutMs`. */
  TIMEOUT: 'timeout'
} as const)

/** A refused or failed request: `code` is the server's error code (or a {@link ClientSideCode}). */
export class RealtimeError extends Error {
  /** Stable, machine-readable code, e.g. `forbidden`, `publish_rejected`, `disconnected`. */
  readonly code: string

  constructor (code: string, message: string) {
    super(message)
    this.name = 'RealtimeError'
    this.code = code
  }
}
