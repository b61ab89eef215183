/**
 * The Node floor is honest: every package `npm install` puts in node_modules (the published
 * package's dependencies and the dev tree alike) supports the oldest Node our `engines` allows,
 * so a fresh install on that Node warns no EBADENGINE; and the README states the same floor.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'

interface Manifest { name?: string, version?: string, engines?: { node?: string } }

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest

/** Every installed package folder under `modules` (scoped and nested ones too). */
function installedPackages (modules: string): string[] {
  if (!existsSync(modules)) return []
  const found: string[] = []
  for (const entry of readdirSync(modules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue
    const dir = join(modules, entry.name)
    if (entry.name.startsWith('@')) {
      found.push(...installedPackages(dir))
      continue
    }
    if (!existsSync(join(dir, 'package.json'))) continue
    found.push(dir, ...installedPackages(join(dir, 'node_modules')))
  }
  return found
}

t.test('every installed package supports the oldest Node our engines field allows', async (t) => {
  const range = readManifest(packageRoot).engines?.node ?? ''
  const floor = semver.minVersion(range)
  t.ok(floor, `engines.node is a range (${range})`)
  if (floor === null) return
  const refusing = installedPackages(join(packageRoot, 'node_modules'))
    .map((dir) => readManifest(dir))
    .filter((manifest) => manifest.engines?.node !== undefined && semver.validRange(manifest.engines.node) !== null && !semver.satisfies(floor, manifest.engines.node))
    .map((manifest) => `${manifest.name ?? '?'}@${manifest.version ?? '?'} wants node ${manifest.engines?.node ?? ''}`)
  t.same(refusing, [], `no package refuses Node ${floor.version}`)
})

t.test('the README states the same floor', async (t) => {
  const range = readManifest(packageRoot).engines?.node ?? ''
  const floor = semver.minVersion(range)?.version.replace(/\.0$/, '') ?? ''
  t.match(readFileSync(join(packageRoot, 'README.md'), 'utf8'), new RegExp(`Node\\.js ≥ ${floor.replace(/\./g, '\\.')}\\b`), `README says Node.js ≥ ${floor}`)
})
