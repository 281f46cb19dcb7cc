// exitwatch-init, the native container init: every behaviour it promises next to tini and dumb-init, with
// real processes, PID namespaces and a pseudo-terminal. Where tini is installed, the cases
// tini also covers run against it too and must agree.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ExitMonitor } from '../dist/esm/index.js'
import { canUnshare, procState, waitFor } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const fixture = (name: string): string => join(root, '__test__/fixtures/init', name)
const exitwatchInit = join(root, 'target/release/exitwatch-init')
if (!existsSync(exitwatchInit)) throw new Error(`${exitwatchInit} is missing: run npm run build first`)

const which = (tool: string): string | null => {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}
const tini = which('tini')
const dumbInit = which('dumb-init')
const python = which('python3')
const unshareWorks = canUnshare && spawnSync('unshare', ['-pf', '--mount-proc', 'true']).status === 0

interface Init {
  name: string
  bin: string
}
const inits: Init[] = [{ name: 'exitwatch-init', bin: exitwatchInit }]
if (tini) inits.push({ name: 'tini', bin: tini })

/** The same cases for exitwatch-init and tini; tini's are skipped by name when it is missing. */
function forEachInit(body: (init: Init) => void): void {
  for (const init of inits) describe(init.name, () => body(init))
  if (!tini) describe.skip('tini (not installed: apt-get install tini)', () => it('same cases as exitwatch-init', () => {}))
}
const needsPython = python ? it : it.skip
const needsNamespace = unshareWorks ? it : it.skip
const pythonMissing = python ? '' : ' [needs python3]'
const namespaceMissing = unshareWorks ? '' : ' [needs root and unshare from util-linux]'

/** A started init (or `unshare` running one), with its output collected line by line. */
class Running {
  readonly process: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>

  constructor(command: string, args: string[], options: { stdin?: 'pipe' | 'ignore' } = {}) {
    this.process = spawn(command, args, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] })
    this.process.stdout!.on('data', (d) => (this.stdout += String(d)))
    this.process.stderr!.on('data', (d) => (this.stderr += String(d)))
    // 'exit', not 'close': a background process the init leaves behind may hold the pipes
    // open. Output still in flight is then given a moment to arrive.
    const closed = once(this.process, 'close')
    this.exited = once(this.process, 'exit').then(async ([code, signal]) => {
      const at = performance.now()
      await Promise.race([closed, sleep(300)])
      return { code: code as number | null, signal: signal as NodeJS.Signals | null, at }
    })
    started.push(this)
  }

  get pid(): number {
    return this.process.pid!
  }

  lines(prefix: string): string[] {
    // (A terminal echoes ^C / ^Z ahead of what the child prints next.)
    return this.stdout
      .split(/\r?\n/)
      .map((l) => l.replace(/^(\^.)+/, ''))
      .filter((l) => l.startsWith(prefix))
  }

  async line(prefix: string, count = 1, timeoutMs = 10_000): Promise<string> {
    await waitFor(() => this.lines(prefix).length >= count, timeoutMs).catch(() => {
      throw new Error(`no ${count}x "${prefix}" line; stdout: ${this.stdout.slice(-500)}; stderr: ${this.stderr}`)
    })
    return this.lines(prefix)[count - 1]
  }

  /** The pid the child printed on its "ready <pid>" line. */
  async readyPid(): Promise<number> {
    return Number((await this.line('ready')).split(' ')[1])
  }
}
const started: Running[] = []
afterEach(() => {
  for (const r of started.splice(0)) {
    for (const d of descendants(r.pid)) process.kill(d.pid, 'SIGKILL')
    if (r.process.exitCode === null && r.process.signalCode === null) r.process.kill('SIGKILL')
    // A child that outlived its init (not PID 1 there) is no longer below it: found by the pid
    // it printed, and killed only while that pid is still a signals.py.
    for (const line of r.lines('ready')) {
      const pid = Number(line.split(' ')[1])
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('signals.py')) process.kill(pid, 'SIGKILL')
      } catch {
        // Gone already.
      }
    }
  }
})

