/**
 * fastify-realtime's public API (the package's main entry). `import realtime from 'fastify-realtime'`
 * gives the plugin; everything else here is what the README documents: the options and decorator
 * types, the close codes and coded errors, the seams an application implements (adapter, metrics,
 * readiness probes) and the memory adapter. Internals stay unexported.
 * Subpath entries: `fastify-realtime/redis`, `fastify-realtime/prometheus`, `fastify-realtime/client`.
 */
import { realtime } from './plugin.js'

export default realtime
export { realtime, realtime as fastifyRealtime }
export type { RealtimeDecorator, RealtimeResources, RecoveryResources, TargetingResources } from './api/decorator.js'

// Options and what the hooks receive.
export type { RealtimePluginOptions } from './options.js'
export type { TickContext } from './node/ticker.js'
export type { ApiOptions, ApiKey, ApiScope, WebhookOptions } from './api/options.js'
export type { PusherAppOptions, PusherOptions, PusherWebhookOptions } from './protocols/pusher/options.js'
export type { PusherWebhookEvent } from './protocols/pusher/webhook-events.js'
export type { WebhookEventType } from './api/webhooks.js'
export type { ChannelDefinition, ChannelContext } from './channels/policy.js'
export type { ConnectionInfo } from './node/connection.js'
export type { Visitor } from './node/visitor.js'
export type { RpcMethod, RpcContext } from './rpc/methods.js'
export type { TokenClaims } from './auth/tokens.js'
export type { AuthResources } from './auth/connection-auth.js'
export type { DisconnectTarget } from './users/user-service.js'
export type { RealtimeApi, ChannelSummary, NodeReport, PublishItem, PublishCallOptions, HistoryCallOptions, SendToUserOptions } from './api/server-api.js'

// What the decorator returns.
export type { RealtimeStats, NodeResources } from './node/realtime-node.js'
export type { UpgradeGateState } from './upgrade/gate.js'
export type { ReadinessCheckResult, ReadinessProbe, ReadinessReport } from './node/readiness.js'

// Errors and close codes.
export { errorCodes, CloseCode, ClientErrorCode, RpcError } from './errors.js'
export type { CloseCodeValue, ClientErrorCodeValue } from './errors.js'

// For webhook receivers written in Node: check a request's signature.
export { verifyWebhook } from './api/signature.js'

// Seams: where publications live, and what gets counted.
// An adapter is a broker, presence and shared state (adapters/broker.ts, presence.ts, state.ts).
export type {
  RealtimeAdapter, AdapterHandler, AdapterSettings, Publication, PublishOptions, SinceResult, RecentResult,
  PresenceEntry, PresenceMember, PresenceEvent, StreamPosition, ControlMessage, LifecycleEvent, GapCause, ResubscribeCause,
  Broker, BrokerHandler, Presence, PresenceHandler, SharedState, StateHandler
} from './adapters/adapter.js'
export { MemoryAdapter } from './adapters/memory.js'
export type { MemoryAdapterOptions } from './adapters/memory.js'
export type { RealtimeMetrics, StreamGapOutcome, UpgradeRejection, WebhookOutcome } from './metrics/metrics.js'
export { noopMetrics } from './metrics/metrics.js'
