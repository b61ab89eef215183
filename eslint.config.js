// Lint: neostandard (the style Fastify uses), with TypeScript, plus the import rules of
// ARCHITECTURE.md §3 enforced by no-restricted-imports. ESLint keeps only the last matching
// setting of a rule per file, so each block below states the complete restriction for its files.
import globals from 'globals'
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

const APP_FOLDERS = ['plugins', 'routes', 'views', 'test', 'bench'].flatMap((folder) => [`../${folder}/*`, `../../${folder}/*`])
const NOT_APP = { group: APP_FOLDERS, message: 'src/ is the library: it never imports the demo app or the tests (rule 1).' }
const NO_FASTIFY_PLUGIN = { name: 'fastify-plugin', message: 'Only src/plugin.ts wires into Fastify (rule 3).' }
const NO_WEBSOCKET = { name: '@fastify/websocket', message: 'Only src/plugin.ts wires into Fastify (rule 3).' }
const NO_IOREDIS = { name: 'ioredis', message: 'ioredis belongs in src/adapters/redis.ts only (rule 4).' }
const NO_DOTENV = { name: 'dotenv', message: 'Only src/config.ts loads .env (rule 2).' }
const NO_CONCRETE_ADAPTER = { group: ['./adapters/*', '!./adapters/adapter.js'], message: 'The hub talks to adapters through the contract only (rule 4).' }
const BARREL_ONLY = { group: ['../src/*', '!../src/index.js', '!../src/redis-entry.js', '!../src/metrics-prometheus.js'], message: 'Register fastify-realtime through its public entries (../src/index.js, and the redis-entry / metrics-prometheus subpaths), as an outside app would (rule 5).' }

const restrict = (paths, patterns = []) => ({ 'no-restricted-imports': ['error', { paths, patterns }] })

/** @type {import('eslint').Linter.Config[]} */
export default [
  ...neostandard({ ts: true, ignores: [...resolveIgnoresFromGitignore(), 'bench/results/**'] }),
  {
    files: ['src/**/*.ts'],
    rules: restrict([NO_FASTIFY_PLUGIN, NO_WEBSOCKET, NO_IOREDIS, NO_DOTENV], [NOT_APP])
  },
  { files: ['src/plugin.ts'], rules: restrict([NO_IOREDIS, NO_DOTENV], [NOT_APP]) },
  { files: ['src/config.ts'], rules: restrict([NO_FASTIFY_PLUGIN, NO_WEBSOCKET, NO_IOREDIS], [NOT_APP]) },
  { files: ['src/adapters/redis.ts', 'src/adapters/redis/**/*.ts'], rules: restrict([NO_FASTIFY_PLUGIN, NO_WEBSOCKET, NO_DOTENV], [NOT_APP]) },
  { files: ['src/hub.ts'], rules: restrict([NO_FASTIFY_PLUGIN, NO_WEBSOCKET, NO_IOREDIS, NO_DOTENV], [NOT_APP, NO_CONCRETE_ADAPTER]) },
  { files: ['plugins/**/*.ts', 'routes/**/*.ts'], rules: restrict([NO_DOTENV]) },
  { files: ['plugins/realtime.ts'], rules: restrict([NO_DOTENV], [BARREL_ONLY]) },
  {
    files: ['src/**/*.ts', 'plugins/**/*.ts', 'routes/**/*.ts'],
    ignores: ['src/config.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only src/config.ts reads process.env (rule 2).' }]
    }
  },
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } }
]
