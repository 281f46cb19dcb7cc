import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ExitMonitor, ExitwatchError } from '../dist/esm/index.js'
import { expectForeignExit, fixture, firstNumber, foreignZombie, watchingPid, PIDFD_INFO_EXIT, procState, requires, RUN_AS_NOBODY, scaled, sh, waitFor } from './helpers.js'

const monitor = ExitMonitor.shared()

describe('exit statuses of real processes', () => {
  it('reports exit code 42, and Node still gets its own exit event with the same code [kernel]', async () => {
    const child = sh('exit 42')
    const handle = monitor.watch(child)
    const nodeExit = once(child, 'exit')
    const exit = await handle.exited
    expect(exit).toMatchObject({ pid: child.pid, code: 42, signal: null, status: 'exited', reaped: false })
    expect(await nodeExit).toEqual([42, null])
  })

  it('reports exit code 0', async () => {
    const child = sh('exit 0')
    const nodeExit = once(child, 'exit')
    const exit = await monitor.watch(child).exited
    expect(exit).toMatchObject({ code: 0, status: 'exited' })
    expect((await nodeExit)[0]).toBe(0)
  })

  it('reports SIGKILL sent through the handle', async (context) => {
    requires(context, PIDFD_INFO_EXIT)
    const child = spawn('sleep', ['30'])
    const handle = monitor.watch(child)
    const nodeExit = once(child, 'exit')
    handle.kill('SIGKILL')
    expect(await handle.exited).toMatchObject({ code: null, signal: 'SIGKILL', status: 'killed' })
    expect(await nodeExit).toEqual([null, 'SIGKILL'])
  })

  it('reports SIGSEGV as killed or dumped, as the kernel says', async () => {
    const child = sh('kill -SEGV $$')
    const nodeExit = once(child, 'exit')
    const exit = await monitor.watch(child).exited
    expect(exit.signal).toBe('SIGSEGV')
    expect(['killed', 'dumped']).toContain(exit.status)
    expect(await nodeExit).toEqual([null, 'SIGSEGV'])
  })

  it('orders exitedAt (and the monotonic clock) as the processes exited', async () => {
    const first = monitor.watch(sh('sleep 0.05; exit 1'))
    const second = monitor.watch(sh('sleep 0.3; exit 2'))
    const [a, b] = await Promise.all([first.exited, second.exited])
    expect(a.exitedAt).toBeLessThan(b.exitedAt)
    expect(a.monotonicNs < b.monotonicNs).toBe(true)
    expect(b.exitedAt - a.exitedAt).toBeGreaterThan(100)
  })

  it('carries a per-process identity when the kernel has pidfs [kernel]', async () => {
    const exit = await monitor.watch(sh('exit 0')).exited
    if (monitor.capabilities().pidfsIdentity) expect(exit.id).toMatch(/^\d+$/)
    else expect(exit.id).toBeNull()
  })

  it('reports the exit of a grandchild (not our child) exactly where the kernel keeps it [kernel]', async () => {
    // The grandchild exits once watched (when our end of its stdin closes); its shell reaps it.
    const parent = spawn('sh', ['-c', 'exec 3<&0; (read _ <&3; exit 9) & exec 3<&-; echo $!; wait $!'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const pid = await firstNumber(parent)
    const handle = monitor.watch(pid)
    parent.stdin.end()
    const exit = await handle.exited
    expectForeignExit(exit, { pid, code: 9, status: 'exited' }, monitor.capabilities())
  })

  it('resolves at once for a pid that is already a zombie, leaving it to its parent', async () => {
    const { parent, pid } = await foreignZombie(23)
    const exit = await monitor.watch(pid).exited
    expect(exit).toMatchObject({ pid, code: 23, status: 'exited', source: 'proc-stat' })
    expect(procState(pid)).toBe('Z')
    parent.kill()
  })

  it('reads our own unreaped child without reaping it (Node reaps it afterwards) [kernel]', async () => {
    const child = sh('exit 4')
    const nodeExit = once(child, 'exit')
    const exit = await monitor.watch(child).exited
    expect(exit.code).toBe(4)
    // Without PIDFD_INFO_EXIT an exit libuv reaped first comes from the ChildProcess itself.
    const sources = monitor.capabilities().pidfdInfoExit ? ['waitid-nowait', 'pidfd-info'] : ['waitid-nowait', 'child-process']
    expect(sources).toContain(exit.source)
    expect((await nodeExit)[0]).toBe(4)
  })

  it('counts exits per source in stats()', async () => {
    const before = monitor.stats()
    await monitor.watch(sh('exit 0')).exited
    const after = monitor.stats()
    expect(after.exitsObserved).toBe(before.exitsObserved + 1)
    const sum = (s: typeof after) => Object.values(s.bySource).reduce((a, b) => a + b, 0)
    expect(sum(after)).toBe(sum(before) + 1)
    expect(after.monitorThreadAlive).toBe(true)
  })
})

describe('kill()', () => {
  it('throws ESRCH after the exit and signals nothing', async () => {
    const child = sh('exit 0')
    const handle = monitor.watch(child)
    await handle.exited
    expect(() => handle.kill('SIGTERM')).toThrow(expect.objectContaining({ code: 'ESRCH' }))
  })

  it('accepts signal numbers and refuses unknown signals', async () => {
    const handle = monitor.watch(spawn('sleep', ['30']))
    expect(() => handle.kill('SIGNOPE' as NodeJS.Signals)).toThrow(expect.objectContaining({ code: 'EINVAL' }))
    expect(() => handle.kill(99)).toThrow(expect.objectContaining({ code: 'EINVAL' }))
    handle.kill(15)
    expect(await handle.exited).toMatchObject({ signal: 'SIGTERM' })
  })
})

describe('bad input gets a typed error and loses nothing', () => {
  const expectCode = (fn: () => unknown, code: string) => {
    let error: unknown
    try {
      fn()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ExitwatchError)
    expect((error as ExitwatchError).code).toBe(code)
    expect((error as ExitwatchError).message.length).toBeGreaterThan(10)
  }

  it('refuses non-pids with EINVAL', () => {
    for (const bad of [0, -1, -42, Number.NaN, 1.5, Infinity, 2 ** 31, 2 ** 53]) {
      expectCode(() => monitor.watch(bad), 'EINVAL')
    }
    for (const bad of ['123', null, undefined, {}, [1]]) {
      expectCode(() => monitor.watch(bad as unknown as number), 'EINVAL')
    }
  })

  it('refuses pids at or above kernel.pid_max, our own pid, and thread ids', async () => {
    const { readFileSync, readdirSync } = await import('node:fs')
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'))
    expectCode(() => monitor.watch(pidMax), 'EINVAL')
    expectCode(() => monitor.watch(process.pid), 'EINVAL')
    const tid = readdirSync('/proc/self/task').map(Number).find((t) => t !== process.pid)
    expect(tid).toBeDefined()
    expectCode(() => monitor.watch(tid!), 'EINVAL')
  })

  it('answers ESRCH for a pid with no process', async () => {
    const child = sh('exit 0')
    await once(child, 'exit') // reaped by Node: the pid is free
    expectCode(() => monitor.watch(child.pid!), 'ESRCH')
    expectCode(() => monitor.watch(child), 'ESRCH')
  })

  it('a native error arrives with its code and the core\'s message, and is kept as cause', () => {
    let error: unknown
    try {
      monitor.watch(2 ** 30)
    } catch (e) {
      error = e
    }
    expect(ExitwatchError.is(error)).toBe(true)
    const { code, message, cause } = error as ExitwatchError
    expect(code).toBe('EINVAL')
    expect(message).toMatch(/^1073741824 is not a process id/)
    // The binding's own error: the code as its `code` property, the message untouched.
    expect(cause).toBeInstanceOf(Error)
    expect(ExitwatchError.is(cause)).toBe(false)
    expect(cause).toMatchObject({ code, message })
    expect(ExitwatchError.is(new Error(message))).toBe(false)
  })

  it('refuses reap: true for a ChildProcess (libuv owns it) and for non-children', async () => {
    const child = spawn('sleep', ['30'])
    expectCode(() => monitor.watch(child, { reap: true }), 'EINVAL')
    const { parent, pid } = await foreignZombie(1)
    expectCode(() => monitor.watch(pid, { reap: true }), 'EINVAL')
    expect(procState(pid)).toBe('Z')
    parent.kill()
    child.kill()
  })

  it('keeps working after all of the above', async () => {
    const exit = await monitor.watch(sh('exit 6')).exited
    expect(exit.code).toBe(6)
  })
})

describe('dispose', () => {
  it('rejects a pending exited with ECANCELED, is idempotent, and delivers nothing after', async () => {
    const child = spawn('sleep', ['0.2'])
    const nodeExit = once(child, 'exit')
    const handle = monitor.watch(child)
    handle[Symbol.dispose]()
    handle[Symbol.dispose]()
    await expect(handle.exited).rejects.toMatchObject({ code: 'ECANCELED' })
    await nodeExit
    expect(handle.exit).toBeUndefined()
  })

  it('two watches of one process both resolve with one identical exit [kernel]', async () => {
    const child = sh('sleep 0.1; exit 5')
    const [a, b] = [monitor.watch(child), monitor.watch(child.pid!)]
    const [ea, eb] = await Promise.all([a.exited, b.exited])
    expect(ea.code).toBe(5)
    expect(eb).toEqual(ea)
  })

  // Before pidfs ids (Linux 6.9) the second watch finds the first by signalling it 0, which
  // another user's process answers with EPERM: found, not reaped.
  it('two watches of another user\'s process, by an unprivileged user, share one exit [kernel] [needs root, a checkout other users can read]', async (context) => {
    requires(context, RUN_AS_NOBODY)
    // Alive until the watcher (a second Node, slow to start on a busy machine or under
    // emulation) has watched it: it exits when our end of its stdin closes.
    const target = spawn('sh', ['-c', 'read _; exit 5'], { stdio: ['pipe', 'ignore', 'inherit'] })
    const cli = fixture('../../bin/exitwatch.mjs')
    const args = [cli, 'wait', '--json', String(target.pid), String(target.pid)]
    const watcher = monitor.spawn(process.execPath, args, { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] })
    // Its two watches are made in one synchronous loop: once the first began, both are near.
    await waitFor(() => watchingPid(watcher.pid, target.pid!), scaled(60_000))
    await new Promise((resolve) => setTimeout(resolve, scaled(100)))
    target.stdin.end()
    let out = ''
    for await (const chunk of watcher.stdout!) out += String(chunk)
    expect((await watcher.exited).code).toBe(0)
    const [first, second] = out.trim().split('\n').map((line) => JSON.parse(line))
    expect(second).toEqual(first)
    // Its status is hidden from this user in /proc, and the proc connector is root's.
    if (monitor.capabilities().pidfdInfoExit) expect(first).toMatchObject({ pid: target.pid, code: 5, source: 'pidfd-info' })
    else expect(first).toMatchObject({ pid: target.pid, code: null, status: 'unknown', source: 'none' })
  })
})
