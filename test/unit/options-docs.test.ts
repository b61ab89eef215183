/**
 * The docs of every tunable are written from its one entry (scripts/options-docs.ts): the files
 * in the repository must be what that would write now, so a changed default, bound or
 * description cannot leave `.env.example`, the README or docs/operations.md behind.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { expectedFiles } from '../../scripts/options-docs.js'
import { packageRoot } from '../../src/app/paths.js'
import { OPTIONS } from '../../src/options.js'
import { defaultShown, type Tunable } from '../../src/tunables.js'

t.test('.env.example, the README tables and the operations variable table are generated from the schema', async (t) => {
  for (const [file, expected] of Object.entries(expectedFiles())) {
    t.equal(readFileSync(join(packageRoot, file), 'utf8'), expected, `${file} is up to date (npm run docs:options writes it)`)
  }
})

t.test('the @default of each option in RealtimePluginOptions is the schema\'s default', async (t) => {
  const source = ts.createSourceFile('options.ts', readFileSync(join(packageRoot, 'src', 'options.ts'), 'utf8'), ts.ScriptTarget.ES2022, true)
  const documented = new Map<string, string>()
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'RealtimePluginOptions') return
    for (const member of node.members) {
      const tag = ts.getJSDocTags(member).find((candidate) => candidate.tagName.text === 'default')
      if (member.name !== undefined && ts.isIdentifier(member.name) && tag !== undefined) documented.set(member.name.text, ts.getTextOfJSDocComment(tag.comment) ?? '')
    }
  })
  t.ok(documented.size >= 20, `${documented.size} options carry a @default`)
  for (const [name, tunable] of Object.entries(OPTIONS) as Array<[string, Tunable]>) {
    if (typeof tunable.default !== 'number' && typeof tunable.default !== 'boolean' && typeof tunable.default !== 'string') continue
    const stated = documented.get(name)
    const shown = defaultShown(tunable)
    t.equal(stated?.split(' ')[0]?.replace(/^'|'$/g, ''), shown, `${name}: @default ${stated ?? '(none)'} is the schema's ${shown}`)
  }
})