const signalsChild = (...args: string[]): string[] => ['python3', fixture('signals.py'), ...args]

/** Every process below `pid` (scans /proc), with its state letter. */
function descendants(pid: number): { pid: number; state: string }[] {
  const byParent = new Map<number, { pid: number; state: string }[]>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ppid = Number(fields[1])
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), { pid: Number(name), state: fields[0] }])
    } catch {
      // exited while listed
    }
  }
  const out: { pid: number; state: string }[] = []
  const visit = (p: number): void => {
    for (const child of byParent.get(p) ?? []) {
      out.push(child)
      visit(child.pid)
    }
  }
  visit(pid)
  return out
}

/** The `sleep 1` processes below `pid` (the orphans the orphan cases make). */
const orphansOf = (pid: number) =>
  descendants(pid).filter((d) => {
    try {
      return readFileSync(`/proc/${d.pid}/cmdline`, 'utf8') === 'sleep\u00001\u0000'
    } catch {
      return false
    }
  })

/** Prints the SigIgn line of its own /proc/self/status, then exits 6. */
const STATUS_THEN_EXIT_6 = "import sys; print([l for l in open('/proc/self/status') if l.startswith('SigIgn')][0].strip()); sys.exit(6)"

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Mean wall time of `runs` runs of `command`. */
/** The median wall time of `runs` runs: one run slowed by a busy machine does not move it. */
function medianMs(command: string, args: string[], runs: number): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const startedAt = performance.now()
    const r = spawnSync(command, args)
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`)
    times.push(performance.now() - startedAt)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]
}

/** Runs INIT as PID 1 of a new PID namespace; resolves the init's pid as seen from here. */
async function asPid1(init: Init, args: string[]): Promise<{ run: Running; initPid: number }> {
  const run = new Running('unshare', ['-pf', '--mount-proc', init.bin, ...args])
  let initPid = 0
  await waitFor(() => {
    initPid = descendants(run.pid).find((d) => readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').startsWith(init.bin))?.pid ?? 0
    return initPid > 0
  })
  return { run, initPid }
}

forEachInit((init) => {
  const start = (args: string[], options?: { stdin?: 'pipe' | 'ignore' }) => new Running(init.bin, args, options)

  describe('exit codes', () => {
    it('exits with the child\'s code, or 128 + the signal that ended it, remapped by -e', async () => {
      expect((await start(['--', 'sh', '-c', 'exit 3']).exited).code).toBe(3)
      expect((await start(['--', 'sh', '-c', 'kill -TERM $$']).exited).code).toBe(143)
      expect((await start(['--', 'sh', '-c', 'kill -KILL $$']).exited).code).toBe(137)
      expect((await start(['-e', '143', '--', 'sh', '-c', 'kill -TERM $$']).exited).code).toBe(0)
      expect((await start(['-e', '3', '-e', '4', '--', 'sh', '-c', 'exit 4']).exited).code).toBe(0)
    })

    it('127 for a command not found, 126 for one that cannot run, with one line on stderr', async () => {
      const missing = start(['-s', '--', 'no-such-command-here'])
      expect((await missing.exited).code).toBe(127)
      expect(missing.stderr.trim().split('\n')).toHaveLength(1)
      expect(missing.stderr).toMatch(/no-such-command-here/)
      const notExecutable = start(['-s', '--', fixture('signals.py')]) // not executable
      expect((await notExecutable.exited).code).toBe(126)
      expect(notExecutable.stderr.trim().split('\n')).toHaveLength(1)
    })

    it('is quiet by default: nothing on stderr', async () => {
      const r = start(['-s', '--', 'sh', '-c', '(exit 4) & exit 3'])
      expect((await r.exited).code).toBe(3)
      expect(r.stderr).toBe('')
    })
  })

  describe('exit timing', () => {
    it('exits as soon as the main child exits, while a background job runs (0.01 s, not 3 s)', async () => {
      for (const flags of [[], ['-s']]) {
        const r = start([...flags, '--', 'sh', '-c', 'sleep 3 & exit 5'])
        const t0 = performance.now()
        const { code, at } = await r.exited
        expect(code).toBe(5)
        expect(at - t0).toBeLessThan(1000)
      }
    })

    it('SIGTERM while the child has grandchildren: exits 143 at once', async () => {
      const r = start(['-s', '--', 'sh', '-c', 'sleep 100 & sleep 100 & wait'])
      await waitFor(() => descendants(r.pid).length === 3)
      const t0 = performance.now()
      r.process.kill('SIGTERM')
      const { code, at } = await r.exited
      expect(code).toBe(143)
      expect(at - t0).toBeLessThan(1000)
    })

    needsNamespace(`as PID 1: SIGTERM with grandchildren exits 143 at once and leaves 0 zombies${namespaceMissing}`, async () => {
      const { run, initPid } = await asPid1(init, ['--', 'sh', '-c', 'sleep 100 & sleep 100 & wait'])
      await waitFor(() => descendants(initPid).length === 3)
      const tree = descendants(initPid).map((d) => d.pid)
      const t0 = performance.now()
      process.kill(initPid, 'SIGTERM')
      const { code, at } = await run.exited
      expect(code).toBe(143)
      expect(at - t0).toBeLessThan(1000)
      expect(tree.filter((pid) => procState(pid) !== null)).toEqual([])
    })

    it('startup: `<init> -- true` costs a few milliseconds', () => {
      const median = medianMs(init.bin, ['--', 'true'], 30)
      expect(median).toBeLessThan(30) // `exitwatch run` took 98 ms
    })
  })

  describe('orphans', () => {
    needsNamespace(`as PID 1 without -s: 5 of 5 orphans are reaped${namespaceMissing}`, async () => {
      const { run, initPid } = await asPid1(init, ['--', 'sh', '-c', 'for i in 1 2 3 4 5; do (sleep 1 &); done; exec sleep 100'])
      await waitFor(() => orphansOf(initPid).length === 5)
      const orphans = orphansOf(initPid)
      expect(orphans).toHaveLength(5)
      await waitFor(() => orphans.every((o) => procState(o.pid) === null), 5_000)
      process.kill(initPid, 'SIGKILL') // ignored by a namespace's init from inside, not from here
      await run.exited
    })

    for (const mode of ['-s', 'PID 1'] as const) {
      const test = mode === 'PID 1' ? needsNamespace : it
      test(`50 orphans: 0 zombies 0.1 s after they exit (${mode})${mode === 'PID 1' ? namespaceMissing : ''}`, async () => {
        const command = ['--', 'sh', '-c', 'i=0; while [ $i -lt 50 ]; do (sleep 1 &); i=$((i+1)); done; exec sleep 100']
        const { run, initPid } = mode === 'PID 1' ? await asPid1(init, command) : { run: start(['-s', ...command]), initPid: 0 }
        const reaper = initPid || run.pid
        await waitFor(() => orphansOf(reaper).length === 50)
        const orphans = orphansOf(reaper).map((d) => d.pid)
        expect(orphans).toHaveLength(50)
        await waitFor(() => orphans.every((pid) => [null, 'Z'].includes(procState(pid))), 10_000)
        await sleep(100)
        expect(orphans.filter((pid) => procState(pid) !== null)).toEqual([])
        process.kill(reaper, 'SIGKILL')
        await run.exited
      })
    }
  })

  describe('signals', () => {
    needsPython(`forwards HUP INT QUIT USR1 USR2 WINCH TERM, a second signal too, and survives them${pythonMissing}`, async () => {
      const r = start(['--', ...signalsChild()])
      await r.readyPid()
      for (const signal of ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGHUP'] as const) {
        const count = r.lines(signal).length
        r.process.kill(signal)
        await r.line(signal, count + 1)
      }
      // The child reloads on SIGHUP and keeps running; so does the init.
      await sleep(300)
      expect(r.process.exitCode).toBe(null)
      r.process.kill('SIGTERM')
      await r.line('SIGTERM')
      expect((await r.exited).code).toBe(0)
    })

    needsPython(`a burst of 1,000 SIGUSR1, paced: every one arrives; unpaced: the child gets one after the last${pythonMissing}`, async () => {
      const r = start(['--', ...signalsChild()])
      await r.readyPid()
      for (let i = 1; i <= 1000; i++) {
        r.process.kill('SIGUSR1')
        await r.line('SIGUSR1', i)
      }
      expect(r.lines('SIGUSR1')).toHaveLength(1000)
      let beforeLast = 0n
      for (let i = 0; i < 1000; i++) {
        if (i === 999) beforeLast = process.hrtime.bigint()
        r.process.kill('SIGUSR1')
      }
      await waitFor(() => r.lines('SIGUSR1').some((l) => BigInt(l.split(' ')[1]) >= beforeLast))
      const received = r.lines('SIGUSR1').length - 1000
      expect(received).toBeGreaterThanOrEqual(1)
      expect(received).toBeLessThanOrEqual(1000)
      r.process.kill('SIGTERM')
      expect((await r.exited).code).toBe(0)
    })

    needsPython(`a burst of 1,000 real-time signals: each queued instance is forwarded${pythonMissing}`, async () => {
      const r = start(['--', 'python3', fixture('rt-count.py')])
      await r.readyPid()
      const rt = 34 + 1 // SIGRTMIN+1 as glibc (and so Python) numbers it
      for (let i = 0; i < 1000; i++) process.kill(r.pid, rt)
      expect(await r.line('count', 1, 20_000)).toBe('count 1000')
      expect((await r.exited).code).toBe(0)
    })

    needsPython(`-g forwards to the child's process group; without it, to the child alone${pythonMissing}`, async () => {
      for (const group of [true, false]) {
        const script = `python3 ${fixture('signals.py')} stay & exec python3 ${fixture('signals.py')} stay`
        const r = start([...(group ? ['-g'] : []), '--', 'sh', '-c', script])
        await r.line('ready', 2)
        r.process.kill('SIGUSR2')
        // With -g both processes report it (each in its own time: the machine may be busy);
        // without, the second must stay silent while we wait.
        await r.line('SIGUSR2', group ? 2 : 1)
        await sleep(300)
        expect(r.lines('SIGUSR2')).toHaveLength(group ? 2 : 1)
        r.process.kill('SIGKILL')
        await r.exited
      }
    })

    needsPython(`-p SIGNAL: when the init's parent dies, the init gets SIGNAL and forwards it${pythonMissing}`, async () => {
      // The parent (sh) exits when its stdin closes, once the child is ready.
      const script = `${init.bin} -s -p SIGUSR1 -- python3 ${fixture('signals.py')} & echo "init $!"; read line`
      const parent = new Running('sh', ['-c', script], { stdin: 'pipe' })
      const initPid = Number((await parent.line('init')).split(' ')[1])
      await parent.line('ready')
      parent.process.stdin!.end()
      await parent.line('SIGUSR1') // sent by the kernel once sh exited
      process.kill(initPid, 'SIGTERM')
      await waitFor(() => procState(initPid) === null || procState(initPid) === 'Z')
    })

    it('stops with the child on SIGTSTP and continues it on SIGCONT', async () => {
      const r = start(['--', 'sleep', '100'])
      await waitFor(() => descendants(r.pid).length === 1)
      const child = descendants(r.pid)[0].pid
      r.process.kill('SIGTSTP')
      await waitFor(() => procState(child) === 'T')
      r.process.kill('SIGCONT')
      await waitFor(() => procState(child) === 'S')
      r.process.kill('SIGTERM')
      expect((await r.exited).code).toBe(143)
    })

    needsPython(`the child inherits the init's signal mask and ignored signals${pythonMissing}`, async () => {
      const spec = 'ignore=USR1,HUP block=USR2,WINCH default=PIPE'
      const r = new Running('python3', [fixture('inherit.py'), spec, init.bin, '--', 'grep', '^Sig\\(Blk\\|Ign\\)', '/proc/self/status'])
      expect((await r.exited).code).toBe(0)
      const field = (prefix: string, name: string) => r.stdout.split('\n').find((l) => l.startsWith(`${prefix}${name}`))?.split(/\s+/).pop()
      expect(field('', 'SigBlk')).toBe(field('before ', 'SigBlk'))
      expect(field('', 'SigIgn')).toBe(field('before ', 'SigIgn'))
      const ignored = BigInt(`0x${field('', 'SigIgn')}`)
      const bit = (signal: number) => (ignored >> BigInt(signal - 1)) & 1n
      expect([bit(10), bit(1), bit(13)]).toEqual([1n, 1n, 0n]) // USR1, HUP ignored; PIPE not
    })

    needsPython(`on a terminal: Ctrl-C reaches the child once, Ctrl-Z stops it${pythonMissing}`, async () => {
      const r = new Running('python3', [fixture('terminal.py'), init.bin, '--', ...signalsChild('stay')], { stdin: 'pipe' })
      const child = await r.readyPid()
      r.process.stdin!.write('03\n') // Ctrl-C
      await r.line('SIGINT')
      await sleep(300)
      expect(r.lines('SIGINT')).toHaveLength(1)
      r.process.stdin!.write('1a\n') // Ctrl-Z
      await waitFor(() => procState(child) === 'T')
      process.kill(child, 'SIGKILL')
      expect((await r.exited).code).toBe(137)
    })
  })
})

