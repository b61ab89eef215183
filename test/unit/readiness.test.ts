import t from 'tap'
import { Readiness } from '../../src/node/readiness.js'

t.test('ready only when every probe is ok', async (t) => {
  const readiness = new Readiness()
  t.same(readiness.report(), { ready: true, checks: {} }, 'no probes: ready')
  let full = false
  readiness.add('connections', () => full ? { ok: false, detail: '10/10' } : { ok: true, detail: '3/10' })
  readiness.add('draining', () => ({ ok: true }))
  t.same(readiness.report(), { ready: true, checks: { connections: { ok: true, detail: '3/10' }, draining: { ok: true } } })
  full = true
  t.same(readiness.report(), { ready: false, checks: { connections: { ok: false, detail: '10/10' }, draining: { ok: true } } })
  t.same(readiness.names, ['connections', 'draining'])
})

t.test('a broken probe reads as not ready, never as a crash', async (t) => {
  const readiness = new Readiness()
  readiness.add('throws', () => { throw new Error('boom') })
  readiness.add('malformed', () => ({}) as unknown as { ok: boolean })
  readiness.add('nothing', () => undefined as unknown as { ok: boolean })
  const report = readiness.report()
  t.equal(report.ready, false)
  t.same(report.checks.throws, { ok: false, detail: 'probe threw: boom' })
  t.same(report.checks.malformed, { ok: false, detail: 'probe returned no { ok } result' })
  t.same(report.checks.nothing, { ok: false, detail: 'probe returned no { ok } result' })
})

t.test('names are validated and unique; removal is idempotent and exact', async (t) => {
  const readiness = new Readiness()
  t.throws(() => readiness.add('Bad Name', () => ({ ok: true })), TypeError)
  t.throws(() => readiness.add('', () => ({ ok: true })), TypeError)
  t.throws(() => readiness.add('fine', 'not a function' as unknown as () => { ok: boolean }), TypeError)
  const remove = readiness.add('adapter', () => ({ ok: false }))
  t.throws(() => readiness.add('adapter', () => ({ ok: true })), /already registered/)
  remove()
  t.equal(readiness.report().ready, true)
  const again = readiness.add('adapter', () => ({ ok: true, detail: 'second' }))
  remove() // the first remover must not remove the second probe
  t.same(readiness.report().checks.adapter, { ok: true, detail: 'second' })
  again()
  t.same(readiness.names, [])
})
