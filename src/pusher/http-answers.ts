/**
 * How the Pusher HTTP API refuses: as Pusher's does, with its status codes (400 bad input, 401 a
 * bad signature, key or timestamp, 404 an unknown app, 413 too big) and a plain-text body that
 * says what is wrong. A refusal is the caller's mistake: one log line at info, no stack; anything
 * else is a server error, logged as one and answered 500 without its details.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/** A refusal of the Pusher HTTP API: its status and its text. */
export class PusherHttpError extends Error {
  constructor (readonly statusCode: 400 | 401 | 404 | 413, message: string) {
    super(message)
    this.name = 'PusherHttpError'
  }
}

/** Fastify's own refusals (the body parser's, the validator's), by code, as this API answers them. */
const FASTIFY_REFUSALS: Record<string, 400 | 413> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
  FST_ERR_CTP_INVALID_JSON_BODY: 400,
  FST_ERR_CTP_EMPTY_JSON_BODY: 400,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 400,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 400,
  FST_ERR_VALIDATION: 400,
  // The verbs' own refusals: a channel nobody declared, a malformed argument.
  FRT_UNKNOWN_CHANNEL: 400,
  FRT_INVALID_ARGUMENT: 400
}

/** The status of a refusal, or null for a server error. */
function refusalStatus (error: FastifyError | PusherHttpError): number | null {
  if (error instanceof PusherHttpError) return error.statusCode
  return FASTIFY_REFUSALS[error.code] ?? null
}

/** The API's error handler (set on its encapsulated routes only). */
export async function answerPusherError (error: FastifyError | PusherHttpError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const status = refusalStatus(error)
  reply.type('text/plain; charset=utf-8')
  if (status === null) {
    request.log.error({ err: error }, 'pusher api request failed')
    return await reply.code(500).send('Internal server error\n')
  }
  request.log.info({ statusCode: status, reason: error.message }, 'pusher api request refused')
  return await reply.code(status).send(`${error.message}\n`)
}
