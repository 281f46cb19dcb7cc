// Subreaper and PID-1 mode never steal a child's exit and never leave a zombie; the
// child_process hooks change nothing users can see.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ExitMonitor } from '../dist/esm/index.js'
import { canUnshare, fixture, run, runFixture, runFixtureAsPid1 } from './helpers.js'

const json = (stdout: string): Record<string, unknown> => JSON.parse(stdout) as Record<string, unknown>

describe('subreaper mode reaps every descendant of a killed tree', () => {
  it.each([
    ['background', 3],
    ['nested', 6],
    ['term-ignoring', 4],
  ])('killTree of a %s tree: every member exits, 0 zombies 100 ms later', async (shape, members) => {
    const r = await runFixture('never-steal/kill-tree.mjs', [shape], 20_000)
    expect(r.stderr).toBe('')
    expect(json(r.stdout)).toMatchObject({ members, zombies: 0 })
  })
})

describe('children forked by this process are never taken as orphans, whoever forked them', () => {
  it.each([1_000, 5_000])(
    'a worker that never loaded exitwatch, busy %i ms before it listens, still gets its child\'s exit',
    async (busyMs) => {
      const r = await runFixture('never-steal/worker-spawn.mjs', ['async', String(busyMs)], 30_000)
      expect(r.stderr).toBe('')
      expect(json(r.stdout)).toEqual({ codes: [7], count: 1, orphans: 0 })
    },
  )

  it('spawnSync in such a worker keeps every status', async () => {
    const r = await runFixture('never-steal/worker-spawn.mjs', ['sync', '100'], 60_000)
    expect(r.stderr).toBe('')
    expect(json(r.stdout)).toEqual({ codes: [9], count: 100, orphans: 0 })
  })
})

describe.skipIf(!canUnshare)('PID 1 [needs root + unshare]', () => {
  it('50 orphans that exit at once: 0 zombies 0.1 s later, each reported', async () => {
    const r = await runFixtureAsPid1('never-steal/pid1-orphans.mjs', [], 20_000)
    expect(r.stderr).toBe('')
    expect(json(r.stdout)).toEqual({ pid: 1, zombies: 0, orphans: 50 })
  })
})

describe('the child_process hooks are invisible', () => {
  it('wrapped functions keep their name and length (compared with a process without exitwatch)', async () => {
    const [plain, hooked] = await Promise.all(
      ['plain', 'exitwatch'].map((mode) => runFixture('never-steal/function-shapes.mjs', [mode])),
    )
    expect(hooked.stderr).toBe('')
    expect(json(hooked!.stdout)).toEqual(json(plain!.stdout))
    expect(json(plain!.stdout)).toMatchObject({ execSync: ['execSync', 2] })
  })
})

describe('installInit', () => {
  it('exits 127 with one line when the command is not found', async () => {
    const r = await runFixture('never-steal/init-command.mjs', ['/nonexistent/command'])
    expect(r).toMatchObject({ code: 127, stdout: '', stderr: 'exitwatch: cannot run /nonexistent/command: command not found\n' })
  })

  it('exits 126 with one line when the command cannot be executed', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'exitwatch-')), 'not-executable')
    writeFileSync(file, 'echo never\n')
    chmodSync(file, 0o644)
    const r = await runFixture('never-steal/init-command.mjs', [file])
    expect(r).toMatchObject({ code: 126, stdout: '', stderr: `exitwatch: cannot run ${file}: permission denied\n` })
  })

  it('Ctrl-C on a terminal reaches the child once (the terminal signals it; the init does not repeat it)', async () => {
    const r = await run('python3', [fixture('never-steal/on-pty.py'), process.execPath, fixture('never-steal/init-tty.mjs')])
    expect(r.stdout).toContain('ready')
    expect(r.stdout).toMatch(/sigint 1\r?\n/)
    expect(r.code).toBe(0)
  })
})

describe('ExitInfo is plain data', () => {
  it('JSON.stringify gives every field, monotonicNs as a decimal string', async () => {
    const child = spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' })
    const exit = await ExitMonitor.shared().watch(child).exited
    const parsed = JSON.parse(JSON.stringify(exit)) as Record<string, unknown>
    expect(parsed).toEqual({ ...exit, monotonicNs: exit.monotonicNs.toString() })
    expect(Object.keys(exit)).not.toContain('toJSON')
  })
})
