import { ChildProcess } from 'node:child_process'
import { ExitwatchError, invalid } from './errors.js'

export interface WatchOptions {
  /**
   * exitwatch owns the process and reaps it, so it never lingers as a zombie. Only for
   * children of this process that nobody else waits for (not for a `ChildProcess`: libuv
   * owns those). Default false: the status is read without reaping.
   */
  reap?: boolean
}

/** The pid to watch for `watch(target)` / `claim(target)`, checked. */
export function pidOf(target: unknown, options: WatchOptions): number {
  if (typeof target === 'number') return target
  if (target instanceof ChildProcess) {
    if (options.reap) {
      throw invalid('reap: true is refused for a ChildProcess: libuv owns it and would lose its exit status')
    }
    if (target.pid === undefined) {
      throw new ExitwatchError('ESRCH', 'the ChildProcess has no pid: it failed to spawn')
    }
    if (target.exitCode !== null || target.signalCode !== null) {
      throw new ExitwatchError(
        'ESRCH',
        `process ${target.pid} has already exited and been reaped by Node (see child.exitCode / child.signalCode)`,
      )
    }
    return target.pid
  }
  throw invalid(`expected a pid (number) or a ChildProcess, not ${describe(target)}`)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`
  return `${typeof value} ${String(value)}`
}
