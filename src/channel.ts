import { binding, type NativeChannel, type NativeExit } from './native.js'
import { toExitInfo, type ExitInfo } from './exit-info.js'

type Listener = (exit: ExitInfo) => void

/**
 * Exits are delivered one at a time (see `Channel.#receive`), in the check phase of the event
 * loop one per `setImmediate` callback, so that Node runs the microtasks each one starts (an
 * `await handle.exited` resuming, and starting the next process) before the next, and the
 * time they take counts. Once a turn has spent this long delivering, the rest wait for the
 * next turn: timers and I/O run in between.
 */
const TURN_BUDGET_MS = 0.5
/** At most this many deliveries are queued for one turn, however many exits wait. */
const DELIVERIES_PER_TURN = 64

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
  /** Exits drained from the native side, delivered from `#next` on (FIFO). */
  #pending: NativeExit[] = []
  #next = 0
  /** Delivery callbacks queued for the coming check phase, all of `#generation`. */
  #queued = 0
  #generation = 0
  /** When this turn's first delivery ran; undefined between turns. */
  #turnStartedAt: number | undefined
  /** This turn delivered an exit in its poll phase; cleared in its check phase. */
  #deliveredInPollPhase = false
  /** Listener calls that threw; they never disturb other listeners. */
  listenerErrors = 0

  /** `connect` opens the native side, which calls `onReady` when exits wait in `drain()`. */
  constructor(connect: (onReady: () => void) => NativeChannel = (onReady) => new (binding().NativeChannel)(onReady)) {
    this.native = connect(() => this.#receive())
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

  /**
   * Takes the latest exit of `pid` for subscription `id` out of the exits drained but not yet
   * delivered (with any earlier ones of that pid), for a claim made before their turn came.
   */
  takeQueuedSubscriptionExit(id: number, pid: number): ExitInfo | undefined {
    let latest: NativeExit | undefined
    const rest: NativeExit[] = []
    for (const exit of this.#pending.slice(this.#next)) {
      if (exit.kind === 'subscription' && exit.target === id && exit.pid === pid) latest = exit
      else rest.push(exit)
    }
    if (latest === undefined) return undefined
    this.#pending = rest
    this.#next = 0
    return toExitInfo(latest)
  }

  hold(): void {
    if (this.#holds++ === 0) this.native.setReferenced(true)
  }

  release(): void {
    if (--this.#holds === 0) this.native.setReferenced(false)
  }

  /**
   * The native side calls this once per batch of exits, in the poll phase. Node runs up to
   * 1,000 such calls in one turn; delivering in each would let exit handlers that start new
   * processes (whose exits then arrive meanwhile) keep the loop from its timers and I/O for as
   * long as the work lasts. So only the oldest exit of the turn's first batch, when nothing
   * older waits, is delivered here at once; the rest is queued and delivered in the check
   * phase of the same turn (`setImmediate`: no added wait), within the turn's budget.
   */
  #receive(): void {
    const nothingWaited = this.#next === this.#pending.length
    for (const exit of this.native.drain()) this.#pending.push(exit)
    // (A call can find nothing: a drain in an earlier call took its exits.)
    const exit = this.#pending[this.#next]
    if (exit !== undefined && nothingWaited && !this.#deliveredInPollPhase && this.#queued === 0) {
      this.#next++
      this.#deliveredInPollPhase = true
      setImmediate(this.#endOfPollPhase)
      this.#turnStartedAt = performance.now()
      this.#compactIfDelivered()
      this.#dispatch(exit)
    }
    this.#queueDeliveries()
  }

  readonly #endOfPollPhase = (): void => {
    this.#deliveredInPollPhase = false
  }

  /** Empties the queue once everything in it was delivered; the turn's delivery is over. */
  #compactIfDelivered(): void {
    if (this.#next < this.#pending.length) return
    this.#pending = []
    this.#next = 0
    this.#turnStartedAt = undefined
  }

  /** Queues a delivery callback per waiting exit, up to the turn's limit. */
  #queueDeliveries(): void {
    const wanted = Math.min(this.#pending.length - this.#next, DELIVERIES_PER_TURN) - this.#queued
    for (let i = 0; i < wanted; i++) setImmediate(this.#deliverOne, this.#generation)
    this.#queued += Math.max(0, wanted)
  }

  readonly #deliverOne = (generation: number): void => {
    if (generation !== this.#generation) return // of a turn that ran out of time
    this.#queued--
    if (this.#next === this.#pending.length) {
      this.#turnStartedAt = undefined
      return
    }
    const now = performance.now()
    this.#turnStartedAt ??= now
    if (now - this.#turnStartedAt > TURN_BUDGET_MS) {
      // The callbacks still queued for this turn become no-ops; the rest goes to the next.
      this.#generation++
      this.#queued = 0
      this.#nextTurn()
      return
    }
    const exit = this.#pending[this.#next++]
    if (exit === undefined) return // (never: `#next` is below the length)
    this.#compactIfDelivered()
    if (this.#next < this.#pending.length && this.#queued === 0) {
      this.#nextTurn() // more than one turn's worth was waiting
    }
    this.#dispatch(exit)
  }

  /** Callbacks queued now run in the next turn's check phase. */
  #nextTurn(): void {
    this.#turnStartedAt = undefined
    this.#queueDeliveries()
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
