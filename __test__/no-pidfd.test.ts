// The core cases without pidfds: Node runs under a seccomp filter that makes pidfd_open,
// pidfd_send_signal and pidfd_getfd fail with ENOSYS (as on Linux < 5.3) or EPERM (as under a
// restrictive container profile), so exitwatch uses its poll engine.
import { describe, expect, it } from 'vitest'
import { canUnshare, fixture, run, type RunResult } from './helpers.js'
import { seccompTool, underSeccomp, type SeccompMode } from './seccomp/index.js'

const tool = seccompTool()
const toolMissing = 'missing' in tool

interface Exit {
  pid: number
  code: number | null
  signal: string | null
  status: string
  source: string
}

function parse(r: RunResult): any {
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout)
}

const scenario = (mode: SeccompMode, name: string): Promise<any> =>
  run(...underSeccomp(mode, process.execPath, [fixture('no-pidfd/core.mjs'), name])).then(parse)

const asPid1 = (mode: SeccompMode, name: string): Promise<any> =>
  run(...underSeccomp(mode, 'unshare', ['--pid', '--fork', '--mount-proc', process.execPath, fixture(name)])).then(parse)

/** An exit whose status no source had. */
const unknown = (pid: number): Exit => ({ pid, code: null, signal: null, status: 'unknown', source: 'none' })

for (const mode of ['pidfd-enosys', 'pidfd-eperm'] as const) {
  describe.skipIf(toolMissing)(`without pidfds (${mode}) [needs a C compiler: cc, e.g. apt-get install gcc]`, () => {
    it('capabilities() names the poll engine', async () => {
      const { capabilities, stats } = await scenario(mode, 'capabilities')
      expect(capabilities).toMatchObject({ engine: 'poll', pidfdOpen: false, pidfdSendSignal: false, waitidPidfd: false })
      expect(stats.fallbackExits).toBe(0)
    })

    it('a child_process child seen before libuv reaps it: exact code and signal, and libuv still gets them', async () => {
      const r = await scenario(mode, 'child-exact')
      expect(r.exited).toEqual({ pid: r.exited.pid, code: 3, signal: null, status: 'exited', source: 'waitid-nowait' })
      expect(r.exitedOwn).toEqual({ code: 3, signal: null })
      expect(r.killed).toEqual({ pid: r.killed.pid, code: null, signal: 'SIGTERM', status: 'killed', source: 'waitid-nowait' })
      expect(r.killedOwn).toEqual({ code: null, signal: 'SIGTERM' })
      expect(r.stats.fallbackExits).toBe(2)
      expect(r.stats.bySource['waitid-nowait']).toBe(2)
    })

    it('child_process children reaped by libuv first: still exact (libuv\'s own status, source child-process)', async () => {
      const { exits } = await scenario(mode, 'child-race')
      expect(exits).toHaveLength(20)
      for (const { expected, ...exit } of exits) {
        expect(exit).toEqual({
          pid: exit.pid,
          code: expected,
          signal: null,
          status: 'exited',
          source: expect.stringMatching(/^(waitid-nowait|child-process)$/),
        })
      }
    })

    it('a process that is not ours: exact code from its zombie, left to its parent', async () => {
      const r = await scenario(mode, 'foreign')
      expect(r.exit).toEqual({ pid: r.pid, code: 7, signal: null, status: 'exited', source: 'proc-stat' })
      expect(r.state).toBe('Z')
    })

    it('a process that is not ours and vanished unseen: unknown, never guessed', async () => {
      const r = await scenario(mode, 'vanished')
      expect([unknown(r.pid), { pid: r.pid, code: 5, signal: null, status: 'exited', source: 'proc-stat' }]).toContainEqual(r.exit)
    })

    it('exits() yields every watched exit', async () => {
      const r = await scenario(mode, 'exits')
      const byCode = [...r.seen].sort((a: Exit, b: Exit) => a.code! - b.code!)
      expect(byCode).toEqual([1, 2, 3].map((code, i) => ({ pid: r.pids[i], code, signal: null, status: 'exited', source: 'waitid-nowait' })))
    })

    it('kill() reaches a process that is not ours, and nothing once its exit was observed', async () => {
      const r = await scenario(mode, 'kill')
      expect(r.exit).toEqual({ pid: r.pid, code: null, signal: 'SIGKILL', status: 'killed', source: 'proc-stat' })
      expect(r.again).toBe('ESRCH')
    })

    it('orphan reaping, which needs pidfds, fails with ENOSYS', async () => {
      const r = await scenario(mode, 'subreaper')
      expect(r.result).toBe('ENOSYS')
      expect(r.message).toContain('pidfd_open')
    })

    it.skipIf(!canUnshare)('kill() after the pid was recycled does not signal the new process [needs root + unshare]', async () => {
      const r = await asPid1(mode, 'pid-reuse.mjs')
      expect(r.impostorPid).toBe(r.pid) // the pid really was recycled
      expect(r.kill).toBe('ESRCH')
      expect(['S', 'R']).toContain(r.impostorState)
      // Its parent reaped it at once: no source kept its status, unless a round saw the zombie.
      expect([unknown(r.pid), { pid: r.pid, code: 0, signal: null, status: 'exited', source: 'proc-stat' }]).toContainEqual(r.exit)
    })

    it.skipIf(!canUnshare)('killTree: a member whose pid is recycled before the signal survives [needs root + unshare]', async () => {
      const r = await asPid1(mode, 'tree-pid-reuse.mjs')
      expect(r.impostor).toBe(r.victim)
      expect(r.members).toContain(r.victim)
      expect(['S', 'R']).toContain(r.impostorState)
    })
  })
}

describe.skipIf(toolMissing)('run-seccomp no-pidfd-info [needs a C compiler: cc, e.g. apt-get install gcc]', () => {
  it('hides PIDFD_INFO_EXIT as on Linux < 6.15, and only that', async () => {
    const { capabilities } = await scenario('no-pidfd-info', 'capabilities')
    expect(capabilities).toMatchObject({ engine: 'pidfd', pidfdOpen: true, waitidPidfd: true, pidfdInfoExit: false })
  })
})

describe('EXITWATCH_ENGINE', () => {
  const capabilities = (value: string): Promise<RunResult> =>
    run('env', [`EXITWATCH_ENGINE=${value}`, process.execPath, fixture('no-pidfd/core.mjs'), 'capabilities'])

  it('poll forces the poll engine where pidfds work', async () => {
    const { capabilities: caps } = parse(await capabilities('poll'))
    expect(caps).toMatchObject({ engine: 'poll', pidfdOpen: true })
  })

  it('an unknown engine is a typed EINVAL', async () => {
    const r = await capabilities('epoll')
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('EINVAL')
    expect(r.stderr).toContain('EXITWATCH_ENGINE')
  })
})
