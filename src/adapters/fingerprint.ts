/**
 * The fingerprint of a publication request: what an idempotency key is bound to. A key reused
 * with another fingerprint is a mistake (a new publication under an old key), refused with
 * FRT_IDEMPOTENCY_KEY_REUSED rather than answered as the first one's duplicate.
 *
 * Object keys are sorted first, so that a retry whose JSON lists the same fields in another order
 * (a client that rebuilt its body) is still the same request.
 */
import { createHash } from 'node:crypto'

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `value` as JSON with every object's keys sorted. */
function canonicalJson (value: unknown): string {
  return JSON.stringify(value ?? null, (_key, nested: unknown) => isPlainObject(nested)
    ? Object.fromEntries(Object.keys(nested).sort().map((key) => [key, nested[key]]))
    : nested)
}

/**
 * The fingerprint of publishing `data` on `channel`: a SHA-256 of both, base64url (43 characters,
 * no spaces: the Redis adapter keeps it beside the first publication's position).
 */
export function publishFingerprint (channel: string, data: unknown): string {
  return createHash('sha256').update(channel).update('\u0000').update(canonicalJson(data)).digest('base64url')
}
