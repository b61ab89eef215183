/**
 * How the API logs and answers a refused request. A 4xx is the client's mistake (no key, a key
 * beyond its scope, a malformed body, the rate limit), not the server's: one line at info with
 * its status, code and reason, and no stack trace (Fastify's default handler logs the whole
 * error object, stack included, for each). The body is the one the default handler sends.
 * A 5xx goes on to the parent's error handler, which logs it as the server error it is.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/** The API's error handler (set on its encapsulated routes only). */
export async function answerRefusal (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const statusCode = error.statusCode ?? 500
  if (statusCode < 400 || statusCode >= 500) throw error
  const code = error.code ?? 'FST_ERR_BAD_REQUEST'
  request.log.info({ statusCode, code, reason: error.message }, 'api request refused')
  return await reply.code(statusCode).send({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Bad Request', message: error.message })
}
