/**
 * The main entry exports what the README and docs document, and no internals: each runtime
 * export is named there, and the list is pinned so that a new export is a decision.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import * as api from '../../src/index.js'

t.test('every runtime export of fastify-realtime is documented, and nothing else is exported', async (t) => {
  const names = Object.keys(api).filter((name) => name !== 'default').sort()
  t.same(names, ['ClientErrorCode', 'CloseCode', 'MemoryAdapter', 'RpcError', 'errorCodes', 'fastifyRealtime', 'noopMetrics', 'realtime', 'verifyWebhook'])
  const docs = [join(packageRoot, 'README.md'), ...readdirSync(join(packageRoot, 'docs')).filter((file) => file.endsWith('.md')).map((file) => join(packageRoot, 'docs', file))]
  const text = docs.map((file) => readFileSync(file, 'utf8')).join('\n')
  for (const name of names) t.match(text, new RegExp(`\\b${name}\\b`), `${name} is documented`)
  t.equal(api.default, api.realtime, 'the default export is the plugin')
})
