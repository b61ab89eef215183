/**
 * Run a Lua script by its SHA1 (EVALSHA), loading it with EVAL the first time Redis does not know
 * it (after a restart, or on a fresh server). Saves sending the script body on every call.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/** A Lua script and its SHA1. */
export interface LuaScript {
  readonly lua: string
  readonly sha: string
}

/** Prepare a script for {@link runScript}. */
export function luaScript (lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Run `script` with `keys` and `args` on `redis`.
 * @returns whatever the script returns, as ioredis decodes it
 */
export async function runScript (redis: Redis, script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return await redis.eval(script.lua, keys.length, ...keys, ...args)
  }
}
