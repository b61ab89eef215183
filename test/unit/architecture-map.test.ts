/**
 * docs/architecture.md's map names every file under src/, in its folder, and nothing that is not
 * there: the map is where a newcomer starts, so it must not drift from the tree.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(packageRoot, path)] : []
  })
}

/** The paths the map's `src/` block names: folders by indentation, files under their folder. */
function mappedFiles (markdown: string): string[] {
  const block = /```\n(src\/\n[\s\S]*?)```/.exec(markdown)?.[1] ?? ''
  const folders: Array<{ indent: number, path: string }> = []
  const files: string[] = []
  for (const line of block.split('\n')) {
    const match = /^( *)(\S+)/.exec(line)
    if (match === null) continue
    const indent = match[1]?.length ?? 0
    const name = match[2] ?? ''
    // A line at the left margin other than src/ is outside the src/ tree (plugins/, test/…).
    if (indent === 0 && name !== 'src/') break
    while (folders.length > 0 && (folders.at(-1)?.indent ?? 0) >= indent) folders.pop()
    const parent = folders.at(-1)?.path ?? ''
    if (name.endsWith('/')) folders.push({ indent, path: `${parent}${name}` })
    else if (name.endsWith('.ts')) files.push(`${parent}${name}`)
  }
  return files
}

t.test('docs/architecture.md maps every src/ file, and only those', async (t) => {
  const actual = sourceFiles(join(packageRoot, 'src')).sort()
  const mapped = mappedFiles(readFileSync(join(packageRoot, 'docs', 'architecture.md'), 'utf8')).sort()
  t.ok(mapped.length > 20, `the map was read (${mapped.length} files)`)
  t.same(actual.filter((file) => !mapped.includes(file)), [], 'no file is missing from the map')
  t.same(mapped.filter((file) => !actual.includes(file)), [], 'the map names no file that is gone')
})
