/**
 * `npm run test:ts-next`: the README and docs examples compiled, as printed, in a new app outside
 * the repository with the newest TypeScript release (`typescript@latest`, asked of the registry)
 * and the packed tarball, as a user who installs today gets them.
 *
 * Not part of `npm test`: test/consumer/examples.test.ts compiles the same examples with the
 * TypeScript this project builds with. The newest release moves without any change here and needs
 * the registry, so CI runs this as a step of its own after the tests and reports it without
 * failing the build (.ci/run). The last line is the verdict. Exit status: 0 every example
 * compiles, 1 some do not, 2 it could not be set up (pack, or the install from the registry).
 */
import { packageRoot } from '../../src/app/paths.js'
import type { TestLike } from '../helpers/app.js'
import { compileExamples, consumerApp, EXAMPLE_CONFIGS, examplePackages, installedVersion, packFromCleanCopy, writeExamples } from '../helpers/consumer.js'
import { docExamples } from '../helpers/doc-examples.js'

const cleanups: Array<() => unknown> = []
const scope: TestLike = { teardown: (fn) => { cleanups.push(fn) } }

/** Set up, compile, print what happened. @returns the exit status */
function check (): number {
  const examples = docExamples(packageRoot)
  let dir: string
  try {
    const packed = packFromCleanCopy(scope)
    dir = consumerApp(scope, packed.tarball, ['fastify@5', 'typescript@latest', '@types/node@20', ...examplePackages(examples)], false)
  } catch (err) {
    console.log(`${(err as { stderr?: string }).stderr ?? ''}${(err as Error).message}`)
    console.log('ts-next: could not set up the consumer app (pack, or the install of typescript@latest from the registry)')
    return 2
  }
  const version = installedVersion(dir, 'typescript')
  writeExamples(dir, examples)
  let failed = 0
  for (const config of EXAMPLE_CONFIGS) {
    const errors = compileExamples(dir, config)
    if (errors !== '') failed++
    console.log(errors === '' ? `ok: ${config}` : `FAILED: ${config}\n${errors}`)
  }
  console.log(failed === 0
    ? `ts-next: all ${examples.length} examples compile as printed with TypeScript ${version}`
    : `ts-next: FAILED: ${failed} of ${EXAMPLE_CONFIGS.length} compilations of the examples fail with TypeScript ${version} (see above)`)
  return failed === 0 ? 0 : 1
}

try {
  process.exitCode = check()
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup()
}
