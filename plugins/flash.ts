/**
 * Form posts and flash messages for the demo page: @fastify/formbody parses
 * `application/x-www-form-urlencoded` bodies, @fastify/flash keeps one-shot messages in the
 * session (it works with @fastify/session's get/set) so a redirect can confirm what happened.
 */
import fastifyFlash from '@fastify/flash'
import fastifyFormbody from '@fastify/formbody'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

async function forms (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyFormbody, { bodyLimit: 4096 })
  await fastify.register(fastifyFlash)
}

export default fp(forms, { name: 'forms', fastify: '5.x', dependencies: ['session'] })
