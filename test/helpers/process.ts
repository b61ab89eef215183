/**
 * Run the compiled entry points as child processes, as a user or an operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/app/paths.js'

/** A running child process with its collected output. */
export interface RunningProcess {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Resolve with the port from the "Server listening at http://…:PORT" log line. */
  listening: () => Promise<number>
}

/** Path of a compiled file; fails loudly when the build is missing. */
export function built (relative: string): string {
  const path = join(packageRoot, 'dist', relative)
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm run build" first (npm test does)`)
  return path
}

/**
 * Start `node <args>` with a clean, explicit environment.
 * @param env - variables on top of PATH/HOME (no inherited NODE_ENV, PORT, …)
 * @param cwd - the working directory (where a `.env` is read from) @default the package root
 */
export function startNode (args: string[], env: Record<string, string>, cwd = packageRoot): RunningProcess {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const listening = async (): Promise<number> => {
    const started = Date.now()
    for (;;) {
      const match = /Server listening at http:\/\/[^\s"]*:(\d+)/.exec(output)
      if (match?.[1] !== undefined) return Number(match[1])
      if (child.exitCode !== null) throw new Error(`exited before listening:\n${output}`)
      // Only a guard against waiting forever (an exit fails at once above): a loaded 2-core machine
      // starting several nodes at once was seen to need more than 20 s.
      if (Date.now() - started > 60_000) throw new Error(`not listening after 60 s:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return { child, output: () => output, exited, listening }
}