describe('exitwatch-init only', () => {
  const start = (args: string[]) => new Running(exitwatchInit, args)

  it('--exits logs the main child and every reaped descendant with their real statuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'exitwatch-init-'))
    const log = join(dir, 'exits.jsonl')
    const script = [
      'sh -c "sleep 0.1; exit 5" & echo $!',
      'sh -c "sleep 0.1; kill -TERM \\$\\$" & echo $!',
      '(i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exit 7) & echo $!',
      'exit 3',
    ].join('; ')
    const r = start(['--wait-descendants', '10000', '--exits', log, '--', 'sh', '-c', script])
    expect((await r.exited).code).toBe(3)
    const [five, term, busy] = r.stdout.trim().split('\n').map(Number)
    const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(entries).toHaveLength(4)
    const byPid = new Map(entries.map((e) => [e.pid, e]))
    expect(byPid.get(five)).toMatchObject({ code: 5, signal: null, status: 'exited', source: 'waitid', main: false, comm: 'sh' })
    expect(byPid.get(term)).toMatchObject({ code: null, signal: 'SIGTERM', status: 'killed', main: false })
    expect(byPid.get(busy)).toMatchObject({ code: 7, status: 'exited', main: false })
    expect(entries.find((e) => e.main)).toMatchObject({ code: 3, main: true, comm: 'sh' })
    expect(byPid.get(busy).userCpuUs + byPid.get(busy).systemCpuUs).toBeGreaterThan(0)
    for (const entry of entries) {
      expect(entry.maxRssKiB).toBeGreaterThan(0)
      expect(Date.parse(entry.time)).toBeGreaterThan(Date.now() - 60_000)
      // The pidfs id exactly where the kernel has one.
      if (ExitMonitor.shared().capabilities().pidfsIdentity) expect(entry.pidfsId).toBeGreaterThan(0)
      else expect(entry.pidfsId).toBe(null)
    }
  })

  it('--exits FD writes to an inherited descriptor, which the child does not keep', async () => {
    const child = spawn(exitwatchInit, ['--exits', '3', '--', 'sh', '-c', 'test -e /proc/self/fd/3 && echo open || echo closed; exit 9'], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    })
    let log = ''
    child.stdio[3]!.on('data', (d) => (log += String(d)))
    let out = ''
    child.stdout!.on('data', (d) => (out += String(d)))
    const [code] = await once(child, 'close')
    expect(code).toBe(9)
    expect(out.trim()).toBe('closed')
    expect(JSON.parse(log)).toMatchObject({ code: 9, main: true })
  })

  it('--kill-after: a stop signal, then the remaining tree is SIGKILLed MS later and the init exits once it is gone', async () => {
    const r = start(['--kill-after', '300', '--', 'sh', join(root, '__test__/fixtures/tree.sh'), '2', '3', '1'])
    await waitFor(() => descendants(r.pid).length === 13)
    const tree = descendants(r.pid).map((d) => d.pid)
    const t0 = performance.now()
    r.process.kill('SIGTERM')
    const { code, at } = await r.exited
    expect(code).toBe(143) // the main child died of the forwarded SIGTERM
    expect(at - t0).toBeGreaterThanOrEqual(250)
    expect(at - t0).toBeLessThan(3000)
    expect(tree.filter((pid) => procState(pid) !== null)).toEqual([])
  })

  it('--wait-descendants MS waits for background processes, at most MS', async () => {
    const waits = start(['--wait-descendants', '5000', '--', 'sh', '-c', 'sleep 0.4 & exit 0'])
    const t0 = performance.now()
    expect((await waits.exited).code).toBe(0)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350)
    const bounded = start(['--wait-descendants', '200', '--', 'sh', '-c', 'sleep 5 & exit 0'])
    const t1 = performance.now()
    expect((await bounded.exited).code).toBe(0)
    expect(performance.now() - t1).toBeLessThan(2000)
  })

  it('-w reports each reaped orphan; -v explains what it does', async () => {
    const warned = start(['-w', '--wait-descendants', '5000', '--', 'sh', '-c', '(sleep 0.1; exit 6) & exit 0'])
    expect((await warned.exited).code).toBe(0)
    expect(warned.stderr).toMatch(/^exitwatch-init: orphan \d+ exited with code 6 \[waitid\] \(sh\)\n$/)
    const verbose = start(['-v', '--', 'sh', '-c', 'exit 2'])
    expect((await verbose.exited).code).toBe(2)
    expect(verbose.stderr).toMatch(/exitwatch-init: started \d+: sh -c exit 2\n/)
    expect(verbose.stderr).toMatch(/exitwatch-init: \d+ exited with code 2 \[waitid\] \(sh\)\n/)
  })

  needsPython(`-r s:t rewrites a signal before forwarding it; t = 0 drops it${pythonMissing}`, async () => {
    const r = start(['-r', '10:12', '--rewrite', 'HUP:0', '--', ...signalsChild()])
    await r.readyPid()
    r.process.kill('SIGHUP')
    r.process.kill('SIGUSR1')
    await r.line('SIGUSR2')
    await sleep(200)
    expect(r.lines('SIGUSR1')).toEqual([])
    expect(r.lines('SIGHUP')).toEqual([])
    r.process.kill('SIGTERM')
    expect((await r.exited).code).toBe(0)
  })

  needsPython(`forwards every catchable signal, and none of them ends the init while the child lives${pythonMissing}`, async () => {
    const r = start(['--', ...signalsChild('stay')])
    await r.readyPid()
    const all = ['HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM', 'STKFLT', 'CONT', 'URG', 'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'PWR', 'SYS']
    for (const name of all) {
      r.process.kill(`SIG${name}` as NodeJS.Signals)
      await r.line(`SIG${name}`)
    }
    expect(r.process.exitCode).toBe(null)
    r.process.kill('SIGKILL')
  })

  needsPython(`an inherited "ignore SIGCHLD" neither hides the child's status nor reaches the child changed${pythonMissing}`, async () => {
    const r = new Running('python3', [fixture('inherit.py'), 'ignore=CHLD', exitwatchInit, '--', 'python3', '-c', STATUS_THEN_EXIT_6])
    expect((await r.exited).code).toBe(6)
    const ignored = BigInt(`0x${r.stdout.trim().split(/\s+/).pop()}`)
    expect((ignored >> 16n) & 1n).toBe(1n) // SIGCHLD (17) still ignored in the child
  })

  it('as dumb-init (setsid mode), the child leads a new session and its group gets the signals', async () => {
    const r = start(['--setsid', '--', 'sh', '-c', 'sleep 100 & cut -d" " -f6 /proc/$$/stat; wait'])
    await waitFor(() => descendants(r.pid).length === 2)
    const [sh, sleeper] = descendants(r.pid).map((d) => d.pid)
    await waitFor(() => r.stdout.trim() !== '')
    expect(Number(r.stdout.trim())).toBe(sh)
    r.process.kill('SIGTERM')
    expect((await r.exited).code).toBe(143)
    await waitFor(() => procState(sleeper) === null || procState(sleeper) === 'Z')
  })

  it('the npx launcher and `exitwatch run` run the native init; the signals Node ignores reach the command at their defaults', async () => {
    for (const cli of [['bin/exitwatch-init.mjs', '--'], ['bin/exitwatch.mjs', 'run', '--']]) {
      const r = new Running(process.execPath, [join(root, cli[0]), ...cli.slice(1), 'sh', '-c', 'grep ^SigIgn /proc/self/status; kill -TERM $$'])
      expect((await r.exited).code).toBe(143)
      expect(r.stdout.trim()).toMatch(/^SigIgn:\s+0+$/) // Node itself ignores SIGPIPE and SIGXFSZ
    }
  })

  it('bad flags are a usage error (exit 2) naming the problem', async () => {
    const r = start(['-e', '300', '--', 'true'])
    expect((await r.exited).code).toBe(2)
    expect(r.stderr).toMatch(/-e takes an exit code from 0 to 255/)
  })

  it('runs as one thread', async () => {
    const r = start(['--', 'sleep', '100'])
    await waitFor(() => descendants(r.pid).length === 1)
    expect(readFileSync(`/proc/${r.pid}/status`, 'utf8')).toMatch(/^Threads:\s+1$/m)
    r.process.kill('SIGTERM')
    await r.exited
  })
})

