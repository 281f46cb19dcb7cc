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
  /** The watch or subscription was disposed before the exit arrived. */
  | 'ECANCELED'

const CODES: ReadonlySet<string> = new Set(['ESRCH', 'EMFILE', 'EPERM', 'ENOSYS', 'EINVAL', 'ECANCELED'])

/** Every error exitwatch throws or rejects with. */
export class ExitwatchError extends Error {
  readonly code: ExitwatchErrorCode

  constructor(code: ExitwatchErrorCode, message: string) {
    super(message)
    this.name = 'ExitwatchError'
    this.code = code
  }
}

/** Turns an error thrown by the native binding (`[CODE] message`) into an ExitwatchError. */
export function fromNative(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  const match = /^\[([A-Z]+)\] ([\s\S]*)$/.exec(error.message)
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
