/**
 * The HTTP API from another language with nothing but its OpenAPI document: a Python script using
 * the standard library only (test/fixtures/openapi_client.py) finds every operation by its id in
 * the served document and calls it with an API key.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { packageRoot } from '../../../src/app/paths.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { connect } from '../../helpers/ws-client.js'

const KEY = 'k'.repeat(48)

t.test('a Python client generated from nothing but /openapi.json calls every operation', async (t) => {
  const identify = (request: FastifyRequest): { id: string } | null => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null
  const { http, ws } = await bareApp(t, { identify, channels: [{ name: 'jobs', historySize: 50, presence: true }], api: { prefix: '/api', keys: [{ key: KEY }] } })
  const watcher = await connect(`${ws}/ws`)
  watcher.socket.send(JSON.stringify({ type: 'sub', channel: 'jobs', id: 1 }))
  await watcher.waitFor('ack')
  const user = await connect(`${ws}/ws`, { headers: { 'x-visitor': 'py-user' } })
  await user.waitFor('welcome')
  // Asynchronously: the server answering it runs in this process.
  const { stdout: output } = await promisify(execFile)('python3', [join(packageRoot, 'test', 'fixtures', 'openapi_client.py'), http, '/api/openapi.json', KEY, 'jobs', 'py-user'], { encoding: 'utf8', timeout: 30_000 })
  const results = JSON.parse(output) as Record<string, [number, Record<string, unknown>]> & { operations: string[] }
  t.same(results.operations, ['broadcast', 'channels', 'disconnectConnection', 'disconnectUser', 'history', 'nodes', 'presence', 'presenceCount', 'publish', 'publishBatch', 'sendToUser', 'subscribeUser', 'unsubscribeUser'], 'the document names every operation')
  t.match(results.publish, [200, { channel: 'jobs', offset: 1, duplicate: false }])
  t.match(results.publish_again, [200, { offset: 1, duplicate: true }], 'the retried publish is the same publication')
  t.match(results.publishBatch, [200, { publications: [{ offset: 2 }, { offset: 3 }] }])
  t.match(results.broadcast, [202, { accepted: true }])
  t.same((results.history?.[1].publications as Array<{ data: unknown }>).map((p) => p.data), [{ from: 'python' }, 1, 2])
  t.match(results.presence, [200, { channel: 'jobs', members: [] }])
  t.match(results.presenceCount, [200, { members: 0 }])
  t.match(results.channels, [200, { channels: [{ channel: 'jobs', subscribers: 1 }] }])
  t.match(results.nodes, [200, { nodes: [{ connections: 2 }] }])
  t.match(results.wrong_key, [401, { code: 'FRT_API_KEY_REQUIRED' }])
  t.match(results.unknown_channel, [404, { code: 'FRT_UNKNOWN_CHANNEL' }])
  const declared = results as unknown as Record<string, boolean>
  t.equal(declared.wrong_key_declared, true, 'the 401 is an answer the document declares for publish, its code in the Error schema\'s enum')
  t.equal(declared.unknown_channel_declared, true, 'and so is the 404')
  t.equal(declared.publish_declared, true, 'and the 200')
  for (const operation of ['sendToUser', 'subscribeUser', 'unsubscribeUser', 'disconnectConnection', 'disconnectUser']) t.match(results[operation], [202, { accepted: true }], operation)
  t.equal((await user.waitFor('direct'))[0]?.data, 'python to you')
  t.match((await user.waitFor('subscribed'))[0], { channel: 'jobs' })
  t.match((await user.waitFor('unsubscribed'))[0], { channel: 'jobs' })
  t.same(await user.closed, { code: 4501, reason: 'python says bye' }, 'the user was disconnected as Python asked')
  await watcher.waitFor('pub', 3)
  t.same(watcher.ofType('pub').map((frame) => frame.data), [{ from: 'python' }, 1, 2], 'the socket got what Python published, once each')
  t.equal((await watcher.waitFor('broadcast'))[0]?.data, 'python says hi')
  await watcher.close()
})
