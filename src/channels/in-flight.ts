/**
 * Background adapter calls (an unsubscribe or a presence removal started by a closing
 * connection) that nobody awaits, kept so that shutdown can let them finish before the adapter
 * closes: closed first, the adapter would refuse them ("used after close()").
 */
export class InFlight {
  readonly #pending = new Set<Promise<unknown>>()

  /** Keep `promise` until it settles; returns it unchanged. */
  track<T> (promise: Promise<T>): Promise<T> {
    this.#pending.add(promise)
    const forget = (): void => { this.#pending.delete(promise) }
    promise.then(forget, forget)
    return promise
  }

  /** Settles once every tracked call has (those tracked meanwhile too); never rejects. */
  async settled (): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }
}