describe('dumb-init side by side', () => {
  // Installed under the name dumb-init, exitwatch-init takes dumb-init's defaults (setsid mode).
  const asDumbInit = join(mkdtempSync(join(tmpdir(), 'exitwatch-init-')), 'dumb-init')
  symlinkSync(exitwatchInit, asDumbInit)
  const cases: Init[] = [{ name: 'exitwatch-init invoked as dumb-init', bin: asDumbInit }]
  if (dumbInit) cases.push({ name: 'dumb-init', bin: dumbInit })
  else it.skip('dumb-init (not installed: apt-get install dumb-init)', () => {})

  for (const init of cases) {
    needsPython(`${init.name}: the child leads a new session, -r rewrites, its group gets every signal${pythonMissing}`, async () => {
      const script = `python3 ${fixture('signals.py')} stay & exec python3 ${fixture('signals.py')}`
      const r = new Running(init.bin, ['-r', '10:12', '--', 'sh', '-c', script])
      await r.line('ready', 2)
      const main = descendants(r.pid)[0].pid
      const stat = readFileSync(`/proc/${main}/stat`, 'utf8')
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])).toBe(main) // session id
      r.process.kill('SIGUSR1')
      await r.line('SIGUSR2', 2)
      expect(r.lines('SIGUSR1')).toEqual([])
      r.process.kill('SIGTERM') // the main child exits 0 on it; the other one stays
      expect((await r.exited).code).toBe(0)
      expect(r.lines('SIGTERM').length).toBeGreaterThanOrEqual(2)
    })
  }
})
