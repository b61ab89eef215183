/**
 * The webhook signature checks a receiver copies from docs/api.md: the Python function printed
 * there (run as printed, by python3) and the package's verifyWebhook (the Node example's) answer
 * true for what the real webhook sender signs, and false, never an exception, for everything else:
 * a tampered body, another secret, a stale timestamp, and malformed headers. An exception in a
 * receiver is a 500 to the sender, which retries it as an outage instead of a refusal.
 */
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import pino from 'pino'
import t from 'tap'
import { noopMetrics, verifyWebhook } from '../../../src/index.js'
import { packageRoot } from '../../../src/app/paths.js'
import { signWebhook } from '../../../src/api/signature.js'
import { WebhookSender } from '../../../src/api/webhook-sender.js'
import { codeBlocks } from '../../helpers/doc-examples.js'

const SECRET = 'a-webhook-secret-of-at-least-32-characters'

/** Runs the documented `authentic` on each case; an exception is reported, not thrown. */
const HARNESS = `
import json, sys
namespace = {}
exec(sys.argv[1], namespace)
answers = []
for case in json.load(sys.stdin):
    try:
        answers.append(namespace["authentic"](case["secret"], case["header"], case["body"].encode()))
    except Exception as error:
        answers.append("raised " + type(error).__name__ + ": " + str(error))
print(json.dumps(answers))
`

interface Case { what: string, secret: string, header: string | null, body: string, expected: boolean }

async function runPython (code: string, cases: Case[]): Promise<unknown[]> {
  const run = promisify(execFile)('python3', ['-c', HARNESS, code], { encoding: 'utf8', timeout: 30_000 })
  run.child.stdin?.end(JSON.stringify(cases.map(({ secret, header, body }) => ({ secret, header, body }))))
  return JSON.parse((await run).stdout) as unknown[]
}

/** What the real sender POSTs: its signature header and raw body, as a receiver gets them. */
async function delivered (secret: string): Promise<{ header: string, body: string }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const sender = new WebhookSender({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret, timeoutMs: 5000, maxAttempts: 1, retryBaseMs: 100, maxQueue: 10, concurrency: 1, metrics: noopMetrics, log: pino({ level: 'silent' }) })
  try {
    const arrived = once(server, 'request') as Promise<[IncomingMessage, import('node:http').ServerResponse]>
    sender.send({ id: 'evt-1', type: 'channel.occupied', created: Date.now(), data: { channel: 'room:ü 1' } })
    const [request, response] = await arrived
    let body = ''
    request.setEncoding('utf8')
    for await (const chunk of request) body += String(chunk)
    response.writeHead(204).end()
    return { header: String(request.headers['realtime-signature']), body }
  } finally {
    sender.close()
    server.close()
  }
}

t.test('the documented Python check and verifyWebhook: true for the real sender\'s signature, false for anything else, never an exception', async (t) => {
  const blocks = codeBlocks(packageRoot, 'docs/api.md', 'python').filter((code) => code.includes('def authentic('))
  t.equal(blocks.length, 1, 'docs/api.md prints one Python signature check')
  const python = blocks[0] ?? ''
  const real = await delivered(SECRET)
  const other = await delivered('another-secret-of-at-least-32-characters!!')
  const digest = /v1=([0-9a-f]{64})/.exec(real.header)?.[1] ?? ''
  const stamp = /t=(\d+)/.exec(real.header)?.[1] ?? ''
  t.ok(digest !== '' && stamp !== '', `the sender signed: ${real.header}`)
  const cases: Case[] = [
    { what: 'the real signature', secret: SECRET, header: real.header, body: real.body, expected: true },
    { what: 'a tampered body', secret: SECRET, header: real.header, body: real.body.replace('occupied', 'vacated'), expected: false },
    { what: 'signed with another secret', secret: SECRET, header: other.header, body: other.body, expected: false },
    { what: 'a stale timestamp', secret: SECRET, header: signWebhook(SECRET, real.body, Math.floor(Date.now() / 1000) - 3600), body: real.body, expected: false },
    { what: 'no header', secret: SECRET, header: null, body: real.body, expected: false },
    { what: 'an empty header', secret: SECRET, header: '', body: real.body, expected: false },
    { what: 'garbage', secret: SECRET, header: 'garbage', body: real.body, expected: false },
    { what: 'no t=', secret: SECRET, header: `v1=${digest}`, body: real.body, expected: false },
    { what: 'no v1=', secret: SECRET, header: `t=${stamp}`, body: real.body, expected: false },
    { what: 'a t that is not a number', secret: SECRET, header: `t=soon,v1=${digest}`, body: real.body, expected: false },
    { what: 'a t of non-ASCII digits', secret: SECRET, header: `t=²³,v1=${digest}`, body: real.body, expected: false },
    { what: 'an empty t', secret: SECRET, header: `t=,v1=${digest}`, body: real.body, expected: false },
    { what: 'a v1 that is not hex', secret: SECRET, header: `t=${stamp},v1=zz`, body: real.body, expected: false },
    { what: 'a non-ASCII v1', secret: SECRET, header: `t=${stamp},v1=ü${digest.slice(1)}`, body: real.body, expected: false },
    { what: 'only separators', secret: SECRET, header: ',,=,', body: real.body, expected: false },
    { what: 'a part without =', secret: SECRET, header: `t=${stamp},v1=${digest},extra`, body: real.body, expected: true }
  ]
  const answers = await runPython(python, cases)
  cases.forEach((c, i) => { t.equal(answers[i], c.expected, `Python, ${c.what} (answered ${JSON.stringify(answers[i])})`) })
  for (const c of cases) t.equal(verifyWebhook(c.secret, c.header ?? undefined, c.body), c.expected, `verifyWebhook, ${c.what}`)
})
