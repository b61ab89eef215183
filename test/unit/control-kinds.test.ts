/**
 * Every control-message kind is declared in src/cluster/kinds.ts and nowhere else: no other file
 * of src/ spells a kind's string, no part outside cluster/ (and the adapters that carry them)
 * calls a broker's `control()` itself, and the types refuse a bare string where a kind goes.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import pino from 'pino'
import t from 'tap'
import { ControlKind } from '../../src/cluster/kinds.js'
import { ClusterRequests } from '../../src/cluster/requests.js'
import { ControlRouter } from '../../src/cluster/router.js'
import { packageRoot } from '../../src/app/paths.js'

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

const src = join(packageRoot, 'src')
const outside = sourceFiles(src).filter((path) => !relative(src, path).startsWith('cluster/'))

t.test('no file outside src/cluster/ spells a control-message kind', async (t) => {
  // A kind without a namespace (`broadcast`) is also a word of the wire protocol: the types
  // below keep it out; the namespaced ones are looked for as string literals.
  const kinds = Object.values(ControlKind).filter((kind) => kind.includes('.'))
  t.ok(kinds.length >= 9, 'the namespaced kinds were read from kinds.ts')
  const found: string[] = []
  for (const path of outside) {
    const text = readFileSync(path, 'utf8')
    for (const kind of kinds) {
      for (const quote of ["'", '"', '`']) if (text.includes(`${quote}${kind}${quote}`)) found.push(`${relative(packageRoot, path)}: ${kind}`)
    }
  }
  t.same(found, [], 'every kind string lives in src/cluster/kinds.ts')
})

t.test('only cluster/ sends control messages through a broker', async (t) => {
  const calls = outside
    .filter((path) => !relative(src, path).startsWith('adapters/'))
    .filter((path) => /\.control\(/.test(readFileSync(path, 'utf8')))
    .map((path) => relative(packageRoot, path))
  t.same(calls, [], 'no .control( call outside src/cluster/ and src/adapters/')
})

t.test('a bare string is not a kind (checked by tsc, which compiles this file)', async (t) => {
  const router = new ControlRouter('a', pino({ level: 'silent' }))
  const requests = new ClusterRequests(router, () => ['a'])
  // Never called: these lines exist for the compiler. Each directive fails the typecheck if the
  // line under it compiles, i.e. if a kind could be spelled outside kinds.ts.
  const refused = (): void => {
    // @ts-expect-error a bare string is not a control kind
    router.on('user.send', () => {})
    // @ts-expect-error a bare string is not a control kind
    router.send('broadcast', null).catch(() => {})
    // @ts-expect-error a bare string is not a control kind
    requests.answer('nodes.query', () => null)
  }
  t.type(refused, 'function')
  router.on(ControlKind.USER_SEND, () => {})
  t.pass('a declared kind is accepted')
})
