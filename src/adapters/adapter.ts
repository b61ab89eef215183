/**
 * The adapter contract, split by job as centrifuge splits Broker and PresenceManager:
 *
 * - {@link Broker} (broker.ts): publish with offsets and idempotency, history, channel
 *   subscriptions, control messages between nodes;
 * - {@link Presence} (presence.ts): who is in a channel;
 * - {@link SharedState} (state.ts): resume state, cursors, claims, and channel occupancy.
 *
 * A full adapter is all three ({@link RealtimeAdapter}); the memory adapter (one process) and the
 * Redis adapter (many nodes) are, and the contract suite (test/contract/adapter-contract.ts) runs
 * per part against each. Each part of the library depends on the narrowest part it uses.
 *
 * Direction of calls: the node calls the adapter's methods; the adapter calls back into the node
 * only through the {@link AdapterHandler} it was given in `init`, grouped per part. So an adapter
 * never imports the hub or the node.
 */
import type { AdapterSettings, Broker, BrokerHandler } from './broker.js'
import type { Presence, PresenceHandler } from './presence.js'
import type { SharedState, StateHandler } from './state.js'

export type {
  AdapterSettings, Broker, BrokerHandler, ControlMessage, ResubscribeCause, GapCause, Publication, PublishOptions, RecentResult, SinceResult, StreamPosition
} from './broker.js'
export type { Presence, PresenceEntry, PresenceEvent, PresenceHandler, PresenceMember } from './presence.js'
export type { LifecycleEvent, SharedState, StateHandler } from './state.js'

/** How a full adapter reaches the node: the handlers of its three parts, in one object. */
export interface AdapterHandler extends BrokerHandler, PresenceHandler, StateHandler {}

/**
 * A full adapter: a broker, presence and shared state in one object, started once. This is what
 * the `adapter` option takes.
 */
export interface RealtimeAdapter extends Broker, Presence, SharedState {
  /** Connect the adapter to the node. Called once, before any other method. */
  init (handler: AdapterHandler, settings?: AdapterSettings): Promise<void>
}
