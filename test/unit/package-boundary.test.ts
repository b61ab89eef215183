/**
 * The package boundary: what `npm install fastify-realtime` brings is the plugin's own.
 * Its runtime dependencies are exactly the packages the published code imports; its
 * declarations need nothing the package does not declare; the demo app and the sources stay out
 * of the tarball; and every export points at a packed file.
 */
import { execFileSync } from 'node:child_process'
import { builtinModules } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { packageRoot } from '../../src/app/paths.js'
import { built } from '../helpers/process.js'

interface Manifest {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  peerDependencies: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  exports: Record<string, string | { types: string, import: string }>
}

const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Manifest
const builtins = new Set(builtinModules)

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or null for relative and built-in ones. */
function packageOf (specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) return null
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : parts[0] ?? null
}

/** Files of the published build (dist/src without the demo app) ending with `suffix`. */
function publishedFiles (suffix: string, dir = join(packageRoot, 'dist', 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return relative(join(packageRoot, 'dist', 'src'), path) === 'app' ? [] : publishedFiles(suffix, path)
    return entry.name.endsWith(suffix) ? [path] : []
  })
}

/** Packages the given files import (static and dynamic imports, `export … from`, `import('…')` types), read by TypeScript's own scanner. */
function importedPackages (files: string[]): Set<string> {
  const found = new Set<string>()
  for (const file of files) {
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const name = packageOf(fileName)
      if (name !== null) found.add(name)
    }
  }
  return found
}

const sorted = (values: Iterable<string>): string[] => [...values].sort()

t.test('runtime dependencies are exactly what the published code imports', async (t) => {
  built('src/index.js')
  const runtime = importedPackages(publishedFiles('.js'))
  const optionalPeers = Object.keys(manifest.peerDependenciesMeta ?? {}).filter((name) => manifest.peerDependenciesMeta?.[name]?.optional === true)
  t.same(sorted(optionalPeers), ['ioredis', 'prom-client'], 'ioredis and prom-client are optional peers (their subpath entries)')
  t.same(sorted(Object.keys(manifest.peerDependencies)), ['fastify', 'ioredis', 'prom-client'], 'fastify is a peer: the app brings its own')
  const imported = sorted([...runtime].filter((name) => !optionalPeers.includes(name)))
  const declared = sorted(Object.keys(manifest.dependencies).filter((name) => !name.startsWith('@types/')))
  t.same(declared, imported, 'each dependency is imported by the published code, and each import is a dependency')
  for (const name of Object.keys(manifest.dependencies)) t.notOk(name in manifest.devDependencies, `${name} is not also a dev dependency`)
})

t.test('the declarations need nothing the package does not declare', async (t) => {
  const typed = importedPackages(publishedFiles('.d.ts'))
  const provided = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)])
  const missing = [...typed].filter((name) => !provided.has(name) && !provided.has(`@types/${name.replace('@', '').replace('/', '__')}`))
  t.same(missing, [], `every package the .d.ts files import is a dependency, a peer, or has its @types dependency (${sorted(typed).join(', ')})`)
  t.ok(typed.has('ws') && '@types/ws' in manifest.dependencies, 'the ws types the declarations use come with the package')
})

t.test('the tarball holds the build, the readme and the protocol, and nothing of the demo or the sources', async (t) => {
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const files = (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((file) => file.path) ?? []
  t.same(files.filter((file) => !file.startsWith('dist/src/')).sort(), ['README.md', 'docs/PROTOCOL.md', 'package.json'])
  t.same(files.filter((file) => file.startsWith('dist/src/app/') || file.endsWith('.map') || (file.endsWith('.ts') && !file.endsWith('.d.ts'))), [], 'no demo server, source map or TypeScript source')
  for (const [entry, target] of Object.entries(manifest.exports)) {
    const paths = typeof target === 'string' ? [target] : [target.import, target.types]
    for (const path of paths) t.ok(files.includes(path.replace(/^\.\//, '')), `export ${entry} → ${path} is packed`)
  }
})
