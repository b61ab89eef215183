#!/usr/bin/env node
// What the tests need from the machine besides npm packages, checked before `npm test` (and by
// .ci/run): Chromium for the browser tests, redis-server for the Redis tests (each starts its
// own on a free port), nginx for the proxy tests and python3 for the HTTP API client that knows
// only the OpenAPI document. Missing ones are installed from Debian's
// packages when this runs as root with apt-get, as CI does; otherwise it stops at once with one
// line that names the packages, rather than letting the tests fail one by one.
// Set CHROMIUM_PATH to use a Chromium elsewhere than /usr/bin/chromium.
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, isAbsolute, join } from 'node:path'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Each need: a command (or absolute path) and the Debian package that provides it. */
const NEEDS = [
  { command: CHROMIUM, pkg: 'chromium' },
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'nginx', pkg: 'nginx-light' },
  { command: 'python3', pkg: 'python3' }
]

function executable (path) {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Whether `command` runs here: an absolute path that exists, or a name found on PATH. */
function present (command) {
  if (isAbsolute(command)) return executable(command)
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)))
}

const missing = () => NEEDS.filter((need) => !present(need.command))

const canInstall = () => process.getuid?.() === 0 && present('apt-get') && process.env.TEST_PREREQUISITES_NO_INSTALL === undefined

let lacking = missing()
if (lacking.length > 0 && canInstall()) {
  const packages = lacking.map((need) => need.pkg)
  console.log(`installing Debian packages the tests need: ${packages.join(' ')}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0
  if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', '--no-install-recommends', ...packages])) {
    console.error(`npm test: apt-get could not install ${packages.join(' ')}`)
    process.exit(1)
  }
  lacking = missing()
}
if (lacking.length > 0) {
  const packages = lacking.map((need) => need.pkg).join(' ')
  console.error(`npm test needs the Debian package(s) ${packages}: install them (sudo apt-get install ${packages}), or run npm test as root to have them installed${lacking.some((need) => need.pkg === 'chromium') ? `; Chromium is looked for at ${CHROMIUM} (set CHROMIUM_PATH)` : ''}`)
  process.exit(1)
}
