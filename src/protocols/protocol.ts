/**
 * A wire protocol: what a connection's bytes mean. Every connection speaks one (ours by default,
 * or another on a route of its own), chosen where the connection is made and kept on it
 * (`Connection.protocol`). Channels, presence, users, limits and adapters speak one vocabulary,
 * our `ClientMessage` and `ServerMessage`; a protocol only translates at the edge: a client's frame
 * into that vocabulary, a server message into its own text, our close codes into its numbers.
 * So a publication reaches subscribers of every protocol, each framed once per protocol
 * (frames-per-protocol.ts).
 */
import type { DecodedFrame, RequestId } from './ours/client-messages.js'
import type { ServerMessage } from './ours/server-messages.js'

/** See the module comment. */
export interface WireProtocol {
  /**
   * A short name, for logs and tests; unique among the protocols a node serves. Connections are
   * told apart by the protocol object itself, never by this name.
   */
  readonly name: string

  /**
   * Decode one text frame a client sent into our vocabulary: a validated `ClientMessage` the
   * node dispatches to its handlers, plain text (the `onMessage` hook's), or a client error
   * (code, message and the request id when one was readable) that the node answers with an
   * `error`, encoded by this same protocol. Binary frames never get here: the node refuses them
   * first, since no protocol we speak has any.
   */
  decode: (text: string) => DecodedFrame

  /**
   * The request id of a frame the node drops without decoding it (over the message rate), read
   * as cheaply as possible, so that the `rate_limited` answer still carries it and a client
   * waiting on that request is not left hanging. Undefined when the frame has none (or this
   * protocol has no request ids).
   */
  requestIdOf: (text: string) => RequestId | undefined

  /**
   * The text of the frame this protocol sends for `message`, or null when it has no such frame
   * (a protocol without ticks answers null to a `tick`): the node then skips this connection for
   * that message, which is not a failed send. Called once per message and protocol in a
   * fan-out, so it may allocate; it must be deterministic for a given message.
   */
  encode: (message: ServerMessage) => string | null

  /**
   * The close code this protocol sends for one of ours (`CloseCode` in errors.ts, or an
   * application's 1000 or 4000–4999 from `disconnect`), applied by the transport as the
   * connection closes: a protocol whose clients read codes of their own (Pusher's 4000–4299)
   * maps ours onto them. Ours is the identity.
   */
  closeCode: (code: number) => number

  /**
   * Makes the id of each new connection, when this protocol's clients need ids of a form of
   * their own (Pusher's socket ids, `123.456`); ours are random base64url. An id must be unique
   * across nodes: disconnects, user delivery and exclusion find connections by it.
   */
  newConnectionId?: () => string
}
