/**
 * Run a Lua script by its SHA1 (EVALSHA), loading it with EVAL the first time Redis does not know
 * it (after a restart, or on a fresh server). Saves sending the script body on every call.
 *
 * On a Redis Cluster the script cache is per master and is neither replicated nor kept across a
 * failover, so a promoted replica or a new master answers NOSCRIPT. A fallback to EVAL there would
 * let a later call of the same channel (EVALSHA, after another node's EVAL loaded the script)
 * overtake an earlier one, reordering concurrent publishes; so on a Cluster every call is an EVAL
 * ({@link evalScript}): one round trip, one order, whatever the master knows. (Measured: see
 * docs/operations.md, "Redis Cluster".)
 */
import { createHash } from 'node:crypto'
import type { RedisConnection } from './connection.js'

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
export async function runScript (redis: RedisConnection, script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return await redis.eval(script.lua, keys.length, ...keys, ...args)
  }
}

/** Run `script` by its body (EVAL), never by its SHA1: a Cluster's way (see the module comment). */
export async function evalScript (redis: RedisConnection, script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
  return await redis.eval(script.lua, keys.length, ...keys, ...args)
}
