/**
 * Locations of the package's non-code folders (views/, public/, plugins/, routes/). Code runs
 * from `src/` under tsx/tap and from `dist/src/` when compiled, so paths are found from the
 * package root rather than relative to this file.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot (start: string): string {
  let dir = start
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`fastify-realtime: no package.json above ${start}`)
    dir = parent
  }
  return dir
}

/** Directory of the package (where package.json is). */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)))

/**
 * Directory that holds this module tree (the package root for `src/`, `dist/` for `dist/src/`):
 * the demo's plugins/ and routes/ sit beside its `src/`.
 */
export const codeRoot = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
