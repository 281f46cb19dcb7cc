import type { ExitSource, ExitStatusKind, NativeExit } from './native.js'
import { signalName } from './signals.js'

/** How a process ended: 'exited', 'killed', 'dumped' or 'unknown'. */
export type { ExitStatusKind }

/**
 * Which kernel interface gave the status:
 * - `waitid`: exitwatch owned the process and reaped it;
 * - `waitid-nowait`: read from our own child without reaping it (its owner still gets it);
 * - `pidfd-info`: `PIDFD_INFO_EXIT` after another owner reaped it (Linux 6.15+);
 * - `proc-stat`: `/proc/<pid>/stat` of the unreaped zombie, pinned by the pidfd;
 * - `child-process`: libuv's status, reported by the `ChildProcess` that reaped it, when no
 *   kernel source kept it (libuv reaped first, before Linux 6.15);
 * - `proc-connector`: the kernel's process-events connector (netlink), for processes not ours
 *   after their owner reaped them where `PIDFD_INFO_EXIT` is missing (see `capabilities().procConnector`);
 * - `none`: no source had it, `status` is `'unknown'` (never guessed).
 */
export type StatusSource = ExitSource

/** What the process cost, counting the children it reaped itself (as `wait4` reports it). */
export interface Usage {
  userCpuUs: number
  systemCpuUs: number
  /** Peak resident set size in KiB; null from a zombie's `/proc/<pid>/stat`, which has none. */
  maxRssKiB: number | null
}

export interface ExitInfo {
  pid: number
  /** Per-boot unique process identity (pidfs inode, Linux 6.9+); null on older kernels. */
  id: string | null
  /** Exit code when `status` is 'exited', else null. */
  code: number | null
  /** Signal name when `status` is 'killed' or 'dumped', else null. */
  signal: NodeJS.Signals | `SIG${number}` | null
  status: ExitStatusKind
  /** When the monitor observed the exit, in milliseconds since the Unix epoch. */
  exitedAt: number
  /** CLOCK_MONOTONIC at the same moment, comparable with `process.hrtime.bigint()`. */
  monotonicNs: bigint
  source: StatusSource
  /** exitwatch reaped the process itself (it owned it, or it was an orphan). */
  reaped: boolean
  /** An orphan (zombie child nobody claimed) reaped in PID-1 / subreaper mode. */
  orphan: boolean
  /**
   * Resource usage where the source keeps it: `waitid` / `waitid-nowait` (all fields) and
   * `proc-stat` (CPU times); null from `pidfd-info`, `proc-connector`, `child-process` and `none`.
   */
  usage: Usage | null
  /** The JSON form (what `JSON.stringify(exit)` gives): `monotonicNs` as a decimal string. */
  toJSON(): ExitInfoJSON
}

export type ExitInfoJSON = Omit<ExitInfo, 'monotonicNs' | 'toJSON'> & { monotonicNs: string }

/** Shared by every ExitInfo, so `toJSON` is not an own (enumerable) property. */
const exitInfoPrototype = {
  toJSON(this: ExitInfo): ExitInfoJSON {
    const { monotonicNs, ...rest } = this
    return { ...rest, monotonicNs: monotonicNs.toString() }
  },
}

export function toExitInfo(exit: NativeExit): ExitInfo {
  return Object.assign(Object.create(exitInfoPrototype) as ExitInfo, {
    pid: exit.pid,
    id: exit.id ?? null,
    code: exit.code ?? null,
    signal: exit.signal === undefined ? null : signalName(exit.signal),
    status: exit.status,
    exitedAt: exit.exitedAtMs,
    monotonicNs: exit.monotonicNs,
    source: exit.source,
    reaped: exit.reaped,
    orphan: exit.orphan,
    usage: exit.usage ? { userCpuUs: exit.usage.userCpuUs, systemCpuUs: exit.usage.systemCpuUs, maxRssKiB: exit.usage.maxRssKiB ?? null } : null,
  })
}
