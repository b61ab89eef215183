/**
 * POST /name : set the visitor's display name (a form post). The name goes into the session, so
 * the next WebSocket (and the presence list) shows it; a flash message confirms it after the
 * redirect back to the page.
 */
import type { FastifyInstance } from 'fastify'
import { ensureVisitor } from '../plugins/session.js'

/** Longest display name, in characters. */
export const MAX_NAME_CHARS = 40

const bodySchema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 200 } },
  required: ['name']
} as const

export default async function name (fastify: FastifyInstance): Promise<void> {
  fastify.post<{ Body: { name: string } }>('/name', { schema: { body: bodySchema } }, async (request, reply) => {
    // Control characters and runs of spaces would make the presence list unreadable.
    const cleaned = request.body.name.replace(/[\p{Cc}\p{Cf}]/gu, '').replace(/\s+/g, ' ').trim()
    if (cleaned === '' || cleaned.length > MAX_NAME_CHARS) {
      request.flash('error', `A display name needs 1 to ${MAX_NAME_CHARS} characters.`)
      return await reply.redirect('/', 303)
    }
    ensureVisitor(request, reply)
    request.session.set('displayName', cleaned)
    request.flash('info', `Your display name is now “${cleaned}”. Open tabs pick it up when they reconnect.`)
    return await reply.redirect('/', 303)
  })
}
