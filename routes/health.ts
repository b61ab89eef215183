/** GET /health : liveness, with the number of open sockets. */
import type { FastifyInstance } from 'fastify'

const healthSchema = {
  response: {
    200: {
      type: 'object',
      properties: {
        status: { type: 'string', const: 'ok' },
        connections: { type: 'integer', minimum: 0 }
      },
      required: ['status', 'connections']
    }
  }
} as const

export default async function health (fastify: FastifyInstance): Promise<void> {
  fastify.get('/health', { schema: healthSchema }, async () => ({ status: 'ok', connections: fastify.realtime.connections }))
}
