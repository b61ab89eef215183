/**
 * The channel declaration types are derived from the one table of channel fields
 * (CHANNEL_FIELDS in src/channels/policy.ts), so each field is written once. What an application
 * sees must not suffer for it: its editor shows every field of `ChannelDefinition` with the
 * documentation written on the field's row, typed as before (hooks get their context typed);
 * `ChannelPolicy` holds every field resolved and read-only. Read with the TypeScript compiler, as
 * an editor reads it, with a probe file written as an application would write its declarations.
 */
import { join } from 'node:path'
import t from 'tap'
import ts from 'typescript'
import { packageRoot } from '../../src/app/paths.js'
import { CHANNEL_FIELDS } from '../../src/channels/policy.js'
import { typeReader } from '../helpers/type-reader.js'

const policyFile = join(packageRoot, 'src', 'channels', 'policy.ts')
const probeFile = join(packageRoot, 'test', 'unit', 'channel-fields-probe.ts')

/** Compiles, with the project's settings, as an application's own file would use the types. */
const PROBE = `
import type { ChannelDefinition, ChannelPolicy } from '../../src/channels/policy.js'
export const fine: ChannelDefinition[] = [
  { name: 'chat', clientPublish: true, onClientPublish: (context, data) => ({ from: context.visitor?.id, data }) },
  { name: 'room:*', canSubscribe: async ({ visitor, request }) => visitor !== null && request !== undefined, historySize: 50, historyTtlMs: 60_000, presence: true },
  { name: 'inbox:*', serverOnly: true },
  { name: 'secret', private: true }
]
export const frozenList: readonly ChannelDefinition[] = Object.freeze([{ name: 'chat' }])
export function tamper (policy: ChannelPolicy): void {
  policy.name = 'x'
  policy.canSubscribe = () => true
  policy.clientPublish = true
  policy.onClientPublish = undefined
  policy.historySize = 1
  policy.historyTtlMs = 1
  policy.presence = true
  policy.private = true
  policy.serverOnly = true
}
export const wrong: ChannelDefinition[] = [
  { name: 'a', historySize: '10' },
  { name: 'b', canSubscribe: true },
  { name: 'c', presence: 1 },
  { name: 'd', history: 10 },
  { historySize: 1 }
]
`

/** The checker of a program made of src/channels/policy.ts, what it imports and the probe, with the project's settings. */
function compile (): { checker: ts.TypeChecker, exports: Map<string, ts.Symbol>, probeDiagnostics: readonly ts.Diagnostic[] } {
  const config = ts.getParsedCommandLineOfConfigFile(join(packageRoot, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
  if (config === undefined) throw new Error('tsconfig.json could not be read')
  const options = { ...config.options, noEmit: true }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.readFile = (file) => file === probeFile ? PROBE : readFile(file)
  host.fileExists = (file) => file === probeFile || fileExists(file)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (file, language, ...rest) => file === probeFile ? ts.createSourceFile(file, PROBE, language, true) : getSourceFile(file, language, ...rest)
  const program = ts.createProgram([policyFile, probeFile], options, host)
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(policyFile)
  const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
  if (module === undefined) throw new Error('src/channels/policy.ts was not read')
  const probe = program.getSourceFile(probeFile)
  if (probe === undefined) throw new Error('the probe was not read')
  return {
    checker,
    exports: new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol])),
    probeDiagnostics: program.getSemanticDiagnostics(probe)
  }
}

const { checker, exports, probeDiagnostics } = compile()

const { propertiesOf, docOf, typeOf } = typeReader(checker, exports)
const FIELDS = Object.keys(CHANNEL_FIELDS)

/** The probe's diagnostics on the line that contains `text`. */
function errorsAt (text: string): string[] {
  const line = PROBE.split('\n').findIndex((candidate) => candidate.includes(text))
  return probeDiagnostics
    .filter((diagnostic) => diagnostic.file !== undefined && diagnostic.start !== undefined && diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line === line)
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
}

