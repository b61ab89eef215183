/**
 * Our own JSON protocol (docs/PROTOCOL.md) as a wire protocol (protocols/protocol.ts): the codec
 * of client-messages.ts and server-messages.ts, unchanged, and our close codes as they are. Every
 * connection speaks it unless the route that made it chose another.
 *
 * It names no type of protocols/protocol.ts, which builds on this folder's vocabulary: the folder
 * imports nothing from its parent, so the two never form a circle. `Connection.protocol`, typed
 * `WireProtocol` and defaulting to this object, is where the compiler checks that it is one.
 */
import { decodeClientFrame, requestIdOfFrame } from './client-messages.js'
import { encode } from './server-messages.js'

/** See the module comment. One frozen object: connections compare protocols by identity. */
export const ourProtocol = Object.freeze({
  name: 'ours',
  decode: decodeClientFrame,
  requestIdOf: requestIdOfFrame,
  encode,
  closeCode: (code: number): number => code
})
