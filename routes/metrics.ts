/**
 * GET /metrics : Prometheus text format, on the main port unless METRICS_PORT moves it to a
 * listener of its own (plugins/metrics.ts), which keeps it off the public port.
 */
import type { FastifyInstance } from 'fastify'
import { METRICS_ROUTE_OPTIONS, sendScrape } from '../plugins/metrics.js'

export default async function metricsRoute (fastify: FastifyInstance): Promise<void> {
  if (fastify.config.metricsPort !== undefined) return
  fastify.get('/metrics', METRICS_ROUTE_OPTIONS, async (_request, reply) => await sendScrape(fastify.realtimeMetrics, reply))
}
