// fastify-cli reads this with `--config`: it turns our validated configuration (PORT default 8005,
// HOST default localhost, from the environment and .env) into the CLI's listen options, which
// fastify-cli would otherwise default to port 3000. An invalid environment is reported by the
// app itself (dist/src/app/app.js prints the variable and exits 1), so failures here stay quiet.
// `npm run dev` runs under tsx, which can require the TypeScript source: it reads src/app/config.ts
// (never a stale or missing dist/, which left the dev server on fastify-cli's 0.0.0.0:3000).
'use strict'

function loadConfigModule () {
  // (fastify-cli's watch mode forks a child and strips its argv, but execArgv is inherited.)
  if (process.execArgv.some((arg) => arg === 'tsx' || arg.endsWith('=tsx'))) return require('./src/app/config.ts')
  return require('./dist/src/app/config.js')
}

function listenOptions () {
  try {
    const config = loadConfigModule().loadConfig()
    return { port: config.port, address: config.host }
  } catch {
    return {}
  }
}

module.exports = listenOptions()
