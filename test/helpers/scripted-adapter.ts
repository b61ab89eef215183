/**
 * A scripted adapter for unit tests: the real memory adapter underneath, but any of its calls can
 * be held at a gate the test opens when it chooses, so a test can make things happen while a
 * subscribe waits for the adapter (an unsub, a publication, a presence change). It also lets the
 * test hand the node publications of its own making (another epoch, say).
 */
import type { AdapterHandler, GapCause, Publication, RealtimeAdapter, StreamPosition } from '../../src/adapters/adapter.js'
import { MemoryAdapter } from '../../src/adapters/memory.js'

/** The calls of the adapter contract that can be held. */
export type GatedCall = 'subscribe' | 'unsubscribe' | 'since' | 'recent' | 'presenceAdd' | 'presenceRemove' | 'presence' | 'publish'

interface Gate {
  /** Resolves when a call has reached the gate. */
  reached: Promise<void>
  arrive: () => void
  open: () => void
  opened: Promise<void>
}

function gate (): Gate {
  let arrive = (): void => {}
  let open = (): void => {}
  const reached = new Promise<void>((resolve) => { arrive = resolve })
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { reached, arrive, open, opened }
}

/** See the module comment. */
export class ScriptedAdapter implements RealtimeAdapter {
  readonly name = 'scripted'
  readonly memory = new MemoryAdapter()
  /** Calls made, in order, with their channel. */
  readonly calls: Array<{ call: GatedCall, channel: string }> = []
  #handler: AdapterHandler | null = null
  readonly #gates = new Map<GatedCall, Gate>()

  /**
   * Hold the next call of this kind until {@link open}.
   * @returns resolves once such a call has arrived at the gate
   */
  async hold (call: GatedCall): Promise<void> {
    const held = gate()
    this.#gates.set(call, held)
    await held.reached
  }

  /** Let a held call (and every later one of its kind) through. */
  open (call: GatedCall): void {
    this.#gates.get(call)?.open()
    this.#gates.delete(call)
  }

  /** Hand the node a publication directly, as an adapter would deliver it. */
  inject (publication: Publication): void {
    this.#handler?.onPublication(publication)
  }

  /** Tell the node of a gap, as an adapter that lost publications on their way would. */
  injectGap (channel: string, position: StreamPosition, cause: GapCause = 'trimmed'): void {
    this.#handler?.onGap?.(channel, position, cause)
  }

  async #through (call: GatedCall, channel: string): Promise<void> {
    this.calls.push({ call, channel })
    const held = this.#gates.get(call)
    if (held === undefined) return
    held.arrive()
    await held.opened
  }

  async init (handler: AdapterHandler): Promise<void> {
    this.#handler = handler
    await this.memory.init(handler)
  }

  async publish (...args: Parameters<RealtimeAdapter['publish']>): ReturnType<RealtimeAdapter['publish']> {
    await this.#through('publish', args[0])
    return await this.memory.publish(...args)
  }

  async subscribe (channel: string): Promise<void> {
    await this.#through('subscribe', channel)
    await this.memory.subscribe(channel)
  }

  async unsubscribe (channel: string): Promise<void> {
    await this.#through('unsubscribe', channel)
    await this.memory.unsubscribe(channel)
  }

  async since (...args: Parameters<RealtimeAdapter['since']>): ReturnType<RealtimeAdapter['since']> {
    await this.#through('since', args[0])
    return await this.memory.since(...args)
  }

  async recent (...args: Parameters<RealtimeAdapter['recent']>): ReturnType<RealtimeAdapter['recent']> {
    await this.#through('recent', args[0])
    return await this.memory.recent(...args)
  }

  async presenceAdd (...args: Parameters<RealtimeAdapter['presenceAdd']>): ReturnType<RealtimeAdapter['presenceAdd']> {
    await this.#through('presenceAdd', args[0])
    await this.memory.presenceAdd(...args)
  }

  async presenceRemove (...args: Parameters<RealtimeAdapter['presenceRemove']>): ReturnType<RealtimeAdapter['presenceRemove']> {
    await this.#through('presenceRemove', args[0])
    await this.memory.presenceRemove(...args)
  }

  async presence (channel: string): ReturnType<RealtimeAdapter['presence']> {
    await this.#through('presence', channel)
    return await this.memory.presence(channel)
  }

  async control (...args: Parameters<RealtimeAdapter['control']>): ReturnType<RealtimeAdapter['control']> {
    await this.memory.control(...args)
  }

  async stateSet (...args: Parameters<RealtimeAdapter['stateSet']>): ReturnType<RealtimeAdapter['stateSet']> {
    await this.memory.stateSet(...args)
  }

  async stateClaim (...args: Parameters<RealtimeAdapter['stateClaim']>): ReturnType<RealtimeAdapter['stateClaim']> {
    return await this.memory.stateClaim(...args)
  }

  async stateGet (key: string): ReturnType<RealtimeAdapter['stateGet']> {
    return await this.memory.stateGet(key)
  }

  async stateDelete (key: string): ReturnType<RealtimeAdapter['stateDelete']> {
    await this.memory.stateDelete(key)
  }

  async close (): Promise<void> {
    await this.memory.close()
  }
}
