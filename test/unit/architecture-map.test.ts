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

/** The members of `export interface <name>` in a TypeScript source: its two-space-indented lines. */
function interfaceMembers (source: string, name: string): string[] {
  const body = new RegExp(`export interface ${name}\\b[^{]*\\{\\n([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? ''
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??\s*[:(]/gm)].map((match) => match[1] ?? '')
}

t.test('docs/architecture.md lists every method of each adapter part and its handler, read from the .ts source', async (t) => {
  const markdown = readFileSync(join(packageRoot, 'docs', 'architecture.md'), 'utf8')
  const parts = [
    { file: 'broker.ts', heading: '**Broker**', interfaces: ['Broker', 'BrokerHandler'] },
    { file: 'presence.ts', heading: '**Presence**', interfaces: ['Presence', 'PresenceHandler'] },
    { file: 'state.ts', heading: '**Shared state**', interfaces: ['SharedState', 'StateHandler'] }
  ]
  const headings = parts.map((part) => markdown.indexOf(`  ${part.heading} (\`adapters/${part.file}\``))
  for (const [i, part] of parts.entries()) {
    const start = headings[i] ?? -1
    t.ok(start >= 0, `the map has a ${part.heading} section naming adapters/${part.file}`)
    // A part's section runs to the next part's heading (the last one to the next seam).
    const end = headings[i + 1] ?? markdown.indexOf('\n- **', start)
    const section = markdown.slice(start, end)
    const source = readFileSync(join(packageRoot, 'src', 'adapters', part.file), 'utf8')
    for (const name of part.interfaces) {
      const members = interfaceMembers(source, name)
      t.ok(members.length > 0, `${name}'s members were read from ${part.file}`)
      const missing = members.filter((member) => !section.includes(`\`${member}\``) && !section.includes(`\`${member}(`))
      t.same(missing, [], `every member of ${name} is listed under ${part.heading}`)
    }
  }
})
