import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, type TestContext } from 'vitest'
import { ExitMonitor, type Capabilities, type ExitInfo } from '../dist/esm/index.js'

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

/**
 * Whether process `holder` (another exitwatch user, with this process's engine) has begun to
 * watch `pid`: it holds a pidfd on it, or under the poll engine (no pidfds) its monitor thread
 * runs, which starts right before its first watch. Read from /proc, which needs root or the
 * holder's user.
 */
export function watchingPid(holder: number, pid: number): boolean {
  const poll = ExitMonitor.shared().capabilities().engine === 'poll'
  const [dir, matches] = poll
    ? [`/proc/${holder}/task`, (entry: string) => readFileSync(join(dir, entry, 'comm'), 'utf8').startsWith('exitwatch-monit')]
    : [`/proc/${holder}/fdinfo`, (entry: string) => readFileSync(join(dir, entry), 'utf8').includes(`\nPid:\t${pid}\n`)]
  try {
    return readdirSync(dir).some((entry) => {
      try {
        return matches(entry)
      } catch {
        return false // gone meanwhile
      }
    })
  } catch {
    return false
  }
}

/**
 * A grandchild that exited with `code`, left an unreaped zombie by its parent, which became
 * `sleep` (it never reaps) before the grandchild was let exit: a shell reaps a finished job
 * before it runs its next command. Killing the parent lets init reap the zombie.
 */
export async function foreignZombie(code: number): Promise<{ parent: ChildProcess; pid: number }> {
  const script = `exec 3<&0; (read _ <&3; exit ${code}) & exec 3<&-; echo $!; exec sleep 600`
  const parent = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] })
  const pid = await firstNumber(parent)
  await waitFor(() => readFileSync(`/proc/${parent.pid}/comm`, 'utf8') === 'sleep\n')
  parent.stdin!.end()
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

/**
 * Something a test needs from the machine or the runtime: `missing` says what is absent and
 * how to get it, or is undefined when it is there.
 */
export interface Requirement {
  missing: string | undefined
}

declare module 'vitest' {
  interface TaskMeta {
    /** Why the test was skipped; scripts/summarize-tests.mjs prints it. */
    skipReason?: string
  }
}

/** Skips the running test (or, from beforeEach, each test of the block) unless every requirement is met. */
export function requires(context: TestContext, ...requirements: Requirement[]): void {
  const reasons = requirements.flatMap((r) => (r.missing ? [r.missing] : []))
  if (reasons.length === 0) return
  context.task.meta.skipReason = reasons.join('; ')
  context.skip(context.task.meta.skipReason)
}

const onPath = (command: string): boolean =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })

/** A command on PATH; `install` says how to get it. */
export const tool = (command: string, install: string): Requirement => ({
  missing: onPath(command) ? undefined : `${command} is not installed (${install})`,
})

export const TINI = tool('tini', 'apt-get install tini')

/** Real PID namespaces: unshare and root. */
export const NAMESPACES: Requirement = {
  missing: [tool('unshare', 'apt-get install util-linux').missing, process.getuid?.() === 0 ? undefined : 'PID namespaces need root']
    .filter(Boolean)
    .join('; ') || undefined,
}
export const canUnshare = NAMESPACES.missing === undefined

/** Can a process become a child subreaper here? Probed once per test file, in a child. */
export const SUBREAPER: Requirement = {
  get missing() {
    subreaperProbe ??= spawnSync(process.execPath, [fixture('probe-subreaper.mjs')], { encoding: 'utf8' })
    return subreaperProbe.status === 0
      ? undefined
      : `PR_SET_CHILD_SUBREAPER is unavailable here, as under qemu-user (${subreaperProbe.stdout.trim() || subreaperProbe.stderr.trim()})`
  },
}
let subreaperProbe: ReturnType<typeof spawnSync<string>> | undefined

/**
 * PIDFD_GET_INFO with PIDFD_INFO_EXIT (Linux 6.15): the status of a process its owner already
 * reaped. Without it, a test racing another reaper (Node's libuv, a waiting shell) may rightly
 * get status 'unknown'.
 */
export const PIDFD_INFO_EXIT: Requirement = {
  get missing() {
    return ExitMonitor.shared().capabilities().pidfdInfoExit
      ? undefined
      : 'no PIDFD_GET_INFO/PIDFD_INFO_EXIT here (Linux < 6.15, or qemu-user, which does not emulate the ioctl): an exit reaped by its owner first has no status source left'
  },
}

/**
 * The CPU is not emulated: under qemu-user everything is about 10x slower and qemu's own
 * threads take pids, so timing bounds and predicted pids do not hold. (A host binary such as
 * uname runs natively, so it names the real CPU.)
 */
const checkout = fileURLToPath(new URL('..', import.meta.url))

/** Every directory from / down to `dir` lets other users in. */
const searchableByOthers = (dir: string): boolean =>
  dir.split('/').filter(Boolean).reduce((path, name) => [...path, `${path.at(-1)}/${name}`], ['']).every((path) => (statSync(path || '/').mode & 0o005) === 0o005)

/** Running this checkout's code as another user (uid 65534). */
export const RUN_AS_NOBODY: Requirement = {
  missing:
    process.getuid?.() !== 0
      ? 'changing uid/gid needs root'
      : searchableByOthers(checkout)
        ? undefined
        : `${checkout} is not readable by other users (chmod o+rx its directories)`,
}

export const NATIVE_CPU: Requirement = {
  get missing() {
    const machine = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim()
    const real = ({ x86_64: 'x64', aarch64: 'arm64' } as Record<string, string>)[machine] ?? machine
    return real === process.arch ? undefined : `the ${process.arch} CPU is emulated on ${machine} (qemu-user): about 10x slower, its threads take pids, signals are emulated`
  },
}

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
