/**
 * Real-browser helpers: Debian's Chromium driven by playwright-core (never a downloaded browser),
 * and screenshots saved under test-artifacts/ (git-ignored) for a human to look at.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import type { TestLike } from './app.js'

/**
 * Where the browser binary is: the Debian package's path unless CHROMIUM_PATH says otherwise
 * (`npm test` installs the package first when it is missing and it can; see scripts/test-prerequisites.mjs).
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Where screenshots go. */
export const ARTIFACTS_DIR = join(process.cwd(), 'test-artifacts')

/**
 * Launch headless Chromium, closed on teardown. Fails loudly (never skips) when it is missing,
 * so CI cannot pass without having run the browser tests.
 */
export async function launchBrowser (t: TestLike, extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install the Debian package (apt-get install chromium; npm test does it when it runs as root) or set CHROMIUM_PATH — browser tests never skip`)
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs]
  })
  t.teardown(() => browser.close())
  return browser
}

/** Path of a screenshot file in the artifacts folder (created on first use). */
export function artifact (name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true })
  return join(ARTIFACTS_DIR, name)
}
