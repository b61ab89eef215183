/**
 * The log redaction walk: what it censors, that it never mutates what the application logged,
 * and that a line without credentials is passed through as the same object (no copy per line).
 */
import t from 'tap'
import { LOG_CENSOR, redactHeaders, redactLogObject, serializeErrorRedacted } from '../../src/app/log-redaction.js'

t.test('a line without credentials is returned as is', async (t) => {
  const line = { reqId: 'req-1', connId: 'abc', ip: '127.0.0.1', visitor: null, code: 1000, upgrade: { headers: { host: 'x' } }, list: [{ headers: { cookie: 'kept: arrays are not walked' } }] }
  t.equal(redactLogObject(line), line)
})

t.test('top level (the headers serializer) and one level down are censored; the original objects are untouched', async (t) => {
  const headers = { cookie: 'a=1', 'Set-Cookie': ['b=2'], 'proxy-authorization': 'Basic x', host: 'h' }
  const line = { headers, request: { method: 'GET', headers }, n: 1 }
  const out = redactLogObject(line)
  const censored = { cookie: LOG_CENSOR, 'Set-Cookie': LOG_CENSOR, 'proxy-authorization': LOG_CENSOR, host: 'h' }
  t.same(out, { headers, request: { method: 'GET', headers: censored }, n: 1 }, 'the top-level key is left to its serializer')
  t.same(redactHeaders(headers), censored)
  t.equal(redactHeaders('not an object'), 'not an object')
  t.same(headers, { cookie: 'a=1', 'Set-Cookie': ['b=2'], 'proxy-authorization': 'Basic x', host: 'h' }, 'the logged headers are not mutated')
  t.equal(line.headers, headers, 'nor is the logged object')
})

t.test('two levels down is out of scope, as documented', async (t) => {
  const line = { a: { b: { headers: { cookie: 'deep' } } } }
  t.equal(redactLogObject(line), line)
})

t.test('keys with a serializer are left to it', async (t) => {
  const fakeRequest = { headers: { cookie: 'left to the req serializer, which drops headers' } }
  const line = { req: fakeRequest }
  t.equal(redactLogObject(line), line)
})

t.test('an error serializer is wrapped: headers censored, the rest kept', async (t) => {
  const serialize = serializeErrorRedacted((error: Error & { headers?: unknown }) => ({ type: 'Error', message: error.message, stack: '', headers: error.headers }))
  t.same(serialize(Object.assign(new Error('x'), { headers: { Authorization: 'Bearer t', accept: '*/*' } })), { type: 'Error', message: 'x', stack: '', headers: { Authorization: LOG_CENSOR, accept: '*/*' } })
  const plain = serialize(new Error('no headers'))
  t.equal(plain.headers, undefined)
})
