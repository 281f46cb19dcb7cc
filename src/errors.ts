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
  /** Out of processes or threads (`RLIMIT_NPROC`, `pids.max`). */
  | 'EAGAIN'
  /** Any other error the kernel answered, by its errno name. */
  | `E${Uppercase<string>}`

/** The native binding's errors carry one of these as `code` (napi's own failures do not). */
const NATIVE_CODE = /^E[A-Z0-9]+$/

/** Marks exitwatch's errors, so that `ExitwatchError.is()` knows them from any copy of exitwatch. */
const BRAND = Symbol.for('exitwatch.ExitwatchError')

/** Every error exitwatch throws or rejects with. */
export class ExitwatchError extends Error {
  readonly code: ExitwatchErrorCode

  constructor(code: ExitwatchErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ExitwatchError'
    this.code = code
  }

  /**
   * Whether `value` is an error exitwatch threw, even one made by another copy of exitwatch
   * in this process (two installed versions), where `instanceof` cannot tell.
   */
  static is(value: unknown): value is ExitwatchError {
    return value instanceof ExitwatchError || (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true)
  }
}
Object.defineProperty(ExitwatchError.prototype, BRAND, { value: true })

/**
 * Turns an error thrown by the native binding into an ExitwatchError with the same code and
 * message, keeping the native error as its `cause`.
 */
export function fromNative(error: unknown): unknown {
  if (!(error instanceof Error) || ExitwatchError.is(error)) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code === undefined || !NATIVE_CODE.test(code)) return error
  return new ExitwatchError(code as ExitwatchErrorCode, error.message, { cause: error })
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
