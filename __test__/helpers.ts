import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import type { Capabilities, ExitInfo } from '../dist/esm/index.js'

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** A shell child running `script`. */
export function sh(script: string): ChildProcess {
  return spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
}

/** The first line a child prints, as a number. */
export async function firstNumber(child: ChildProcess): Promise<number> {
  let text = ''
  for await (const chunk of child.stdout!) {
    text += String(chunk)
    const newline = text.indexOf('\n')
    if (newline >= 0) return Number(text.slice(0, newline))
  }
  throw new Error(`no line on stdout (got ${JSON.stringify(text)})`)
}

/** State letter of /proc/<pid>/stat, or null when there is no such process. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return null
  }
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A grandchild that exited with `code`, left an unreaped zombie by its (sleeping) parent. */
export async function foreignZombie(code: number): Promise<{ parent: ChildProcess; pid: number }> {
  const parent = sh(`(sleep 0.1; exit ${code}) & echo $!; exec sleep 30`)
  const pid = await firstNumber(parent)
  await waitFor(() => procState(pid) === 'Z')
  return { parent, pid }
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs a command to its end (with a safety timeout), collecting its output. */
export async function run(command: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  const started = Date.now()
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += String(d)))
  child.stderr.on('data', (d) => (stderr += String(d)))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  return { code, signal, stdout, stderr, ms: Date.now() - started }
}

/** Runs a fixture script with the Node that runs the tests. */
export const runFixture = (name: string, args: string[] = [], timeoutMs?: number): Promise<RunResult> =>
  run(process.execPath, [fixture(name), ...args], timeoutMs)

/** Runs a fixture as PID 1 of a new PID namespace (with its own /proc). */
export const runFixtureAsPid1 = (name: string, args: string[] = [], timeoutMs?: number): Promise<RunResult> =>
  run('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, fixture(name), ...args], timeoutMs)

export const canUnshare = existsSync('/usr/bin/unshare') && process.getuid?.() === 0

/** The pids whose parent is `ppid` (scans /proc: the kernel may lack the children files). */
export function childrenOf(ppid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid
      } catch {
        return false
      }
    })
}

/**
 * How many times slower than a native machine the tests run: scripts/test-kernels.sh sets
 * EXITWATCH_TEST_TIME_SCALE under emulation. Waits and deadlines are multiplied by it, the sizes
 * of load tests divided by it.
 */
export const timeScale = Math.max(1, Number(process.env.EXITWATCH_TEST_TIME_SCALE) || 1)
export const scaled = (ms: number): number => ms * timeScale

/** Capabilities, with the process-events connector where this version reports it. */
type KernelCapabilities = Capabilities & { procConnector?: boolean }

/** The status sources that can know the exit of a process reaped by another owner. */
const foreignSources = (caps: KernelCapabilities): string[] =>
  caps.pidfdInfoExit ? ['pidfd-info', 'proc-stat'] : caps.procConnector ? ['proc-connector', 'proc-stat'] : ['proc-stat']

/**
 * The documented outcome for a process that is not ours and that its own parent reaps: exact
 * with `PIDFD_INFO_EXIT` or the process-events connector; without both exact only if the
 * zombie's /proc/<pid>/stat was read before the reap, else `unknown` with source `none`. Never a
 * wrong code.
 */
export function expectForeignExit(exit: Partial<ExitInfo>, expected: Partial<ExitInfo>, caps: KernelCapabilities): void {
  if (!caps.pidfdInfoExit && !caps.procConnector && exit.status === 'unknown') {
    expect(exit).toMatchObject({ pid: expected.pid, code: null, signal: null, source: 'none' })
    return
  }
  expect(exit).toMatchObject(expected)
  expect(foreignSources(caps)).toContain(exit.source)
}
