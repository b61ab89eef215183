/**
 * `npm test` on a machine that lacks what the tests need and cannot install it: one line naming
 * the Debian packages, exit 1, before any test runs (scripts/test-prerequisites.mjs, its pretest).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../src/app/paths.js'

const script = join(packageRoot, 'scripts', 'test-prerequisites.mjs')

t.test('nothing installable: one line naming every missing package, exit 1', async (t) => {
  // A PATH with node alone: no chromium, redis-server, nginx or apt-get on it.
  const bin = join(t.testdir(), 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  const result = spawnSync(process.execPath, [script], {
    env: { PATH: bin, CHROMIUM_PATH: join(bin, 'chromium'), TEST_PREREQUISITES_NO_INSTALL: '1' },
    encoding: 'utf8'
  })
  t.equal(result.status, 1, 'exit 1')
  t.equal(result.stdout, '', 'nothing on stdout')
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line, no stack trace')
  t.match(lines[0], /needs the Debian package\(s\) chromium redis-server nginx-light python3: install them \(sudo apt-get install chromium redis-server nginx-light python3\)/)
  t.match(lines[0], new RegExp(`Chromium is looked for at ${join(bin, 'chromium').replace(/[/.]/g, '\\$&')} \\(set CHROMIUM_PATH\\)`))
})

t.test('everything present (this machine, as npm test left it): silent, exit 0', async (t) => {
  t.doesNotThrow(() => execFileSync(process.execPath, [script], { encoding: 'utf8', stdio: 'pipe' }))
})
