/**
 * The Redis Cluster hash slot of a key or shard channel (CRC16/XMODEM of the hash tag, mod 16384),
 * as Redis computes it: the adapter groups its sharded subscriptions by the master that owns them.
 */

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384

const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  TABLE[i] = crc
}

/** The part of `key` Redis hashes: the first non-empty `{…}`, or the whole key. */
function hashedPart (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}

/** The slot (0–16383) of `key`; UTF-8 bytes, as Redis sees them. */
export function keySlot (key: string): number {
  let crc = 0
  for (const byte of Buffer.from(hashedPart(key), 'utf8')) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0)
  return crc % CLUSTER_SLOTS
}
