import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { ExitMonitor } from '../dist/esm/index.js'
import { fixture, PIDFD_INFO_EXIT, requires, runFixture, scaled, sh, SUBREAPER, timeScale, waitFor } from './helpers.js'

const monitor = ExitMonitor.shared()

describe('exits() iterator', () => {
  it('yields every observed exit in order and stops delivering at break [kernel]', async () => {
    const iterator = monitor.exits()
    const children = [sh('sleep 0.05; exit 1'), sh('sleep 0.15; exit 2'), sh('sleep 0.25; exit 3')]
    const pids = new Set(children.map((c) => c.pid))
    children.forEach((c) => monitor.watch(c))
    const codes: number[] = []
    for await (const exit of iterator) {
      if (pids.has(exit.pid)) codes.push(exit.code!)
      if (codes.length === 3) break
    }
    expect(codes).toEqual([1, 2, 3])
    const before = monitor.stats().subscriptions
    await monitor.watch(sh('exit 4')).exited
    expect(iterator.pending).toBe(0) // nothing reached it after break
    expect(await iterator.next()).toEqual({ value: undefined, done: true })
    expect(monitor.stats().subscriptions).toBe(before)
  })

  it('ends on abort, rejecting a pending next() with the abort reason', async () => {
    const controller = new AbortController()
    const iterator = monitor.exits({ signal: controller.signal })
    const next = iterator.next()
    controller.abort(new Error('enough'))
    await expect(next).rejects.toThrow('enough')
    expect(await iterator.next()).toMatchObject({ done: true })
  })

  it('a listener that throws is counted and disturbs no other consumer', async (context) => {
    requires(context, PIDFD_INFO_EXIT)
    const errorsBefore = monitor.stats().listenerErrors
    using _thrower = monitor.onExit(() => {
      throw new Error('consumer bug')
    })
    const seen: number[] = []
    using _listener = monitor.onExit((exit) => seen.push(exit.pid))
    const child = sh('exit 0')
    await monitor.watch(child).exited
    await new Promise((r) => setTimeout(r, 10))
    expect(seen).toContain(child.pid)
    expect(monitor.stats().listenerErrors).toBeGreaterThan(errorsBefore)
    expect((await monitor.watch(sh('exit 3')).exited).code).toBe(3)
  })
})

describe('pre-start subscriptions', () => {
  it('claim resolves a daemon that exited (and was reaped) before its pid was known [subreaper fixture]', async (context) => {
    requires(context, SUBREAPER)
    const r = await runFixture('claim-late.mjs')
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    expect(result.exit).toMatchObject({ pid: result.pid, code: 37, status: 'exited' })
    expect(result.orphan).toBe(true)
    expect(result.withoutSubscription).toBe('ESRCH') // what happens without one
  })

  it('claim watches a process that is still running', async (context) => {
    requires(context, PIDFD_INFO_EXIT)
    using subscription = monitor.subscribe()
    const child = spawn('sh', ['-c', 'sleep 0.2; exit 8'])
    const handle = subscription.claim(child.pid!)
    expect(handle.exit).toBeUndefined()
    expect((await handle.exited).code).toBe(8)
  })

  it('claim answers from the buffer for an exit the subscription saw', async (context) => {
    requires(context, PIDFD_INFO_EXIT)
    using subscription = monitor.subscribe()
    const child = sh('exit 12')
    const reaped = once(child, 'exit')
    await monitor.watch(child).exited
    await reaped // reaped by Node: the pid could be reused from now on
    const handle = subscription.claim(child.pid!)
    expect(handle.exit).toMatchObject({ pid: child.pid, code: 12 })
    expect((await handle.exited).code).toBe(12)
    expect(() => handle.kill()).toThrow(expect.objectContaining({ code: 'ESRCH' }))
  })

  it('dispose is synchronous, idempotent, and refuses later claims', () => {
    const subscription = monitor.subscribe()
    const before = monitor.stats().subscriptions
    subscription[Symbol.dispose]()
    subscription[Symbol.dispose]()
    expect(monitor.stats().subscriptions).toBe(before - 1)
    expect(() => subscription.claim(1)).toThrow(expect.objectContaining({ code: 'EINVAL' }))
  })

  it('disposing everything inside process.on("exit") is safe', async () => {
    const r = await runFixture('dispose-on-exit.mjs')
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'disposed, subscriptions left: 0\n' })
  })
})

describe('10,000 exits in bursts, three iterators, one slow', () => {
  it('every exit reaches each iterator once, in one order, and the slow one delays nobody [kernel]', async (context) => {
    requires(context, SUBREAPER)
    const total = Math.ceil(10 / timeScale) * 1_000 // whole bursts of 1,000; fewer under emulation
    const r = await runFixture('burst.mjs', [String(total)], scaled(120_000))
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    for (const consumer of result.consumers) expect(consumer).toMatchObject({ count: total, unique: total })
    expect(result.sameOrder).toBe(true)
    expect(result.reapedOrphans).toBe(total)
    const [fast1, fast2, slow] = result.consumers
    expect(Math.max(fast1.ms, fast2.ms)).toBeLessThan(slow.ms)
  })
})

describe('worker_threads', () => {
  it('delivers to the right environment; a terminated worker releases its subscriptions [kernel]', async () => {
    const mainIterator = monitor.exits()
    const baseline = monitor.stats().subscriptions
    const worker = new Worker(fixture('worker.mjs'))
    const messages: Array<{ kind: string; pid: number; code?: number }> = []
    worker.on('message', (m) => messages.push(m))
    // The worker iterates from before it posts 'watching' (its start is slow under emulation).
    await waitFor(() => messages.some((m) => m.kind === 'watching'), scaled(10_000))
    const mainChild = sh('sleep 0.15; exit 22')
    const mainHandle = monitor.watch(mainChild)
    await waitFor(() => messages.some((m) => m.kind === 'exit'), scaled(10_000))
    const watching = messages.find((m) => m.kind === 'watching')!
    expect(messages.find((m) => m.kind === 'exit')).toMatchObject({ pid: watching.pid, code: 21 })
    expect((await mainHandle.exited).code).toBe(22)
    // The worker's own watch resolved in the worker only; the main thread's iterator sees both.
    const seenByMain = new Set<number>()
    for await (const exit of mainIterator) {
      seenByMain.add(exit.pid)
      if (seenByMain.has(watching.pid) && seenByMain.has(mainChild.pid!)) break
    }
    expect(monitor.stats().subscriptions).toBe(baseline) // + the worker's iterator − our break
    // The worker's iterator got the main thread's exit too (its message may still be on its way).
    await waitFor(() => messages.some((m) => m.kind === 'seen' && m.pid === mainChild.pid), scaled(10_000))
    await worker.terminate() // mid-iteration
    await new Promise((r) => setTimeout(r, 50))
    expect(monitor.stats().subscriptions).toBe(baseline - 1)
    // The main thread keeps working.
    const after = monitor.exits()
    const child = sh('exit 23')
    monitor.watch(child)
    for await (const exit of after) if (exit.pid === child.pid) break
  })
})
