// The exit status passed on for a process that ended (installInit, the exitwatch-init launcher).
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type { shellExitCode as ShellExitCode } from '../src/exit-code.js'

const { shellExitCode } = createRequire(import.meta.url)('../dist/cjs/exit-code.js') as { shellExitCode: typeof ShellExitCode }

describe('shellExitCode', () => {
  it('is the exit code, or 128 + the signal number, as shells and tini give it', () => {
    expect(shellExitCode(0, null)).toBe(0)
    expect(shellExitCode(3, null)).toBe(3)
    expect(shellExitCode(null, 'SIGTERM')).toBe(143)
    expect(shellExitCode(null, 'SIGKILL')).toBe(137)
    // A real-time signal Node has no name for.
    expect(shellExitCode(null, 'SIG40')).toBe(168)
    expect(shellExitCode(null, null)).toBe(128)
  })
})
