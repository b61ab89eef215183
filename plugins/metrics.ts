/**
 * Prometheus metrics for the demo app: one prom-client implementation of the realtime metrics
 * seam per app (its own registry, so tests can build many apps), handed to the realtime plugin
 * through the `realtimeMetrics` decorator. With METRICS_PORT set, `GET /metrics` is served by a
 * separate listener on that port (and not on the public one); otherwise routes/metrics.ts serves it.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { PrometheusMetrics } from '../src/metrics/prometheus.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's Prometheus metrics (its registry also holds the default process metrics). */
    realtimeMetrics: PrometheusMetrics
  }
}

/** Route options shared by every `GET /metrics`: scrapes are frequent, so they log at warn only. */
export const METRICS_ROUTE_OPTIONS = { logLevel: 'warn' } as const

/** Reply with a scrape of `metrics` in the Prometheus text format. */
export async function sendScrape (metrics: PrometheusMetrics, reply: FastifyReply): Promise<string> {
  const text = await metrics.scrape()
  reply.type(metrics.contentType).header('cache-control', 'no-store')
  return text
}

/**
 * The separate metrics listener: a bare Fastify server with `GET /metrics` only. It listens
 * when the app is ready (so a taken port fails the boot rather than being noticed at the first
 * scrape) and closes with the app.
 */
async function startMetricsListener (fastify: FastifyInstance, metrics: PrometheusMetrics, port: number, host: string): Promise<void> {
  const server = Fastify({ loggerInstance: fastify.log.child({ listener: 'metrics' }) })
  server.get('/metrics', METRICS_ROUTE_OPTIONS, async (_request, reply) => await sendScrape(metrics, reply))
  fastify.addHook('onReady', async () => {
    await server.listen({ port, host })
  })
  fastify.addHook('onClose', async () => {
    await server.close()
  })
}

async function metricsPlugin (fastify: FastifyInstance): Promise<void> {
  const metrics = new PrometheusMetrics()
  fastify.decorate('realtimeMetrics', metrics)
  const { metricsPort, metricsHost } = fastify.config
  if (metricsPort !== undefined) await startMetricsListener(fastify, metrics, metricsPort, metricsHost)
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' })
