// Lint: neostandard (the style Fastify uses), with TypeScript, plus the import rules of
// ARCHITECTURE.md §3. ESLint keeps only the last matching setting of a rule per file, so each
// block below states the complete restriction for its files (`restrict` builds it).
import globals from 'globals'
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

/** The library is src/ outside src/app/ (the demo server) and src/client/ (the browser client). */
const LIBRARY = ['src/**/*.ts']
const NOT_LIBRARY = ['src/app/**', 'src/client/**']

const NOT_APP = {
  group: ['plugins', 'routes', 'views', 'test', 'bench', 'public', 'app'].map((folder) => `**/${folder}/*`),
  message: 'The library never imports the demo app (src/app/, plugins/, routes/, views/) or the tests (rule 1).'
}
const NO_FASTIFY_PLUGIN = { name: 'fastify-plugin', message: 'Only src/plugin.ts wires into Fastify (rule 3).' }
const NO_WEBSOCKET = { name: '@fastify/websocket', message: 'Only src/plugin.ts wires into Fastify (rule 3).' }
const TYPES_OF_FASTIFY = { name: 'fastify', allowTypeImports: true, message: 'The core takes `import type` from fastify at most; only src/plugin.ts wires into Fastify at runtime (rule 3).' }
const NO_IOREDIS = { name: 'ioredis', message: 'ioredis belongs under src/adapters/redis/ only, behind the fastify-realtime/redis entry (rule 4).' }
const NO_PROM_CLIENT = { name: 'prom-client', message: 'prom-client belongs in src/metrics/prometheus.ts only, behind the fastify-realtime/prometheus entry (rule 4).' }
const NO_DOTENV = { name: 'dotenv', message: 'Only src/app/config.ts loads .env (rule 2).' }
const NO_CONCRETE_ADAPTER = {
  group: ['**/adapters/memory.js', '**/adapters/redis/*', '**/adapters/redis/**'],
  message: 'Nothing above adapters/ imports a concrete adapter: talk to the contracts (adapters/broker.ts, presence.ts, state.ts; adapter.ts joins them); the plugin chooses the adapter (rule 4).'
}
const PUBLIC_ENTRIES_ONLY = {
  group: ['../src/**/*.js', '!../src/index.js', '!../src/adapters/redis/index.js', '!../src/metrics/prometheus.js'],
  message: 'Register fastify-realtime through its public entries (src/index.js, src/adapters/redis/index.js, src/metrics/prometheus.js), as an outside app would (rule 5).'
}
const NO_OPTIONS = {
  group: ['../options.js', '../../options.js'],
  message: 'The parts take their own settings (an interface of their own, or their area\'s options file); only the wiring (src/plugin.ts, src/assemble.ts, src/index.ts) and the demo app import src/options.ts, which composes them (rule 7).'
}
const CLIENT_ALONE = {
  group: ['../*', '!../client/*', '../../*'],
  message: 'The browser client imports nothing from the server side (rule 1).'
}

const restrict = ({ paths = [], patterns = [] }) => ({ '@typescript-eslint/no-restricted-imports': ['error', { paths, patterns }] })
const LIBRARY_PATHS = [NO_FASTIFY_PLUGIN, NO_WEBSOCKET, TYPES_OF_FASTIFY, NO_IOREDIS, NO_PROM_CLIENT, NO_DOTENV]

/** @type {import('eslint').Linter.Config[]} */
export default [
  ...neostandard({ ts: true, ignores: [...resolveIgnoresFromGitignore(), 'bench/results/**'] }),
  // Every layer above the adapters (every folder of the library, and the top-level files) sees the
  // adapter contract only: a new folder is covered without being listed here.
  { files: LIBRARY, ignores: NOT_LIBRARY, rules: restrict({ paths: LIBRARY_PATHS, patterns: [NOT_APP, NO_CONCRETE_ADAPTER, NO_OPTIONS] }) },
  // The adapters themselves, and the public barrel that exports the memory adapter (a name, not a choice).
  { files: ['src/adapters/**/*.ts', 'src/index.ts'], rules: restrict({ paths: LIBRARY_PATHS, patterns: [NOT_APP, NO_OPTIONS] }) },
  // The wiring file: the Fastify plugin and @fastify/websocket.
  { files: ['src/plugin.ts'], rules: restrict({ paths: [NO_IOREDIS, NO_PROM_CLIENT, NO_DOTENV], patterns: [NOT_APP, NO_CONCRETE_ADAPTER] }) },
  // The assembly: the one place the default adapter is chosen, from the resolved options.
  { files: ['src/assemble.ts'], rules: restrict({ paths: LIBRARY_PATHS, patterns: [NOT_APP] }) },
  { files: ['src/adapters/redis/**/*.ts'], rules: restrict({ paths: [NO_FASTIFY_PLUGIN, NO_WEBSOCKET, TYPES_OF_FASTIFY, NO_PROM_CLIENT, NO_DOTENV], patterns: [NOT_APP, NO_OPTIONS] }) },
  { files: ['src/metrics/prometheus.ts'], rules: restrict({ paths: [NO_FASTIFY_PLUGIN, NO_WEBSOCKET, TYPES_OF_FASTIFY, NO_IOREDIS, NO_DOTENV], patterns: [NOT_APP, NO_CONCRETE_ADAPTER, NO_OPTIONS] }) },
  { files: ['src/client/**/*.ts'], rules: restrict({ paths: [...LIBRARY_PATHS, { name: 'ws', message: 'The browser client depends on nothing (rule 1).' }], patterns: [CLIENT_ALONE] }) },
  { files: ['src/app/**/*.ts', 'plugins/**/*.ts', 'routes/**/*.ts'], ignores: ['src/app/config.ts'], rules: restrict({ paths: [NO_DOTENV] }) },
  { files: ['plugins/realtime.ts'], rules: restrict({ paths: [NO_DOTENV], patterns: [PUBLIC_ENTRIES_ONLY] }) },
  {
    files: ['src/**/*.ts', 'plugins/**/*.ts', 'routes/**/*.ts'],
    ignores: ['src/app/config.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only src/app/config.ts reads process.env (rule 2).' }]
    }
  },
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } }
]
