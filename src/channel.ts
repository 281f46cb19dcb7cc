import { binding, type NativeChannel, type NativeExit } from './native.js'
import { toExitInfo, type ExitInfo } from './exit-info.js'

type Listener = (exit: ExitInfo) => void

/**
 * This environment's (main thread's or worker's) connection to the native monitor. Routes
 * each batch of exits to the listener registered for its watch token, and keeps the event
 * loop alive exactly while something holds it (a pending `exited` promise, an open iterator).
 */
export class Channel {
  readonly native: NativeChannel
  readonly #watchListeners = new Map<number, Listener>()
  readonly #subscriptionListeners = new Map<number, Listener>()
  #holds = 0
  #deliveryScheduled = false
  /** Listener calls that threw; they never disturb other listeners. */
  listenerErrors = 0

  constructor() {
    const { NativeChannel } = binding()
    this.native = new NativeChannel(() => this.#scheduleDelivery())
  }

  onWatchExit(token: number, listener: Listener): void {
    this.#watchListeners.set(token, listener)
  }

  /** Forgets a watch's listener; returns false when it was already gone. */
  forgetWatch(token: number): boolean {
    return this.#watchListeners.delete(token)
  }

  onSubscriptionExit(id: number, listener: Listener): void {
    this.#subscriptionListeners.set(id, listener)
  }

  forgetSubscription(id: number): void {
    this.#subscriptionListeners.delete(id)
  }

  hold(): void {
    if (this.#holds++ === 0) this.native.setReferenced(true)
  }

  release(): void {
    if (--this.#holds === 0) this.native.setReferenced(false)
  }

  /**
   * The native side calls this once per batch of exits. Node runs up to 1,000 such calls in
   * one turn of the event loop; draining in each would let exit handlers that start new
   * processes (whose exits then arrive meanwhile) keep the loop from its timers and I/O for
   * as long as the work lasts. So a batch is drained in the check phase of the same turn
   * (`setImmediate`: no added wait), and exits arriving while it runs wait for the next turn.
   */
  #scheduleDelivery(): void {
    if (this.#deliveryScheduled) return
    this.#deliveryScheduled = true
    setImmediate(() => {
      this.#deliveryScheduled = false
      for (const exit of this.native.drain()) this.#dispatch(exit)
    })
  }

  #dispatch(exit: NativeExit): void {
    const watch = exit.kind === 'watch'
    const listener = (watch ? this.#watchListeners : this.#subscriptionListeners).get(exit.target)
    if (!listener) return
    if (watch) this.#watchListeners.delete(exit.target)
    try {
      listener(toExitInfo(exit))
    } catch {
      this.listenerErrors++
    }
  }
}
