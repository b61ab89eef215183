/**
 * The realtime plugin as the demo app uses it: registered through the public barrel, exactly as
 * an outside app would. Ticks carry something worth watching: server time, connections, load,
 * memory. The visitor comes from the cookie session of the upgrade request.
 */
import { loadavg } from 'node:os'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import realtime, { type TickContext, type Visitor } from '../src/index.js'

/** What the demo's ticker pushes. */
export interface DemoTick {
  /** The tutorial's message, kept so its client sees what it always saw. */
  message: string
  time: string
  connections: number
  load1: number
  rssMiB: number
  heapUsedMiB: number
}

function demoTick ({ connections, now }: TickContext): DemoTick {
  const memory = process.memoryUsage()
  return {
    message: 'send Msg from server to client.',
    time: new Date(now).toISOString(),
    connections,
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    rssMiB: Math.round(memory.rss / 1048576 * 10) / 10,
    heapUsedMiB: Math.round(memory.heapUsed / 1048576 * 10) / 10
  }
}

function identifyFromSession (request: FastifyRequest): Visitor | null {
  const id = request.session?.get('visitorId')
  return id === undefined ? null : { id, name: request.session.get('displayName') }
}

async function realtimeDemo (fastify: FastifyInstance): Promise<void> {
  await fastify.register(realtime, {
    tickIntervalMs: fastify.config.tickIntervalMs,
    closeGraceMs: fastify.config.closeGraceMs,
    tick: demoTick,
    identify: identifyFromSession,
    metrics: fastify.realtimeMetrics
  })
}

export default fp(realtimeDemo, { name: 'realtime-demo', fastify: '5.x', dependencies: ['session', 'metrics'] })
