/**
 * Readiness: whether this node should be sent new clients. A load balancer polls it (the demo
 * app's `GET /ready`) and steers around a node that is draining, has lost its adapter (e.g.
 * Redis) or is at its connection limit.
 *
 * It is a set of named probes, pulled when asked, so nothing has to remember to push a state
 * change: the node registers `draining`, an adapter registers `adapter` (reading its own
 * connection state), the upgrade gate registers `connections`, and an application may add its own
 * (a database, a feature flag). Probes must be cheap and synchronous: a balancer polls often.
 */

/** The answer of one probe. */
export interface ReadinessCheckResult {
  /** Whether this check lets the node take new clients. */
  ok: boolean
  /** Short human-readable state, e.g. `"draining"`, `"redis: reconnecting"`, `"1000/1000"`. */
  detail?: string
}

/** Answers one readiness question; called on every readiness poll. */
export type ReadinessProbe = () => ReadinessCheckResult

/** Every probe's answer, and their conjunction. */
export interface ReadinessReport {
  /** True when every check is ok. */
  ready: boolean
  /** Each check's answer, by name. */
  checks: Record<string, ReadinessCheckResult>
}

/** Names a probe may have: short, log- and URL-friendly. */
const NAME = /^[a-z][a-z0-9_-]{0,62}$/

/** The probes of one node. */
export class Readiness {
  readonly #probes = new Map<string, ReadinessProbe>()

  /**
   * Add a named probe.
   * @param name - lower-case identifier (`adapter`, `connections`, …), unique on this node
   * @param probe - returns the current answer; a probe that throws counts as not ready
   * @returns a function that removes the probe again
   * @throws TypeError on a malformed or duplicate name
   */
  add (name: string, probe: ReadinessProbe): () => void {
    if (!NAME.test(name)) throw new TypeError(`readiness check name "${name}" must match ${NAME}`)
    if (this.#probes.has(name)) throw new TypeError(`readiness check "${name}" is already registered`)
    if (typeof probe !== 'function') throw new TypeError(`readiness check "${name}" must be a function`)
    this.#probes.set(name, probe)
    return () => {
      if (this.#probes.get(name) === probe) this.#probes.delete(name)
    }
  }

  /** Names of the registered probes, in registration order. */
  get names (): string[] {
    return [...this.#probes.keys()]
  }

  /** Ask every probe now. */
  report (): ReadinessReport {
    const checks: Record<string, ReadinessCheckResult> = {}
    let ready = true
    for (const [name, probe] of this.#probes) {
      const result = runProbe(probe)
      checks[name] = result
      if (!result.ok) ready = false
    }
    return { ready, checks }
  }
}

function runProbe (probe: ReadinessProbe): ReadinessCheckResult {
  try {
    const result = probe()
    // A probe returning something malformed must not read as ready.
    if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean') {
      return { ok: false, detail: 'probe returned no { ok } result' }
    }
    return result.detail === undefined ? { ok: result.ok } : { ok: result.ok, detail: String(result.detail) }
  } catch (err) {
    return { ok: false, detail: `probe threw: ${(err as Error).message}` }
  }
}

/**
 * A readiness check of a part that may lose its connection (an adapter's Redis): ready unless it
 * says `connected: false`; the detail names it, and says so when disconnected.
 */
export function connectedCheck (part: { readonly name: string, readonly connected?: boolean }): ReadinessProbe {
  return () => ({ ok: part.connected !== false, detail: `${part.name}${part.connected === false ? ' disconnected' : ''}` })
}
