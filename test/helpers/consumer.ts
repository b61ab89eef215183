/**
 * The package as a new user gets it: packed from a clean copy of this checkout (no dist/, so the
 * tarball is what `prepack` builds) and installed into a new app in a folder outside the
 * repository, so nothing can resolve from the repository's own node_modules.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { packageRoot } from '../../src/app/paths.js'
import type { TestLike } from './app.js'
import type { DocExample } from './doc-examples.js'

/** What `npm pack --json` says of the tarball. */
export interface Packed {
  /** Absolute path of the .tgz. */
  tarball: string
  files: string[]
  /** Bytes of the .tgz, and unpacked. */
  size: number
  unpackedSize: number
}

/**
 * A command line that runs `command` as a user's shell would: the test runner instruments every
 * child process it spawns (NODE_OPTIONS with its TypeScript and coverage loaders), which a user's
 * tools never see and some cannot load under (TypeScript 7's `tsc`); `env -u` drops it.
 */
export function asUser (command: string, args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', command, ...args]]
}

/** Run a command to completion as a user would, in a clean environment; throws with its output when it fails. */
const run = (command: string, args: string[], cwd: string, timeout = 240_000, env: Record<string, string> = {}): string =>
  execFileSync(...asUser(command, args), { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', npm_config_loglevel: 'error', ...env } })

/** A new folder outside the repository, removed on teardown. */
export function outsideDir (t: TestLike, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * `npm pack` on a copy of this checkout's tracked and unignored files (no dist/): the tarball is
 * built by the package's own `prepack`, as on a clean clone. The copy borrows node_modules for the
 * build tools only; nothing of it goes into the tarball.
 */
export function packFromCleanCopy (t: TestLike): Packed {
  const work = outsideDir(t, 'rt-pack-')
  const copy = join(work, 'checkout')
  // node_modules is borrowed below; a checkout whose node_modules is a symlink (a git worktree
  // sharing one install) lists it as an untracked file, which the .gitignore's `node_modules/` misses.
  const files = run('git', ['ls-files', '-co', '--exclude-standard'], packageRoot).split('\n').filter((file) => file !== '' && !file.startsWith('dist/') && file !== 'node_modules')
  for (const file of files) {
    mkdirSync(join(copy, dirname(file)), { recursive: true })
    try {
      cpSync(join(packageRoot, file), join(copy, file))
    } catch (err) {
      // A tracked file deleted in the working tree is not part of it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  symlinkSync(join(packageRoot, 'node_modules'), join(copy, 'node_modules'), 'dir')
  const output = run('npm', ['pack', '--json', '--pack-destination', work], copy)
  const [info] = JSON.parse(output.slice(output.indexOf('['))) as Array<{ filename: string, size: number, unpackedSize: number, files: Array<{ path: string }> }>
  if (info === undefined) throw new Error(`npm pack said nothing:\n${output}`)
  return { tarball: join(work, info.filename), files: info.files.map((file) => file.path), size: info.size, unpackedSize: info.unpackedSize }
}

/**
 * A new ESM app outside the repository with the tarball and `packages` installed. `preferOffline`
 * (the default) takes what npm's cache has; off, a tag such as `@latest` is asked of the registry.
 */
export function consumerApp (t: TestLike, tarball: string, packages: string[], preferOffline = true): string {
  const dir = outsideDir(t, 'rt-consumer-')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2))
  run('npm', ['install', '--no-audit', '--no-fund', ...(preferOffline ? ['--prefer-offline'] : []), tarball, ...packages], dir)
  return dir
}

/** The TypeScript range this project builds with (package.json), as an install spec: `typescript@~6.0.3`. */
export function projectTypeScript (): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  const range = pkg.devDependencies.typescript
  if (range === undefined) throw new Error('package.json has no typescript devDependency')
  return `typescript@${range}`
}

/** The packages the examples' annotations say a user installs (`needs=`). */
export function examplePackages (examples: readonly DocExample[]): string[] {
  return [...new Set(examples.flatMap((example) => (example.settings.needs ?? '').split(',').filter((name) => name !== '')))]
}

/** The two compilations of the examples: Node ones and browser ones (with the DOM). */
export const EXAMPLE_CONFIGS = ['tsconfig.json', 'tsconfig.browser.json'] as const

/** The strictness every compilation of the examples has: strict, skipLibCheck off. */
const strict = { strict: true, skipLibCheck: false, target: 'ES2022', noEmitOnError: true }

/** Write every example into a consumer app as printed, one file each, with strict configs (skipLibCheck off). */
export function writeExamples (dir: string, examples: readonly DocExample[]): void {
  mkdirSync(join(dir, 'examples'))
  mkdirSync(join(dir, 'browser'))
  for (const example of examples) writeFileSync(join(dir, example.settings.run === 'browser' ? 'browser' : 'examples', `${example.slug}.ts`), example.code)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], outDir: 'out', rootDir: 'examples' }, include: ['examples'] }))
  writeFileSync(join(dir, 'tsconfig.browser.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [], outDir: 'out-browser', rootDir: 'browser' }, include: ['browser'] }))
}

/** Run the consumer's installed `tsc` on one config. @returns tsc's errors, '' when it compiled */
function tsc (dir: string, config: string): string {
  try {
    run(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', config], dir)
    return ''
  } catch (err) {
    return `${(err as { stdout?: string }).stdout ?? ''}${(err as Error).message}`
  }
}

/** Compile the written examples with the consumer's installed `typescript`. @returns tsc's errors, '' when it compiled */
export function compileExamples (dir: string, config: typeof EXAMPLE_CONFIGS[number]): string {
  return tsc(dir, config)
}

/**
 * Compile one written Node example on its own, with only `@types/node` loaded: what its imports
 * bring is all it gets (in the whole program, other examples' imports could supply declarations
 * it silently depends on). @returns tsc's errors, '' when it compiled
 */
export function compileExampleAlone (dir: string, example: DocExample): string {
  const config = `tsconfig.${example.slug}.json`
  writeFileSync(join(dir, config), JSON.stringify({ compilerOptions: { ...strict, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'] }, files: [`examples/${example.slug}.ts`] }))
  return tsc(dir, config)
}

/** The version of a package installed in a consumer app. */
export function installedVersion (dir: string, name: string): string {
  return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
}

/** How many packages an install put in a consumer's node_modules (scoped ones counted one by one). */
export function countPackages (dir: string): number {
  const modules = join(dir, 'node_modules')
  return readdirSync(modules).flatMap((name) => name.startsWith('@') ? readdirSync(join(modules, name)) : name.startsWith('.') ? [] : [name]).length
}

export { run as runCommand }
