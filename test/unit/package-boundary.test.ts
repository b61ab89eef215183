/**
 * The package boundary: what `npm install fastify-realtime` brings is the plugin's own.
 * Its runtime dependencies are exactly the packages the published code imports; its
 * declarations need nothing the package does not declare; the demo app and the sources stay out
 * of the tarball; every export points at a packed file; and every relative link of the packed
 * README and docs points at a packed file (a user reading them from node_modules finds them).
 */
import { execFileSync } from 'node:child_process'
import { builtinModules } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
import { join, posix, relative } from 'node:path'
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

/** The paths `npm pack` would put in the tarball (the build as it is now: no prepack). */
function packedFiles (): string[] {
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((file) => file.path) ?? []
}

/** The relative link targets of a Markdown text (inline and reference links, images), without their #fragment. */
function relativeLinks (markdown: string): string[] {
  const targets = [...markdown.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g), ...markdown.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((match) => match[1] ?? '')
  return targets.filter((target) => target !== '' && !target.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(target)).map((target) => decodeURI(target.split('#')[0] ?? ''))
}

t.test('the tarball holds the build, the readme, the docs it links to, and nothing of the demo or the sources', async (t) => {
  const files = packedFiles()
  t.same(files.filter((file) => !file.startsWith('dist/src/')).sort(), [
    '.env.example', 'CHANGELOG.md', 'README.md', 'bench/results/chart.svg', 'bench/results/summary.md',
    'docs/PROTOCOL.md', 'docs/api.md', 'docs/architecture.md', 'docs/deploy/nginx.conf', 'docs/operations.md', 'docs/performance.md', 'docs/pusher.md',
    'package.json'
  ])
  t.same(files.filter((file) => file.startsWith('dist/src/app/') || file.endsWith('.map') || (file.endsWith('.ts') && !file.endsWith('.d.ts'))), [], 'no demo server, source map or TypeScript source')
  for (const [entry, target] of Object.entries(manifest.exports)) {
    const paths = typeof target === 'string' ? [target] : [target.import, target.types]
    for (const path of paths) t.ok(files.includes(path.replace(/^\.\//, '')), `export ${entry} → ${path} is packed`)
  }
})

t.test('every relative link of the packed README and of the packed docs resolves to a packed file', async (t) => {
  const files = packedFiles()
  const packed = new Set(files)
  const documents = files.filter((file) => file.endsWith('.md'))
  t.ok(documents.includes('README.md') && documents.includes('docs/operations.md'), `documents packed: ${documents.join(', ')}`)
  let checked = 0
  for (const document of documents) {
    for (const link of relativeLinks(readFileSync(join(packageRoot, document), 'utf8'))) {
      const target = posix.normalize(posix.join(posix.dirname(document), link))
      t.ok(packed.has(target) || files.some((file) => file.startsWith(`${target.replace(/\/$/, '')}/`)), `${document} → ${link} (${target}) is in the tarball`)
      checked++
    }
  }
  t.ok(checked >= 10, `${checked} relative links checked`)
})
