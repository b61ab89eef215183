/**
 * The time the cluster's parts run on (beats, request deadlines): real timers by default, a fake
 * clock in tests (test/helpers/fake-wheel-clock.ts has this shape).
 */

/** What a timer handle offers, as far as the cluster cares. */
export interface ClusterTimer {
  unref?: () => unknown
}

/** See the module comment. */
export interface ClusterClock {
  now: () => number
  setTimeout: (callback: () => void, delayMs: number) => ClusterTimer
  clearTimeout: (timer: ClusterTimer) => void
}

/** The process's own clock. */
export const realClock: ClusterClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => { clearTimeout(timer as ReturnType<typeof setTimeout>) }
}
