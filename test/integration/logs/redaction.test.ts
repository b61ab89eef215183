/**
 * Logs never carry credentials: cookies, Authorization and Set-Cookie values are replaced with
 * "[redacted]" in real pino output, wherever a headers object is logged.
 */
import t from 'tap'
import Fastify from 'fastify'
import app from '../../../src/app/app.js'
import { LogCapture, listen, testConfig, testServerOptions } from '../../helpers/app.js'
import { connect } from '../../helpers/ws-client.js'

const TOKEN = 'Bearer s3cr3t-t0ken-that-must-not-leak'
const COOKIE = 'rt.sid=cookie-value-that-must-not-leak'
const PROXY_AUTH = 'Basic cHJveHktc2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=='

t.test('cookies and authorization headers are redacted in the log output', async (t) => {
  const config = testConfig()
  const logs = new LogCapture()
  const server = Fastify(testServerOptions(config, logs))
  t.teardown(() => server.close())
  await server.register(app, { config })
  // What an application (or a debugging session) might log: whole header objects, at the top
  // level and under a key, from a request and from its response. (Under the `req` and `res` keys,
  // Fastify's serializers keep no headers at all.)
  server.get('/echo-headers', async (request, reply) => {
    request.log.info({ headers: request.headers }, 'top-level headers')
    request.log.info({ request: { headers: request.headers } }, 'request headers')
    reply.header('set-cookie', 'rt.sid=response-cookie-that-must-not-leak; HttpOnly')
    request.log.info({ response: { headers: reply.getHeaders() } }, 'response headers')
    request.log.info({ upgrade: { headers: { ...request.headers } } }, 'nested headers')
    // Header names as an application may spell them, an HTTP client's error carrying the headers
    // it sent, and headers bound to a child logger.
    request.log.info({ outgoing: { headers: { Authorization: TOKEN, Cookie: COOKIE, Accept: 'text/plain' } } }, 'capitalised headers')
    request.log.error({ err: Object.assign(new Error('upstream refused'), { headers: { authorization: TOKEN, accept: 'text/plain' } }) }, 'client error')
    request.log.child({ headers: { cookie: COOKIE, 'user-agent': 'bound' } }).info('child bindings')
    return { ok: true }
  })
  const { http, ws } = await listen(server)

  const response = await fetch(`${http}/echo-headers`, {
    headers: { cookie: COOKIE, authorization: TOKEN, 'proxy-authorization': PROXY_AUTH, 'user-agent': 'redaction-test' }
  })
  t.equal(response.status, 200)
  // The same credentials on a WebSocket upgrade, which goes through the same logger.
  const client = await connect(`${ws}/ws`, { headers: { cookie: COOKIE, authorization: TOKEN } })
  await client.waitFor('welcome')
  await client.close()
  await logs.waitFor('client disconnected')

  const output = logs.lines.map((line) => JSON.stringify(line)).join('\n')
  for (const secret of ['s3cr3t-t0ken', 'cookie-value-that-must-not-leak', 'response-cookie-that-must-not-leak', 'cHJveHktc2VjcmV0']) {
    t.notOk(output.includes(secret), `"${secret}" never appears in the logs`)
  }

  for (const msg of ['top-level headers', 'request headers', 'nested headers']) {
    const line = logs.withMessage(msg)[0]
    const headers = (msg === 'top-level headers' ? line?.headers : (line?.[msg === 'request headers' ? 'request' : 'upgrade'] as { headers?: unknown } | undefined)?.headers) as Record<string, unknown> | undefined
    t.equal(headers?.cookie, '[redacted]', `${msg}: cookie redacted`)
    t.equal(headers?.authorization, '[redacted]', `${msg}: authorization redacted`)
    t.equal(headers?.['proxy-authorization'], '[redacted]', `${msg}: proxy-authorization redacted`)
    t.equal(headers?.['user-agent'], 'redaction-test', `${msg}: other headers are kept`)
  }
  const capitalised = (logs.withMessage('capitalised headers')[0] as { outgoing?: { headers?: Record<string, unknown> } } | undefined)?.outgoing?.headers
  t.same(capitalised, { Authorization: '[redacted]', Cookie: '[redacted]', Accept: 'text/plain' }, 'header names are matched in any case')
  const errorLine = logs.withMessage('client error')[0] as { err?: { message?: string, stack?: string, headers?: Record<string, unknown> } } | undefined
  t.equal(errorLine?.err?.message, 'upstream refused', 'the error keeps its message')
  t.match(errorLine?.err?.stack, /upstream refused/, 'and its stack')
  t.same(errorLine?.err?.headers, { authorization: '[redacted]', accept: 'text/plain' }, 'headers on an error are redacted')
  const bound = logs.withMessage('child bindings')[0] as { headers?: Record<string, unknown> } | undefined
  t.same(bound?.headers, { cookie: '[redacted]', 'user-agent': 'bound' }, 'headers bound to a child logger are redacted')

  const responseLine = logs.withMessage('response headers')[0] as { response?: { headers?: Record<string, unknown> } } | undefined
  t.equal(responseLine?.response?.headers?.['set-cookie'], '[redacted]', 'set-cookie redacted')
  t.equal(responseLine?.response?.headers?.['content-type'], undefined, 'no other header was set yet')
})
