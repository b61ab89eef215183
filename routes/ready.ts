/**
 * GET /ready : readiness for a load balancer. 200 while every readiness check of the realtime
 * plugin passes; 503 from the moment a drain starts, while the adapter is down, or at the
 * connection limit, so the balancer stops sending new clients here. (GET /health is liveness.)
 */
import type { FastifyInstance } from 'fastify'

const checkSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    detail: { type: 'string' }
  },
  required: ['ok']
} as const

const reportSchema = (status: 'ready' | 'unavailable') => ({
  type: 'object',
  properties: {
    status: { type: 'string', const: status },
    connections: { type: 'integer', minimum: 0 },
    checks: { type: 'object', additionalProperties: checkSchema }
  },
  required: ['status', 'connections', 'checks']
}) as const

const readySchema = {
  response: {
    200: reportSchema('ready'),
    503: reportSchema('unavailable')
  }
} as const

export default async function ready (fastify: FastifyInstance): Promise<void> {
  // Probes poll every few seconds: keep their request logs out of the info stream.
  fastify.get('/ready', { schema: readySchema, logLevel: 'warn' }, async (_request, reply) => {
    const { ready, checks } = fastify.realtime.readiness()
    reply.code(ready ? 200 : 503).header('cache-control', 'no-store')
    return { status: ready ? 'ready' : 'unavailable', connections: fastify.realtime.connections, checks }
  })
}
