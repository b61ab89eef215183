/**
 * The option types are derived from the one table of options (src/options.ts), so each option is
 * written once. What an application sees must not suffer for it: its editor shows every option of
 * `RealtimePluginOptions` with the documentation written on the option's row, typed as before;
 * `ResolvedOptions` holds every option resolved. Read with the TypeScript compiler, as an editor
 * reads it. The nested `api` and `webhooks` defaults are written once too (API_DEFAULTS,
 * WEBHOOK_DEFAULTS): the `@default` their fields' documentation states is checked against them.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { packageRoot } from '../../src/app/paths.js'
import { API_DEFAULTS, WEBHOOK_DEFAULTS } from '../../src/api/options.js'
import { OPTIONS } from '../../src/options.js'
import { typeReader } from '../helpers/type-reader.js'

/** The checker of a program made of src/options.ts and what it imports, with the project's settings. */
function checkerOf (): { checker: ts.TypeChecker, exports: Map<string, ts.Symbol> } {
  const config = ts.getParsedCommandLineOfConfigFile(join(packageRoot, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
  if (config === undefined) throw new Error('tsconfig.json could not be read')
  const file = join(packageRoot, 'src', 'options.ts')
  const program = ts.createProgram([file], { ...config.options, noEmit: true })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(file)
  const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
  if (module === undefined) throw new Error('src/options.ts was not read')
  return { checker, exports: new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol])) }
}

const { checker, exports } = checkerOf()

const { propertiesOf, docOf, typeOf } = typeReader(checker, exports)

t.test('every option of RealtimePluginOptions carries the documentation written on its row', async (t) => {
  const options = propertiesOf('RealtimePluginOptions')
  const rows = propertiesOf('OPTIONS')
  t.same([...options.keys()].sort(), [...Object.keys(OPTIONS), 'prefix'].sort(), 'one option per row, and the prefix Fastify gives')
  for (const [name, row] of rows) {
    const option = options.get(name)
    const written = docOf(row)
    t.ok(written.length > 20, `${name}: its row has a documentation comment`)
    t.equal(option === undefined ? '(missing)' : docOf(option), written, `${name}: an editor shows its row's documentation`)
  }
  const prefix = options.get('prefix')
  t.match(prefix === undefined ? '(missing)' : docOf(prefix), /register\(plugin, \{ prefix \}\)/, 'prefix: documented too')
})

t.test('the derived types are the options\' own types, not an anonymous or a looser copy', async (t) => {
  const options = propertiesOf('RealtimePluginOptions')
  const resolved = propertiesOf('ResolvedOptions')
  const written: Record<string, [string, string]> = {
    path: ['string | undefined', 'string'],
    tickIntervalMs: ['number | undefined', 'number'],
    requireAuth: ['boolean | undefined', 'boolean'],
    allowedOrigins: ['readonly string[] | undefined', 'readonly string[]'],
    resumeSecret: ['string | undefined', 'string | undefined'],
    channels: ['readonly ChannelDefinition[] | undefined', 'ChannelRegistry'],
    rpc: ['Record<string, RpcMethod<TSchema>> | undefined', 'RpcRegistry'],
    adapter: ['RealtimeAdapter | undefined', 'RealtimeAdapter | undefined'],
    metrics: ['RealtimeMetrics | undefined', 'RealtimeMetrics'],
    api: ['ApiOptions | undefined', 'ResolvedApiOptions | undefined'],
    webhooks: ['WebhookOptions | undefined', 'Readonly<Required<WebhookOptions>> | undefined'],
    onMessage: ['((connection: ConnectionInfo, text: string) => void) | undefined', '((connection: ConnectionInfo, text: string) => void) | undefined']
  }
  for (const [name, [given, after]] of Object.entries(written)) {
    const option = options.get(name)
    const value = resolved.get(name)
    t.equal(option === undefined ? '(missing)' : typeOf(option), given, `${name}: the application passes ${given}`)
    t.equal(value === undefined ? '(missing)' : typeOf(value), after, `${name}: resolved, ${after}`)
  }
  t.same([...resolved.keys()].sort(), [...Object.keys(OPTIONS), 'prefix'].sort(), 'every option is resolved')
  for (const [name, value] of resolved) {
    t.notMatch(typeOf(value), /^(unknown|never|any)$/, `${name}: resolved to a real type`)
    t.ok(value.flags & ts.SymbolFlags.Property && !(value.flags & ts.SymbolFlags.Optional), `${name}: always present once resolved`)
  }
})

/** The `@default` text of each field of an interface of src/api/options.ts. */
function statedDefaults (name: string): Map<string, string> {
  const source = ts.createSourceFile('options.ts', readFileSync(join(packageRoot, 'src', 'api', 'options.ts'), 'utf8'), ts.ScriptTarget.ES2022, true)
  const stated = new Map<string, string>()
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== name) return
    for (const member of node.members) {
      const tag = ts.getJSDocTags(member).find((candidate) => candidate.tagName.text === 'default')
      if (member.name !== undefined && ts.isIdentifier(member.name) && tag !== undefined) stated.set(member.name.text, ts.getTextOfJSDocComment(tag.comment) ?? '')
    }
  })
  return stated
}

t.test('the api and webhooks fields document the defaults the resolvers apply', async (t) => {
  for (const [name, defaults] of [['ApiOptions', API_DEFAULTS], ['WebhookOptions', WEBHOOK_DEFAULTS]] as const) {
    const stated = statedDefaults(name)
    for (const [field, value] of Object.entries(defaults)) {
      const text = stated.get(field)
      if (Array.isArray(value)) {
        t.equal(text, 'every one', `${name}.${field}: @default every one`)
      } else if (typeof value === 'object') {
        for (const [key, leaf] of Object.entries(value)) t.match(text ?? '', new RegExp(`\\b${key}: ${String(leaf)}\\b`), `${name}.${field}: @default states ${key}: ${String(leaf)}`)
      } else {
        t.equal(text?.split(' ')[0], String(value), `${name}.${field}: @default ${String(value)}`)
      }
    }
  }
})
