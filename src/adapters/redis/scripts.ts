/**
 * The Lua scripts of the Redis adapter. Each runs atomically inside Redis, which is what makes
 * offsets unique, history and fan-out consistent, and presence joins/leaves exactly-once across
 * nodes. Keys are passed in KEYS (never built in Lua) so the scripts stay cluster-friendly.
 */

/**
 * Publish. KEYS: meta (hash: offset, epoch, ttl), hist (stream), idem (the idempotency key's
 * string; never touched without a key). ARGV: newEpoch, dataJson, t, historySize, historyTtlMs,
 * metaTtlMs, pubsubChannel, nodeId, idempotencyTtlMs ('' without a key), fingerprint (of the
 * request the key is bound to; no spaces).
 * Returns { offset, epoch, t, duplicate }. With a key already remembered, it publishes nothing:
 * for the same fingerprint it returns the first publication's offset, epoch and time (duplicate
 * 1); for another, duplicate 2 (the key was reused for a different publication). The check and
 * the record are in the same atomic step as the offset, so concurrent retries on several nodes
 * publish once. A key remembered without a fingerprint (by an older version) matches any.
 * Fans out `p\n<node>\n<offset>\n<epoch>\n<t>\n<data>` with PUBLISH, inside the same step, so
 * every node receives publications in offset order. The meta's `last` (`<offset> <t>`) names the
 * newest publication, so a node can tell it is the one it delivered even without history (a fork
 * after a failover reuses offsets); a node of an older version does not write it, and a `last`
 * whose offset is not the meta's is ignored.
 */
export const PUBLISH_LUA = `
if ARGV[9] ~= '' then
  local first = redis.call('GET', KEYS[3])
  if first then
    local o, e, t, f = string.match(first, '^(%d+) (%S+) (%d+) ?(%S*)$')
    if f ~= '' and f ~= ARGV[10] then return { 0, '', '0', 2 } end
    return { tonumber(o), e, t, 1 }
  end
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('HSET', KEYS[1], 'ttl', ARGV[5], 'last', offset .. ' ' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
local size = tonumber(ARGV[4])
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-1', 'd', ARGV[2], 't', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
else
  redis.call('DEL', KEYS[2])
end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[3], offset .. ' ' .. epoch .. ' ' .. ARGV[3] .. ' ' .. ARGV[10], 'PX', ARGV[9])
end
redis.call('PUBLISH', ARGV[7], 'p\\n' .. ARGV[8] .. '\\n' .. offset .. '\\n' .. epoch .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[2])
return { offset, epoch, ARGV[3], 0 }
`

/**
 * Read a stream. KEYS: meta, hist. ARGV: newEpoch, fromOffset (exclusive; -1 for the newest
 * entries), count (for the newest; 0 none), metaTtlMs.
 * Returns { offset, epoch, ttl, entries, last } with entries as XRANGE gives them (oldest first)
 * and last the meta's `<offset> <t>` ('' when absent), all from one atomic snapshot. A missing
 * stream gets its epoch now, so it stays stable across reads.
 */
export const READ_LUA = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('DEL', KEYS[2])
end
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local ttl = redis.call('HGET', KEYS[1], 'ttl') or '0'
local from = tonumber(ARGV[2])
local entries
if from >= 0 then
  entries = redis.call('XRANGE', KEYS[2], '(' .. from .. '-1', '+')
else
  local count = tonumber(ARGV[3])
  if count > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count)
  else
    entries = {}
  end
end
return { offset, epoch, ttl, entries, redis.call('HGET', KEYS[1], 'last') or '' }
`

/**
 * Move a forked stream to a new epoch. KEYS: meta, hist. ARGV: forkedEpoch, newEpoch, metaTtlMs.
 * Only while the stream is still in `forkedEpoch` (compare and set: of several nodes that find
 * the same fork, one moves it and the others find it moved): the new epoch starts at offset 0
 * with no history, as a stream whose history was lost does, so every node and client sees the
 * epoch change and no publication is dropped as a duplicate of a lost one with the same offset.
 * Returns the epoch the stream is in afterwards.
 */
export const NEW_EPOCH_LUA = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch == ARGV[1] or not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('HDEL', KEYS[1], 'last')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('DEL', KEYS[2])
end
return epoch
`

/**
 * The soonest expiry among a channel's presence entries (KEYS[2]) and node occupancy (KEYS[5]),
 * or -1 when it has neither: when a sweep should next look at the channel.
 */
const NEXT_EXPIRY = `
local function nextExpiry ()
  local soonest = -1
  for _, key in ipairs({ KEYS[2], KEYS[5] }) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] and (soonest == -1 or tonumber(first[2]) < soonest) then soonest = tonumber(first[2]) end
  end
  return soonest
end
`