t.test('every field of ChannelDefinition carries the documentation written on its row', async (t) => {
  const fields = propertiesOf('ChannelDefinition')
  const rows = propertiesOf('CHANNEL_FIELDS')
  t.same([...fields.keys()].sort(), [...FIELDS, 'name'].sort(), 'one field per row, and the name')
  for (const [name, row] of rows) {
    const field = fields.get(name)
    const written = docOf(row)
    t.ok(written.length > 20, `${name}: its row has a documentation comment`)
    t.match(written, /@default /, `${name}: its comment states the default`)
    t.equal(field === undefined ? '(missing)' : docOf(field), written, `${name}: an editor shows its row's documentation`)
  }
  const name = fields.get('name')
  t.match(name === undefined ? '(missing)' : docOf(name), /pattern where `\*` matches/, 'name: documented too')
})

t.test('the derived types are the fields\' own types, not an anonymous or a looser copy', async (t) => {
  const definition = propertiesOf('ChannelDefinition')
  const policy = propertiesOf('ChannelPolicy')
  const written: Record<string, [string, string]> = {
    name: ['string', 'string'],
    canSubscribe: ['((context: ChannelContext) => boolean | Promise<boolean>) | undefined', '(context: ChannelContext) => boolean | Promise<boolean>'],
    clientPublish: ['boolean | undefined', 'boolean'],
    onClientPublish: ['((context: ChannelContext, data: unknown) => unknown) | undefined', '((context: ChannelContext, data: unknown) => unknown) | undefined'],
    historySize: ['number | undefined', 'number'],
    historyTtlMs: ['number | undefined', 'number'],
    presence: ['boolean | undefined', 'boolean'],
    private: ['boolean | undefined', 'boolean'],
    serverOnly: ['boolean | undefined', 'boolean']
  }
  t.same(Object.keys(written).sort(), [...FIELDS, 'name'].sort(), 'this test names every field')
  for (const [name, [given, after]] of Object.entries(written)) {
    const field = definition.get(name)
    const value = policy.get(name)
    t.equal(field === undefined ? '(missing)' : typeOf(field), given, `${name}: the application writes ${given}`)
    t.equal(field !== undefined && (field.flags & ts.SymbolFlags.Optional) !== 0, name !== 'name', `${name}: ${name === 'name' ? 'required' : 'optional'} in a declaration`)
    t.equal(value === undefined ? '(missing)' : typeOf(value), after, `${name}: resolved, ${after}`)
    t.ok(value !== undefined && value.flags & ts.SymbolFlags.Property && !(value.flags & ts.SymbolFlags.Optional), `${name}: always present once resolved`)
  }
})

t.test('declarations written as an application writes them compile; a resolved policy is read-only; wrong ones do not compile', async (t) => {
  for (const line of ["name: 'chat', clientPublish", "name: 'room:*'", "name: 'inbox:*'", "name: 'secret'", 'frozenList']) {
    t.same(errorsAt(line), [], `compiles: ${line} (hooks get their context typed)`)
  }
  for (const field of ['name', ...FIELDS]) {
    t.match(errorsAt(`policy.${field} =`).join(), new RegExp(`Cannot assign to '${field}' because it is a read-only property`), `policy.${field} is read-only`)
  }
  const refusals: Array<[string, RegExp]> = [
    ["name: 'a'", /'string' is not assignable to type 'number/],
    ["name: 'b'", /'boolean' is not assignable to type '\(context: ChannelContext\) => boolean \| Promise<boolean>'/],
    ["name: 'c'", /'number' is not assignable to type 'boolean/],
    ["name: 'd'", /'history' does not exist in type 'ChannelDefinition'/],
    ['{ historySize: 1 }', /Property 'name' is missing/]
  ]
  for (const [line, message] of refusals) t.match(errorsAt(line).join(), message, `refused: ${line}`)
})
