/**
 * fastify-realtime public API. `import realtime from 'fastify-realtime'` gives the plugin.
 */
import { realtime } from './plugin.js'

export default realtime
export { realtime, realtime as fastifyRealtime }
export type { RealtimeDecorator } from './plugin.js'
export type { RealtimePluginOptions, TickContext } from './options.js'
export { DEFAULTS } from './options.js'
export type { RealtimeStats } from './node/realtime-node.js'
export type { ConnectionInfo } from './node/connection.js'
export type { Visitor } from './node/visitor.js'
export type { ServerMessage, WelcomeMessage, TickMessage, BroadcastMessage, ErrorMessage } from './wire/server-messages.js'
export { CloseCode, InvalidOptionError, InvalidConfigError, MAX_CLOSE_REASON_BYTES } from './errors.js'
export type { CloseCodeValue } from './errors.js'
export {
  ClientErrorCode, CloseReason, DrainingError, ForbiddenOriginError, HandshakeRateError, ServerFullError,
  SessionRequiredError, TooManyConnectionsPerIpError
} from './errors.js'
export type { ClientErrorCodeValue } from './errors.js'
export type { NodeResources } from './node/realtime-node.js'
export type { UpgradeGateState } from './upgrade/gate.js'
export type { SendKind } from './limits/send-budget.js'
export { clientIp, normalizeIp } from './upgrade/client-ip.js'
export { TimerWheel } from './node/timer-wheel.js'
export type { TimerWheelOptions, WheelClock } from './node/timer-wheel.js'
export type { RealtimeMetrics, UpgradeRejection } from './metrics/metrics.js'
export { noopMetrics } from './metrics/metrics.js'
export { Readiness } from './node/readiness.js'
export type { ReadinessCheckResult, ReadinessProbe, ReadinessReport } from './node/readiness.js'
export type { ClientMessage, SubscribeRequest, UnsubscribeRequest, PublishRequest, StreamPosition } from './wire/client-messages.js'
export type { AckMessage } from './wire/server-messages.js'
export type {
  RealtimeAdapter, AdapterHandler, Publication, PublishOptions, SinceResult, RecentResult,
  PresenceEntry, PresenceMember, PresenceEvent, StreamPosition as AdapterStreamPosition
} from './adapters/adapter.js'
export { MemoryAdapter } from './adapters/memory.js'
export type { MemoryAdapterOptions } from './adapters/memory.js'
export { CHANNEL_DEFAULTS, isChannelName } from './channels/policy.js'
export type { ChannelDefinition, ChannelContext } from './channels/policy.js'
export type { ChannelErrorCode } from './channels/channel-service.js'
export type { PubMessage, PresenceMessage, PresenceMemberFrame } from './wire/server-messages.js'
export { UnknownChannelError } from './errors.js'
