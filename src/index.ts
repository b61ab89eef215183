/**
 * fastify-realtime public API. `import realtime from 'fastify-realtime'` gives the plugin.
 */
import { realtime } from './plugin.js'

export default realtime
export { realtime, realtime as fastifyRealtime }
export type { RealtimeDecorator } from './plugin.js'
export type { RealtimePluginOptions, TickContext } from './options.js'
export { DEFAULTS } from './options.js'
export type { RealtimeStats } from './realtime-node.js'
export type { ConnectionInfo } from './connection.js'
export type { Visitor } from './visitor.js'
export type { ServerMessage, WelcomeMessage, TickMessage, BroadcastMessage, ErrorMessage } from './protocol.js'
export { CloseCode, InvalidOptionError, InvalidConfigError, MAX_CLOSE_REASON_BYTES } from './errors.js'
export type { CloseCodeValue } from './errors.js'
export { clientIp, normalizeIp } from './client-ip.js'
export { TimerWheel } from './timer-wheel.js'
export type { TimerWheelOptions, WheelClock } from './timer-wheel.js'
export type { RealtimeMetrics, UpgradeRejection } from './metrics.js'
export { noopMetrics } from './metrics.js'
export { Readiness } from './readiness.js'
export type { ReadinessCheckResult, ReadinessProbe, ReadinessReport } from './readiness.js'
export type { ClientMessage, SubscribeRequest, UnsubscribeRequest, PublishRequest, StreamPosition } from './client-messages.js'
export type { AckMessage } from './protocol.js'
