// fastify-cli reads this with `--config`: it turns our validated configuration (PORT default 8005,
// HOST default localhost, from the environment and .env) into the CLI's listen options, which
// fastify-cli would otherwise default to port 3000. An invalid environment is reported by the
// app itself (dist/src/app.js prints the variable and exits 1), so failures here stay quiet.
'use strict'

function listenOptions () {
  try {
    const { loadConfig } = require('./dist/src/config.js')
    const config = loadConfig()
    return { port: config.port, address: config.host }
  } catch {
    return {}
  }
}

module.exports = listenOptions()
