#!/usr/bin/env node
// `npm run size`: how much the browser client (fastify-realtime/client) costs a page, as a
// bundler would ship it: its build bundled into one minified ES module, and that gzipped.
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const entry = fileURLToPath(new URL('../dist/src/client/index.js', import.meta.url))

/** Sizes in bytes of the client's build bundled and minified, and that gzipped. */
export async function clientSize () {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, logLevel: 'error' })
  const minified = result.outputFiles[0].contents
  return { minified: minified.length, gzipped: gzipSync(minified, { level: 9 }).length }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { minified, gzipped } = await clientSize()
  console.log(`fastify-realtime/client: ${(minified / 1024).toFixed(1)} KB minified, ${(gzipped / 1024).toFixed(1)} KB minified and gzipped`)
}
