/**
 * The plugin must work without prom-client: nothing reachable from the main entry imports it;
 * only the `fastify-realtime/prometheus` subpath does.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'

/** Every import specifier (static, re-export and dynamic) of a TypeScript source, `import type` excluded. */
function importsOf (file: string): string[] {
  const source = readFileSync(file, 'utf8')
  const found: string[] = []
  for (const match of source.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) found.push(match[1] ?? '')
  for (const match of source.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push(match[1] ?? '')
  for (const match of source.matchAll(/import\(\s*'([^']+)'\s*\)/g)) found.push(match[1] ?? '')
  return found
}

/** The runtime import graph from `entry`: local files visited and bare packages seen. */
function graph (entry: string): { files: Set<string>, packages: Set<string> } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string): void => {
    if (files.has(file)) return
    files.add(file)
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
      else packages.add(specifier)
    }
  }
  visit(entry)
  return { files, packages }
}

/** Whether a specifier names prom-client or one of its subpaths. */
const isPromClient = (specifier: string): boolean => specifier === 'prom-client' || specifier.startsWith('prom-client/')

/** Every TypeScript source under a folder. */
function sources (folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts')).map((name) => join(folder, name))
}

/** The source file behind a subpath export of package.json (its `import` target, dist → src). */
function exportSource (subpath: string): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { exports: Record<string, { import?: string } | undefined> }
  const target = pkg.exports[subpath]?.import
  if (target === undefined) throw new Error(`package.json exports no ${subpath}`)
  return join(packageRoot, target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))
}

t.test('the main entry never loads prom-client', async (t) => {
  const { files, packages } = graph(join(packageRoot, 'src/index.ts'))
  t.ok(files.size > 5, `walked ${files.size} files`)
  t.ok(packages.has('fastify-plugin'), 'the walk sees real runtime imports')
  t.notOk([...packages].some(isPromClient), 'prom-client is not imported from the main entry')
  // The implementation is found from the export map, not by a file name: a rename cannot hide it.
  const implementation = exportSource('./prometheus')
  t.ok(existsSync(implementation), `the Prometheus implementation exists (${relative(packageRoot, implementation)})`)
  t.notOk(files.has(implementation), 'nor is the Prometheus implementation')
  // Nor any other source that imports prom-client at run time.
  const importers = sources(join(packageRoot, 'src')).filter((file) => importsOf(file).some(isPromClient))
  t.ok(importers.includes(implementation), `the scan finds the implementation among prom-client's importers (${importers.map((file) => relative(packageRoot, file)).join(', ')})`)
  t.same(importers.filter((file) => files.has(file)).map((file) => relative(packageRoot, file)), [], 'no file the main entry loads imports prom-client')
})

t.test('the prometheus subpath export points at the implementation', async (t) => {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { exports: Record<string, { import: string, types: string }>, dependencies: Record<string, string>, peerDependencies: Record<string, string>, peerDependenciesMeta: Record<string, { optional?: boolean }> }
  const entry = pkg.exports['./prometheus']
  t.equal(entry?.import, './dist/src/metrics/prometheus.js')
  t.equal(entry?.types, './dist/src/metrics/prometheus.d.ts')
  t.ok(existsSync(join(packageRoot, 'src/metrics/prometheus.ts')), 'its source exists')
  t.ok(graph(join(packageRoot, 'src/metrics/prometheus.ts')).packages.has('prom-client'), 'and it is the one that imports prom-client')
  t.notOk('prom-client' in pkg.dependencies, 'prom-client is not a dependency: an app that never imports the subpath never installs it')
  t.ok(pkg.peerDependencies['prom-client'] !== undefined && pkg.peerDependenciesMeta['prom-client']?.optional === true, 'it is an optional peer of the subpath')
})
