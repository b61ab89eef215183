/**
 * A tiny typed event emitter: the client's one way of telling the application what happened.
 * Not Node's EventEmitter (the client runs in browsers with no dependencies) and not the DOM's
 * EventTarget (it would tie the types to the DOM library and wrap every payload in an Event).
 */

/** A function that removes the listener it was returned for. */
export type Unsubscribe = () => void

/** Emits events of the map `E` (event name → payload type). */
export class Emitter<E extends object> {
  readonly #listeners = new Map<keyof E, Set<(payload: never) => void>>()

  /**
   * Listen to an event.
   * @returns a function that removes the listener
   */
  on<K extends keyof E> (type: K, listener: (payload: E[K]) => void): Unsubscribe {
    let listeners = this.#listeners.get(type)
    if (listeners === undefined) {
      listeners = new Set()
      this.#listeners.set(type, listeners)
    }
    const set = listeners
    set.add(listener)
    return () => { set.delete(listener) }
  }

  /** Listen to the next event of a type only. @returns a function that removes the listener */
  once<K extends keyof E> (type: K, listener: (payload: E[K]) => void): Unsubscribe {
    const off = this.on(type, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  /** Call every listener of `type` with `payload`. */
  protected emit<K extends keyof E> (type: K, payload: E[K]): void {
    const listeners = this.#listeners.get(type)
    if (listeners === undefined) return
    for (const listener of [...listeners]) {
      try {
        (listener as (payload: E[K]) => void)(payload)
      } catch (err) {
        // One broken listener must not stop the stream for the others; rethrown where it is seen.
        setTimeout(() => { throw err })
      }
    }
  }
}
