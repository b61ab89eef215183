/**
 * The HTTP API's refusals, as the OpenAPI document declares them: each code the API answers,
 * its status and when, and which of them a route can meet (from its shape: a key, a body, path
 * parameters, a query, a channel). One table, so the document, the `Error` schema's enum and the
 * test that provokes every declared refusal over HTTP cannot drift apart.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import { ApiKeyRequiredError, ApiRateLimitError, ApiScopeError, IdempotencyKeyReusedError, UnknownChannelError } from '../errors.js'

/** A code the API answers a refusal with: fastify-realtime's (errors.ts) or Fastify's own. */
export type ApiErrorCode = string

/** One refusal: its code, status, and when it is answered (a sentence for the document). */
interface Refusal {
  readonly code: string
  readonly status: number
  readonly when: string
}

// The codes of errors.ts, read off an instance (@fastify/error sets `code` in the constructor).
const KEY_REQUIRED = new ApiKeyRequiredError().code
const SCOPE = new ApiScopeError('').code
const RATE_LIMITED = new ApiRateLimitError(0, '', '').code
const UNKNOWN_CHANNEL = new UnknownChannelError('').code
/** A publish route's refusal of an idempotency key that comes back with another body. */
export const IDEMPOTENCY_KEY_REUSED = new IdempotencyKeyReusedError().code

/**
 * Every refusal the API answers, in the order the document lists them. A new one (say a 409 of
 * the publish route when an idempotency key comes back with another body) is a row here, with
 * its code from errors.ts, and that code in the route's `also` (routes.ts): the `Error` schema's
 * enum, the route's responses and the test that provokes them follow.
 */
const REFUSALS: readonly Refusal[] = [
  { code: 'FST_ERR_VALIDATION', status: 400, when: 'the body, the query or a path parameter does not fit its schema (the message names the field)' },
  { code: 'FST_ERR_CTP_INVALID_JSON_BODY', status: 400, when: 'the body is not JSON' },
  { code: 'FST_ERR_CTP_EMPTY_JSON_BODY', status: 400, when: 'the body is empty with Content-Type application/json' },
  { code: KEY_REQUIRED, status: 401, when: 'no API key, or not a key of this server' },
  { code: SCOPE, status: 403, when: 'the key lacks the scope the operation needs' },
  { code: UNKNOWN_CHANNEL, status: 404, when: 'no channel declaration matches the channel' },
  { code: IDEMPOTENCY_KEY_REUSED, status: 409, when: 'the idempotency key was already used within the idempotency window for another channel or data; nothing was published' },
  { code: 'FST_ERR_CTP_BODY_TOO_LARGE', status: 413, when: 'the body is over the app\'s bodyLimit (1 MiB by default)' },
  { code: 'FST_ERR_MAX_PARAM_LENGTH', status: 414, when: 'a path parameter is longer than the app\'s maxParamLength (100 by default)' },
  { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', status: 415, when: 'the body is neither JSON nor text' },
  { code: RATE_LIMITED, status: 429, when: 'the key\'s rate is used up, or the calling address\'s rate for requests without a valid key' }
]

/** Every code the API answers a refusal with: the `Error` schema's `code` enum. */
export const API_ERROR_CODES: readonly ApiErrorCode[] = REFUSALS.map((refusal) => refusal.code)

/** What about a route can be refused. */
export interface RouteShape {
  /** It has a JSON body: malformed, too large, of another media type, or not fitting its schema. */
  body?: boolean
  /** It has no body schema, but Fastify still parses a body sent with it (DELETE). */
  parsesBody?: boolean
  /** It has path parameters: too long, or not fitting their schema. */
  params?: boolean
  /** It has a query string schema. */
  query?: boolean
  /** It names a channel, which must be declared. */
  channel?: boolean
  /** Refusals of its own, by code, beyond those its shape brings. */
  also?: readonly ApiErrorCode[]
}

/** The codes a route of this shape can be refused with (every API route needs a key). */
export function refusalCodes (shape: RouteShape): ApiErrorCode[] {
  const codes = new Set<ApiErrorCode>([KEY_REQUIRED, SCOPE, RATE_LIMITED, ...(shape.also ?? [])])
  if (shape.body === true || shape.params === true || shape.query === true) codes.add('FST_ERR_VALIDATION')
  if (shape.body === true || shape.parsesBody === true) {
    for (const code of ['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_BODY_TOO_LARGE', 'FST_ERR_CTP_INVALID_MEDIA_TYPE']) codes.add(code)
  }
  if (shape.params === true) codes.add('FST_ERR_MAX_PARAM_LENGTH')
  if (shape.channel === true) codes.add(UNKNOWN_CHANNEL)
  return REFUSALS.filter((refusal) => codes.has(refusal.code)).map((refusal) => refusal.code)
}

/**
 * A route's refusal responses, by status: each the shared `Error` schema, described by the codes
 * it can carry on this route and when (the 429 also by its Retry-After header).
 * @param error - the shared error schema (a `Type.Ref` target)
 */
export function refusalResponses (error: TSchema, shape: RouteShape): Record<number, TSchema> {
  const codes = new Set(refusalCodes(shape))
  const responses: Record<number, TSchema> = {}
  for (const status of new Set(REFUSALS.map((refusal) => refusal.status))) {
    const mine = REFUSALS.filter((refusal) => refusal.status === status && codes.has(refusal.code))
    if (mine.length === 0) continue
    const description = mine.map((refusal) => `\`${refusal.code}\`: ${refusal.when}`).join('; ')
    responses[status] = Type.Ref(error, {
      description,
      ...(status === 429 ? { headers: { 'retry-after': Type.Integer({ description: 'Seconds until the rate allows a request again' }) } } : {})
    })
  }
  return responses
}
