import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ExitMonitor } from '../dist/esm/index.js'
import { firstNumber, fixture, NAMESPACES, NATIVE_CPU, procState, requires, runFixtureAsPid1, SUBREAPER, waitFor } from './helpers.js'

const monitor = ExitMonitor.shared()
const treeScript = fixture('tree.sh')
const alive = (pid: number) => ![null, 'Z'].includes(procState(pid))

describe('process trees', () => {
  it('descendants() lists the tree with parents first', async () => {
    const root = spawn('sh', [treeScript, '2', '2'], { stdio: 'ignore' })
    await waitFor(() => monitor.descendants(root.pid!).length === 7)
    const tree = monitor.descendants(root.pid!)
    expect(tree[0]).toMatchObject({ pid: root.pid, ppid: process.pid })
    for (const member of tree.slice(1)) {
      const parentIndex = tree.findIndex((m) => m.pid === member.ppid)
      expect(parentIndex).toBeGreaterThanOrEqual(0)
      expect(parentIndex).toBeLessThan(tree.indexOf(member))
    }
    expect(tree.every((m) => m.command.includes('sleep 1000'))).toBe(true)
    const reaped = once(root, 'exit')
    await monitor.watch(root).killTree('SIGKILL')
    await reaped // by Node: the pid is gone
    expect(() => monitor.descendants(root.pid!)).toThrow(expect.objectContaining({ code: 'ESRCH' }))
  })

  it('killTree of a depth-4, width-5 tree with a member ignoring SIGTERM: one exit per member, none left', async () => {
    const root = spawn('sh', [treeScript, '4', '5', '1'], { stdio: 'ignore' })
    const size = 1 + 5 + 25 + 125 + 625
    await waitFor(() => monitor.descendants(root.pid!).length === size, 30_000)
    const pids = monitor.descendants(root.pid!).map((m) => m.pid)
    const exits = await monitor.watch(root).killTree('SIGTERM', { escalateAfterMs: 200 })
    expect(exits).toHaveLength(size)
    expect(new Set(exits.map((e) => e.pid))).toEqual(new Set(pids))
    expect(exits.filter((e) => e.signal === 'SIGKILL')).toHaveLength(1) // the stubborn one
    expect(exits.filter((e) => e.signal === 'SIGTERM')).toHaveLength(size - 1)
    expect(pids.filter(alive)).toEqual([])
  })

  it('a daemon that double-forked away is still found and killed while this process is a subreaper', async (context) => {
    requires(context, SUBREAPER)
    monitor.enableSubreaper({ graceMs: 100 })
    const root = spawn('sh', ['-c', "(setsid sh -c 'echo $$; exec sleep 1000' &); exec sleep 1000"], { stdio: ['ignore', 'pipe', 'ignore'] })
    const daemon = await firstNumber(root)
    await waitFor(() => monitor.descendants(process.pid).some((m) => m.pid === daemon && m.ppid === process.pid))
    expect(monitor.descendants(root.pid!).map((m) => m.pid)).not.toContain(daemon) // not below the root any more
    const exits = await monitor.watch(root).killTree('SIGTERM')
    expect(exits.map((e) => e.pid).sort()).toEqual([root.pid, daemon].sort())
    expect(alive(daemon)).toBe(false)
  })

  it('a member whose pid is recycled between the walk and the signal: the new process survives [needs root + unshare]', async (context) => {
    requires(context, NAMESPACES, NATIVE_CPU)
    const r = await runFixtureAsPid1('tree-pid-reuse.mjs')
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    expect(result.impostor).toBe(result.victim) // the pid really was recycled
    expect(result.members).toContain(result.victim)
    expect(['S', 'R']).toContain(result.impostorState)
    expect(result.exits).toContainEqual({ pid: result.victim, signal: 'SIGKILL', code: null })
  })

  it('handle.exited resolves when the child exits even if a grandchild keeps its stdout open (unlike close)', async () => {
    const child = spawn('sh', ['-c', 'sleep 3 & echo $!; exit 3'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let closed = false
    child.on('close', () => (closed = true))
    const [line] = (await once(child.stdout, 'data')) as [Buffer] // read without closing the pipe
    const grandchild = Number(String(line).trim())
    const started = Date.now()
    const exit = await monitor.watch(child).exited
    expect(exit.code).toBe(3)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(closed).toBe(false) // Node's 'close' still waits for the grandchild's end of the pipe
    process.kill(grandchild, 'SIGKILL')
  })
})
