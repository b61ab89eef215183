/**
 * The package as a new user gets it: `npm pack`, install the tarball into an empty project,
 * `import realtime from 'fastify-realtime'`, type-check against its declarations, and run it.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'
import { built } from '../helpers/process.js'

const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 })

t.test('npm pack → npm install → import, type-check and run in another app', { timeout: 240_000 }, async (t) => {
  built('src/index.js')
  const dir = t.testdir({
    'package.json': JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [] }, include: ['check.ts'] }),
    'check.ts': [
      "import Fastify from 'fastify'",
      "import realtime, { type RealtimePluginOptions, CloseCode } from 'fastify-realtime'",
      'const options: RealtimePluginOptions = { tickIntervalMs: 1000, tick: ({ connections }) => ({ connections }) }',
      'const app = Fastify()',
      'await app.register(realtime, options)',
      'const count: number = app.realtime.connections',
      'const sent: number = app.realtime.broadcast({ hello: 1 })',
      'const code: 1001 = CloseCode.GOING_AWAY',
      'export { count, sent, code }'
    ].join('\n'),
    'run.mjs': [
      "import Fastify from 'fastify'",
      "import WebSocket from 'ws'",
      "import realtime from 'fastify-realtime'",
      'const app = Fastify()',
      "await app.register(realtime, { prefix: '/rt', tickIntervalMs: 50, tick: () => 'from the package' })",
      "await app.listen({ port: 0, host: '127.0.0.1' })",
      "const ws = new WebSocket('ws://127.0.0.1:' + app.server.address().port + '/rt/ws')",
      "const tick = await new Promise((resolve) => ws.on('message', (d) => { const m = JSON.parse(d); if (m.type === 'tick') resolve(m) }))",
      'console.log(JSON.stringify({ data: tick.data, connections: app.realtime.connections }))',
      'ws.close(); await app.close()'
    ].join('\n')
  })
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], packageRoot)) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed[0]?.files.map((file) => file.path) ?? []
  t.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'), 'entry and types are packed')
  t.notOk(files.some((file) => file.startsWith('test/') || file.startsWith('src/')), 'no tests or TypeScript sources')
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))
  t.ok(tarball, 'a tarball was made')
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball ?? ''), 'fastify@5', 'ws@8'], dir)
  writeFileSync(join(dir, '.npmrc'), '')
  const tsc = join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  t.doesNotThrow(() => execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8' }), 'the declarations type-check a consumer')
  const output = execFileSync(process.execPath, ['run.mjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
  t.same(JSON.parse(output), { data: 'from the package', connections: 1 })
})
