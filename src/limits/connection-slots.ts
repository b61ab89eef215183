/**
 * Connection slots per client IP and in total, for the upgrade gate's concurrency caps.
 *
 * A slot is taken when an upgrade passes the gate (before the 101, so a burst of simultaneous
 * handshakes cannot overshoot the cap) and released exactly once, when the socket closes,
 * whatever happened in between (handshake aborted, socket closed cleanly or terminated); the
 * gate (upgrade-gate.ts) makes sure of the "exactly once".
 */
import { UpgradeRefusal } from '../errors.js'

/** Why a slot was refused. */
export type SlotRefusal = typeof UpgradeRefusal.PER_IP_LIMIT | typeof UpgradeRefusal.GLOBAL_LIMIT

/** Limits of {@link ConnectionSlots}. */
export interface SlotLimits {
  /** Concurrent connections allowed from one IP. */
  maxPerIp: number
  /** Concurrent connections allowed in total on this node. */
  maxTotal: number
}

/** Counts held slots per IP and in total. */
export class ConnectionSlots {
  readonly #perIp = new Map<string, number>()
  readonly #limits: SlotLimits
  #total = 0

  constructor (limits: SlotLimits) {
    this.#limits = limits
  }

  /** Slots held in total. */
  get total (): number {
    return this.#total
  }

  /** IPs holding at least one slot (the map's size: 0 when every socket is gone). */
  get ips (): number {
    return this.#perIp.size
  }

  /** Slots held by one IP. */
  heldBy (ip: string): number {
    return this.#perIp.get(ip) ?? 0
  }

  /**
   * Take a slot for `ip`. The caller must {@link release} it exactly once.
   * @returns null when taken, else why it was refused
   */
  acquire (ip: string): SlotRefusal | null {
    const held = this.#perIp.get(ip) ?? 0
    if (held >= this.#limits.maxPerIp) return UpgradeRefusal.PER_IP_LIMIT
    if (this.#total >= this.#limits.maxTotal) return UpgradeRefusal.GLOBAL_LIMIT
    this.#perIp.set(ip, held + 1)
    this.#total++
    return null
  }

  /** Give back a slot taken for `ip`; nothing happens for an IP that holds none. */
  release (ip: string): void {
    const held = this.#perIp.get(ip)
    if (held === undefined) return
    this.#total--
    // Delete at zero so the map never keeps an entry for an IP that has gone.
    if (held <= 1) this.#perIp.delete(ip)
    else this.#perIp.set(ip, held - 1)
  }
}
