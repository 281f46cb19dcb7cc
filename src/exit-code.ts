import { constants } from 'node:os'

/**
 * The exit status a shell (and tini) passes on for a process that ended this way: its exit
 * code, or 128 + the number of the signal that ended it (128 when neither is known).
 */
export function shellExitCode(code: number | null, signal: string | null): number {
  if (code !== null) return code
  if (signal === null) return 128
  // `SIG<number>` names a signal Node has no name for.
  const number = (constants.signals as Record<string, number | undefined>)[signal] ?? Number(signal.slice(3))
  return 128 + (Number.isInteger(number) ? number : 0)
}
