/**
 * Our close codes as Pusher's. pusher-js reads the code to decide what to do next: 4001–4099 it
 * never reconnects, 4100–4199 it reconnects after a second, 4200–4299 at once (and below 4000,
 * after a second, except 1002–1004). So a drain, a restart or an error of ours must use codes it
 * retries, and what ours says "do not reconnect" must say so in Pusher's range.
 */
import { CloseCode } from '../../errors.js'
import { PusherCode } from './frames.js'

/**
 * The Pusher close code for one of ours:
 * - 1001 (drain, restart) and 1011 (an error of ours) → 4200: reconnect at once (the admission pacing absorbs the wave);
 * - 4008 (slow consumer), 1013 (try again later) and the application's 4300–4399 → 4100: reconnect after a second;
 * - 1008 (policy, rate abuse), 1009 (frame too big), 4400–4403 (no or bad identity), and the
 *   application's 4500–4999 (ours: do not reconnect) → 4009: stop;
 * - 1000 and the application's 4000–4299 (Pusher's own meanings) as they are.
 */
export function pusherCloseCode (code: number): number {
  switch (code) {
    case CloseCode.GOING_AWAY:
    case CloseCode.INTERNAL_ERROR:
      return PusherCode.RECONNECT_NOW
    case CloseCode.SLOW_CONSUMER:
    case CloseCode.TRY_AGAIN_LATER:
      return PusherCode.RECONNECT_LATER
    case CloseCode.POLICY_VIOLATION:
    case CloseCode.MESSAGE_TOO_BIG:
      return PusherCode.UNAUTHORIZED
    default:
      if (code >= 4300 && code < 4400) return PusherCode.RECONNECT_LATER
      if (code >= 4400) return PusherCode.UNAUTHORIZED
      return code
  }
}
