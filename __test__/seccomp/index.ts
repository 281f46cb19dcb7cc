// Runs commands under a seccomp filter that makes pidfd or descriptor interfaces fail as on older
// kernels or in restrictive sandboxes (see run-seccomp.c for the modes). The tool is compiled with the
// machine's C compiler on first use, into a cache directory named after its source.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, type RunResult } from '../helpers.js'

export type SeccompMode = 'pidfd-enosys' | 'pidfd-eperm' | 'no-pidfd-info' | 'no-close-range' | 'no-fd-listing'

const source = fileURLToPath(new URL('./run-seccomp.c', import.meta.url))

let compiled: { path: string } | { missing: string } | undefined

/** The compiled tool, or why there is none (to skip a test by name, saying how to get it). */
export function seccompTool(): { path: string } | { missing: string } {
  compiled ??= compile()
  return compiled
}

function compile(): { path: string } | { missing: string } {
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) {
    return { missing: `run-seccomp supports linux x64 and arm64, not ${process.platform}-${process.arch}` }
  }
  const hash = createHash('sha256').update(readFileSync(source)).update(process.arch).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), `exitwatch-run-seccomp-${hash}`)
  const path = join(dir, 'run-seccomp')
  if (existsSync(path)) return { path }
  mkdirSync(dir, { recursive: true })
  // Built under a private name, then renamed: concurrent test files never run a partial file.
  const partial = `${path}.${process.pid}`
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', partial, source], { encoding: 'utf8' })
  if (cc.error) return { missing: `no C compiler (cc: ${cc.error.message}); install one, e.g. apt-get install gcc` }
  if (cc.status !== 0) throw new Error(`run-seccomp.c did not compile:\n${cc.stderr}`)
  renameSync(partial, path)
  return { path }
}

/** `[command, args]` that run `command` with `args` under the filter of `mode`. */
export function underSeccomp(mode: SeccompMode, command: string, args: string[]): [string, string[]] {
  const tool = seccompTool()
  if ('missing' in tool) throw new Error(tool.missing)
  return [tool.path, [mode, command, ...args]]
}

/** Runs this Node with `nodeArgs` under the filter of `mode`, to its end. */
export function runUnderSeccomp(mode: SeccompMode, nodeArgs: string[], timeoutMs?: number): Promise<RunResult> {
  return run(...underSeccomp(mode, process.execPath, nodeArgs), timeoutMs)
}