/**
 * Add or refresh a presence entry. KEYS: clients (hash clientId → visitorId), expiries (zset
 * clientId → expireAt ms), counts (hash visitorId → connections), names (hash visitorId → name),
 * occupancy (zset nodeId → expireAt; read only, for the next expiry).
 * ARGV: clientId, visitorId, name ('' = none), hasName ('1'/'0'), expireAt, keyTtlMs, pubsubChannel.
 * Announces `r\n{"a":"join","id":…,"n":…}` when the visitor's first connection arrives or their
 * name changes. Returns { change, nextExpiry }: change 1 when the visitor joined (their first
 * connection), 2 when only their name changed, 0 otherwise. Atomic, so the join is found by exactly
 * one caller on one node.
 */
export const PRESENCE_ADD_LUA = NEXT_EXPIRY + `
local known = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
local joined = false
if not known then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  local count = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  if count == 1 then joined = true end
end
local renamed = false
local storedName = redis.call('HGET', KEYS[4], ARGV[2])
local newName = false
if ARGV[4] == '1' then newName = ARGV[3] end
if (storedName or false) ~= newName then
  if newName then redis.call('HSET', KEYS[4], ARGV[2], newName) else redis.call('HDEL', KEYS[4], ARGV[2]) end
  if not joined then renamed = true end
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
if joined or renamed then
  local event = { a = 'join', id = ARGV[2] }
  if newName then event.n = newName end
  redis.call('PUBLISH', ARGV[7], 'r\\n' .. cjson.encode(event))
end
local change = 0
if joined then change = 1 elseif renamed then change = 2 end
return { change, nextExpiry() }
`

/**
 * Remove presence entries: the given client ids, or (when ARGV[2] is not '') every entry whose
 * expiry is at or before ARGV[2], and then also the expired occupancy of dead nodes. KEYS as for
 * PRESENCE_ADD_LUA. ARGV: pubsubChannel, expiredBefore, clientIds… Announces
 * `r\n{"a":"leave","id":…}` when a visitor's last connection goes. Returns { leftVisitorIds,
 * vacated, nextExpiry }: vacated 1 when expired occupancy was the channel's last. Atomic, so when
 * several nodes sweep the same channel, each leave (and the vacancy) is found by one of them.
 */
export const PRESENCE_REMOVE_LUA = NEXT_EXPIRY + `
local ids
if ARGV[2] ~= '' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
else
  ids = {}
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local left = {}
for _, id in ipairs(ids) do
  local visitor = redis.call('HGET', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if visitor then
    redis.call('HDEL', KEYS[1], id)
    local count = redis.call('HINCRBY', KEYS[3], visitor, -1)
    if count <= 0 then
      redis.call('HDEL', KEYS[3], visitor)
      redis.call('HDEL', KEYS[4], visitor)
      redis.call('PUBLISH', ARGV[1], 'r\\n' .. cjson.encode({ a = 'leave', id = visitor }))
      left[#left + 1] = visitor
    end
  end
end
local vacated = 0
if ARGV[2] ~= '' then
  local gone = redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[2])
  if gone > 0 and redis.call('ZCARD', KEYS[5]) == 0 then vacated = 1 end
end
return { left, vacated, nextExpiry() }
`

/**
 * Note that a node has subscribers in a channel (or refresh it). KEYS as for PRESENCE_ADD_LUA
 * (only the occupancy zset, KEYS[5], and the expiries, KEYS[2], are used). ARGV: nodeId, expireAt,
 * now, keyTtlMs. Dead nodes' expired entries are dropped first: a channel a dead node still holds
 * counts as occupied, so a newcomer then is no transition. Returns { occupied, nextExpiry }:
 * occupied 1 when this made the channel occupied. Atomic: one node finds each transition.
 */
export const OCCUPY_LUA = NEXT_EXPIRY + `
local before = redis.call('ZCARD', KEYS[5])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[5], ARGV[4])
local occupied = 0
if before == 0 then occupied = 1 end
return { occupied, nextExpiry() }
`

/**
 * A node's last subscriber of a channel left. KEYS as for PRESENCE_ADD_LUA. ARGV: nodeId.
 * Returns { vacated, nextExpiry }: vacated 1 when no node holds the channel any more.
 */
export const VACATE_LUA = NEXT_EXPIRY + `
local removed = redis.call('ZREM', KEYS[5], ARGV[1])
local vacated = 0
if removed == 1 and redis.call('ZCARD', KEYS[5]) == 0 then vacated = 1 end
return { vacated, nextExpiry() }
`
