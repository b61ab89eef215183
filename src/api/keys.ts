/**
 * API keys: which key a request presents, found in constant time, and what it may do. Every
 * configured key is compared (never stopping at the first match) through fixed-length digests,
 * so the time a refusal takes says nothing about how close a guess was.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { ApiScope, ResolvedApiOptions } from './options.js'

/** A configured key, as the API checks it. */
export type ApiKeyEntry = ResolvedApiOptions['keys'][number]

const digest = (key: string): Buffer => createHash('sha256').update(key).digest()

/** The keys of an API, ready to be checked. */
export class ApiKeys {
  readonly #entries: ReadonlyArray<{ digest: Buffer, entry: ApiKeyEntry }>

  constructor (keys: readonly ApiKeyEntry[]) {
    this.#entries = keys.map((entry) => ({ digest: digest(entry.key), entry }))
  }

  /**
   * The key an `Authorization: Bearer <key>` header presents.
   * @returns its entry, or null when the header is missing, malformed or names no key
   */
  find (authorization: string | undefined): ApiKeyEntry | null {
    const presented = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1]
    if (presented === undefined) return null
    const candidate = digest(presented)
    let found: ApiKeyEntry | null = null
    for (const { digest: known, entry } of this.#entries) {
      if (timingSafeEqual(candidate, known)) found = entry
    }
    return found
  }
}

/** Whether a key may do what a route needs. */
export function allows (entry: ApiKeyEntry, scope: Exclude<ApiScope, '*'>): boolean {
  return entry.scopes.includes('*') || entry.scopes.includes(scope)
}
