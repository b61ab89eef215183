/**
 * The reconnect storm at CI size (bench/storm.js, the bench phase's own code): 600 clients (a
 * third `since` WebSockets, a third bare WebSockets with resume tokens, a third event streams with
 * Last-Event-ID) on one node on Redis, publications flowing at a steady rate; every connection is
 * killed by the server twice, then the node is restarted, its admission rate set below the rate
 * the clients come back at, then the node is killed with SIGKILL and started again. Afterwards
 * every client holds every publication of every channel exactly once and in order, and nobody is
 * left behind; after the SIGKILL, a token-only client is told per channel (`recovered: false`)
 * what it lost, never silently.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { built } from '../helpers/process.js'

// The file's own time limit, over the suite's 120 s: hundreds of clients cut four times.
t.setTimeout(300_000)

interface Cut { label: string, recovered: number, stillRecovering: number, open: number, p50Ms: number, p95Ms: number, maxMs: number, cpuPercent: number, maxAdmissionWaiting: number }
interface Delivery { clients: number, complete: number, duplicates: number, gaps: number, behind: number, notRecovered: number, toldMissed: number, resumeRefused: number }
interface StormResult { clients: number, publishedPerChannel: number, cuts: Cut[], delivery: Record<string, Delivery>, nodeResources: Record<string, unknown> }

const CLIENTS = 600
/** The storm's channels (bench/storm.js's plan). */
const CHANNELS = 2
/** Admission slower than the storm's returns (600 clients in about a second), so the pacing is seen at work. */
const ADMISSION = ['--admission-rate=250', '--admission-burst=50']

t.test('a reconnect storm loses nothing: kills and a restart, every publication exactly once, in order, for every client', { timeout: 180_000 }, async (t) => {
  built('src/index.js')
  const child = spawn(process.execPath, [join(packageRoot, 'bench', 'storm.js'), `--clients=${CLIENTS}`, '--workers=2', '--kills=2', '--sigkills=1', ...ADMISSION, '--json'], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let log = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.comment(log.trim())
  t.equal(code, 0, 'the storm ran to its end')
  const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as StormResult
  t.same(result.cuts.map((cut) => cut.label), ['kill 1', 'kill 2', 'node restart', 'node SIGKILL 1'])
  for (const cut of result.cuts) {
    t.equal(cut.recovered, CLIENTS, `${cut.label}: every client recovered (p50 ${cut.p50Ms} ms, p95 ${cut.p95Ms} ms, max ${cut.maxMs} ms)`)
    t.equal(cut.stillRecovering, 0, `${cut.label}: nobody left behind`)
    t.equal(cut.open, CLIENTS, `${cut.label}: every client connected again`)
  }
  t.ok(result.cuts.some((cut) => cut.maxAdmissionWaiting > 0), `the node paced the returning clients (at most ${Math.max(...result.cuts.map((cut) => cut.maxAdmissionWaiting))} waiting at once)`)
  t.ok(result.publishedPerChannel > 100, `${result.publishedPerChannel} publications per channel flowed through the storm`)
  for (const [kind, delivery] of Object.entries(result.delivery)) {
    t.equal(delivery.complete, delivery.clients, `${kind}: every client has every publication, or was told what it lost`)
    t.equal(delivery.duplicates, 0, `${kind}: no duplicate`)
    t.equal(delivery.gaps, 0, `${kind}: no silent gap`)
    if (kind === 'resume') {
      // After the SIGKILL no position of a token-only client can be proved: each of its channels is told.
      t.equal(delivery.notRecovered, delivery.clients * CHANNELS, `resume: every channel of every client told recovered: false after the SIGKILL (${delivery.toldMissed} publications told lost), none before`)
    } else {
      t.equal(delivery.notRecovered, 0, `${kind}: every resubscribe recovered, the SIGKILL included`)
    }
    t.equal(delivery.resumeRefused, 0, `${kind}: every resume token honoured`)
  }
  t.equal(Object.values(result.delivery).reduce((sum, d) => sum + d.clients, 0), CLIENTS)
  t.match(result.nodeResources, { savesInFlight: 0, relayedPosts: 0, admissionWaiting: 0 }, 'the node holds nothing left over')
})
