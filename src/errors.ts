/** Stable error codes. */
export type ExitwatchErrorCode =
  /** No such process: it never existed, or has already exited (nothing was signalled). */
  | 'ESRCH'
  /** Out of file descriptors: every watched process needs one. */
  | 'EMFILE'
  /** Not permitted. */
  | 'EPERM'
  /** The kernel lacks a feature exitwatch needs. */
  | 'ENOSYS'
  /** A bad argument. */
  | 'EINVAL'
  /**
   * The watch or subscription was disposed before the exit arrived; a spawn whose AbortSignal
   * was already aborted (nothing was started).
   */
  | 'ECANCELED'
  /** Spawn: no such file (the command, or a directory on the way to it or to `cwd`). */
  | 'ENOENT'
  /** Spawn: permission denied (the file is not executable, or a directory is not searchable). */
  | 'EACCES'
  /** Spawn: the file is not in a format the kernel can execute. */
  | 'ENOEXEC'
  /** Spawn: the arguments and environment are too long. */
  | 'E2BIG'
  /** Spawn: a path component (of the file or of `cwd`) is not a directory. */
  | 'ENOTDIR'
  /** Spawn: out of processes (`RLIMIT_NPROC`, `pids.max`) or memory for a new one. */
  | 'EAGAIN'

const CODES: ReadonlySet<string> = new Set([
  'ESRCH',
  'EMFILE',
  'EPERM',
  'ENOSYS',
  'EINVAL',
  'ECANCELED',
  'ENOENT',
  'EACCES',
  'ENOEXEC',
  'E2BIG',
  'ENOTDIR',
  'EAGAIN',
])

/** Every error exitwatch throws or rejects with. */
export class ExitwatchError extends Error {
  readonly code: ExitwatchErrorCode

  constructor(code: ExitwatchErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ExitwatchError'
    this.code = code
  }
}

/** Turns an error thrown by the native binding (`[CODE] message`) into an ExitwatchError. */
export function fromNative(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  const match = /^\[([A-Z0-9]+)\] ([\s\S]*)$/.exec(error.message)
  if (!match || !CODES.has(match[1] ?? '')) return error
  return new ExitwatchError(match[1] as ExitwatchErrorCode, match[2] ?? '')
}

/** Runs a native call, rethrowing its errors as typed ExitwatchErrors. */
export function native<T>(call: () => T): T {
  try {
    return call()
  } catch (error) {
    throw fromNative(error)
  }
}

export function invalid(message: string): ExitwatchError {
  return new ExitwatchError('EINVAL', message)
}
