// What a PID 1 is expected to do (tini's duties), for a Node process that is PID 1.
import { ChildProcess } from 'node:child_process'
import { shellExitCode } from './exit-code.js'
import { binding } from './native.js'
import type { ExitMonitor } from './monitor.js'
import type { ProcessHandle } from './handle.js'

export interface InitOptions {
  /**
   * The main child. Signals are forwarded to it, and when it exits this process exits with
   * its code (128 + signal number if a signal ended it), like `tini`. A `ChildProcess` that
   * failed to spawn ends this process with 127 (command not found) or 126 (found but not
   * runnable) and one line on stderr, as shells and tini do.
   */
  child?: ChildProcess | number
  /** Forward to the child's whole process group (spawn it with `detached: true`). Default false. */
  processGroup?: boolean
  /** Signals forwarded to the child. Default: SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH. */
  signals?: NodeJS.Signals[]
  /** Exit with the child's code when it exits. Default true. */
  propagateExit?: boolean
  /** Grace period before a zombie of unknown origin is reaped (see `enableSubreaper`). */
  graceMs?: number
}

export interface Init extends Disposable {
  /** The main child's handle, if any. */
  readonly child: ProcessHandle | undefined
}

const DEFAULT_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']
/**
 * Signals a terminal sends to its whole foreground process group. When the child shares that
 * group with this process, the terminal has signalled it already: forwarding would double them.
 */
const TERMINAL_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGQUIT', 'SIGWINCH'])
/** Without a child, these end the process (PID 1 ignores them otherwise) unless the app listens. */
const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP']

export function installInit(monitor: ExitMonitor, options: InitOptions = {}): Init {
  monitor.enableSubreaper({ reapOrphans: true, graceMs: options.graceMs })
  if (options.child instanceof ChildProcess && options.child.pid === undefined) {
    exitOnSpawnFailure(options.child)
    return { child: undefined, [Symbol.dispose]() {} }
  }
  const child = options.child === undefined ? undefined : monitor.watch(options.child)
  const signals = child ? options.signals ?? DEFAULT_SIGNALS : SHUTDOWN_SIGNALS
  const listeners = new Map<NodeJS.Signals, () => void>()

  for (const signal of signals) {
    const listener = (): void => {
      if (child) {
        forward(child, signal, options.processGroup === true)
      } else if (process.listenerCount(signal) === 1) {
        // Only ours: the app does not handle it, so behave as the default action would.
        process.exit(shellExitCode(null, signal))
      }
    }
    listeners.set(signal, listener)
    process.on(signal, listener)
  }

  if (child && options.propagateExit !== false) {
    child.exited.then((exit) => process.exit(shellExitCode(exit.code, exit.signal)), () => {})
  }

  return {
    child,
    [Symbol.dispose]() {
      for (const [signal, listener] of listeners) process.off(signal, listener)
      listeners.clear()
    },
  }
}

const SPAWN_FAILURES: Record<string, string> = {
  ENOENT: 'command not found',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
}

/** The child never ran: its 'error' (emitted on the next tick) says why. */
function exitOnSpawnFailure(child: ChildProcess): void {
  child.once('error', (error: NodeJS.ErrnoException) => {
    const notFound = error.code === 'ENOENT'
    const reason = SPAWN_FAILURES[error.code ?? ''] ?? error.message
    process.stderr.write(`exitwatch: cannot run ${child.spawnfile}: ${reason}\n`)
    process.exit(notFound ? 127 : 126)
  })
}

function forward(child: ProcessHandle, signal: NodeJS.Signals, processGroup: boolean): void {
  if (TERMINAL_SIGNALS.has(signal) && binding().terminalSignalsReach(child.pid)) return
  try {
    if (processGroup) process.kill(-child.pid, signal)
    else child.kill(signal)
  } catch {
    // The child is already gone; its exit ends this process.
  }
}
