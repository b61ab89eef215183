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

t.test('the @default of each option\'s documentation (its row\'s comment, which RealtimePluginOptions carries) is the schema\'s default', async (t) => {
  const source = ts.createSourceFile('options.ts', readFileSync(join(packageRoot, 'src', 'options.ts'), 'utf8'), ts.ScriptTarget.ES2022, true)
  const documented = new Map<string, string>()
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'OPTIONS') {
      const table = node.initializer !== undefined && ts.isCallExpression(node.initializer) ? node.initializer.arguments[0] : undefined
      for (const row of table !== undefined && ts.isObjectLiteralExpression(table) ? table.properties : []) {
        const tag = ts.getJSDocTags(row).find((candidate) => candidate.tagName.text === 'default')
        if (row.name !== undefined && ts.isIdentifier(row.name) && tag !== undefined) documented.set(row.name.text, ts.getTextOfJSDocComment(tag.comment) ?? '')
      }
      return
    }
    node.forEachChild(visit)
  }
  visit(source)
  t.ok(documented.size >= 20, `${documented.size} options carry a @default`)
  for (const [name, tunable] of Object.entries(OPTIONS) as Array<[string, Tunable]>) {
    if (typeof tunable.default !== 'number' && typeof tunable.default !== 'boolean' && typeof tunable.default !== 'string') continue
    const stated = documented.get(name)
    const shown = defaultShown(tunable)
    t.equal(stated?.split(' ')[0]?.replace(/^'|'$/g, ''), shown, `${name}: @default ${stated ?? '(none)'} is the schema's ${shown}`)
  }
})
