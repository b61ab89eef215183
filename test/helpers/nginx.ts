/**
 * The documented nginx configuration (docs/deploy/nginx.conf), run for real: only its ports and
 * the settings a test process needs are changed, and, on request, every WebSocket upgrade is
 * refused (as a corporate proxy that blocks WebSockets does).
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/app/paths.js'
import type { TestLike } from './app.js'
import { freePort } from './redis-server.js'
import { sleep } from './ws-client.js'

/** What {@link startNginx} runs. */
export interface NginxOptions {
  /** Ports of the nodes behind it. */
  upstream: number[]
  /** Refuse every WebSocket upgrade with 403. */
  refuseUpgrades?: boolean
  /** A folder of the test's own (t.testdir()). */
  dir: string
}

/** A running nginx. */
export interface RunningNginx {
  port: number
  /** `127.0.0.1:<port>` */
  base: string
  /** The configuration it runs. */
  config: string
}

/** The documented configuration with the test's ports (and the upgrade refusal, if asked). */
export function nginxConfig (listenPort: number, options: Omit<NginxOptions, 'dir'>): string {
  const documented = readFileSync(join(packageRoot, 'docs', 'deploy', 'nginx.conf'), 'utf8')
  // The documented servers' parameters (passive health checks) are kept as they are.
  const parameters = / {4}server 127\.0\.0\.1:\d+ ([^;\n]*);\n/.exec(documented)?.[1] ?? ''
  const upstream = options.upstream.map((port) => `    server 127.0.0.1:${port} ${parameters};`).join('\n')
  let config = documented
    .replace(/( {4}server 127\.0\.0\.1:\d+ [^;\n]*;\n)+/, `${upstream}\n`)
    .replace(/listen 8080;/, `listen 127.0.0.1:${listenPort};`)
    .replace(/worker_connections \d+;/, 'worker_connections 1024;')
    .replace('http {', 'http {\n  access_log off;')
  if (options.refuseUpgrades === true) {
    config = config.replace(/(\n {4}location \/ \{\n)/, '$1      if ($http_upgrade != "") { return 403; }\n')
    if (!config.includes('return 403;')) throw new Error('the upgrade refusal was not inserted')
  }
  return config
}

/** Start nginx with {@link nginxConfig}; stopped on teardown. */
export async function startNginx (t: TestLike, options: NginxOptions): Promise<RunningNginx> {
  const port = await freePort()
  const config = nginxConfig(port, options)
  writeFileSync(join(options.dir, 'nginx.conf'), config)
  const nginx = spawn('nginx', ['-p', options.dir, '-c', join(options.dir, 'nginx.conf'), '-g', `daemon off; pid ${join(options.dir, 'nginx.pid')}; error_log ${join(options.dir, 'error.log')};`], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => nginx.once('exit', () => resolve()))
  const failed = new Promise<never>((_resolve, reject) => nginx.once('error', (err) => { reject(new Error(`nginx could not be run (apt-get install nginx-light): ${err.message}`)) }))
  failed.catch(() => {})
  t.teardown(async () => { nginx.kill('SIGTERM'); await exited })
  const base = `127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const up = await Promise.race([fetch(`http://${base}/health`).then((response) => response.ok, () => false), failed])
    if (up) break
    if (i > 100) throw new Error('nginx did not come up')
    await sleep(50)
  }
  return { port, base, config }
}

/** Wait until a node, asked on its own port, answers `/ready` with 200. */
export async function nodeReady (port: number): Promise<void> {
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/ready`).then((response) => response.status, () => 0)
    if (status === 200) return
    await sleep(50)
  }
}
