import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ExitMonitor, supervise, type SupervisorEvent } from '../dist/esm/index.js'
import { fixture, procState, waitFor } from './helpers.js'

const collect = async (events: AsyncIterable<SupervisorEvent>) => {
  const all: SupervisorEvent[] = []
  for await (const event of events) all.push(event)
  return all
}
const counterFile = () => {
  const file = join(mkdtempSync(join(tmpdir(), 'exitwatch-sup-')), 'runs')
  writeFileSync(file, '0')
  return file
}

describe('supervise()', () => {
  it('on-failure: fails twice, then succeeds: started 3 times with growing delays', async () => {
    const runs = counterFile()
    // Each run counts itself; runs 1 and 2 exit 1, run 3 exits 0.
    const script = `n=$(($(cat ${runs}) + 1)); echo $n > ${runs}; [ $n -ge 3 ]`
    const supervisor = supervise(() => spawn('sh', ['-c', script]), {
      restart: 'on-failure',
      minUptimeMs: 0,
      backoff: { initialMs: 50, factor: 3, jitter: 0 },
    })
    const events = await collect(supervisor.events())
    await supervisor.done
    expect(events.filter((e) => e.type === 'start')).toHaveLength(3)
    const delays = events.flatMap((e) => (e.type === 'restart' ? [e.delayMs] : []))
    expect(delays).toEqual([50, 150])
    const exits = events.flatMap((e) => (e.type === 'exit' ? [[e.exit.code, e.failed]] : []))
    expect(exits).toEqual([[1, true], [1, true], [0, false]])
    expect(events.at(-1)).toMatchObject({ type: 'stopped', runs: 3 })
    expect(supervisor.status()).toMatchObject({ state: 'finished', runs: 3, pid: null, lastExit: { code: 0 } })
    expect(readFileSync(runs, 'utf8').trim()).toBe('3')
  })

  it('start-limit: a command that always fails stops after N starts with a give-up event', async () => {
    const supervisor = supervise(() => spawn('sh', ['-c', 'exit 2']), {
      restart: 'always',
      startLimit: { burst: 4, intervalMs: 60_000 },
      backoff: { initialMs: 10, jitter: 0 },
    })
    const events = await collect(supervisor.events())
    expect(events.filter((e) => e.type === 'start')).toHaveLength(4)
    expect(events.at(-1)).toMatchObject({ type: 'give-up', runs: 4 })
    expect(supervisor.status().state).toBe('gave-up')
  })

  it('a run shorter than minUptimeMs counts as a failure even with a success code', async () => {
    const supervisor = supervise(() => spawn('sh', ['-c', 'exit 0']), {
      restart: 'on-failure',
      minUptimeMs: 10_000,
      startLimit: { burst: 2, intervalMs: 60_000 },
      backoff: { initialMs: 10 },
    })
    const events = await collect(supervisor.events())
    expect(events.filter((e) => e.type === 'exit').every((e) => e.type === 'exit' && e.failed && e.exit.code === 0)).toBe(true)
    expect(events.at(-1)?.type).toBe('give-up')
  })

  it('stop() during a backoff wait starts nothing more', async () => {
    const supervisor = supervise(() => spawn('sh', ['-c', 'exit 1']), { backoff: { initialMs: 5_000 } })
    const events: SupervisorEvent[] = []
    for await (const event of supervisor.events()) {
      events.push(event)
      if (event.type === 'restart') break
    }
    expect(supervisor.status()).toMatchObject({ state: 'backoff', pid: null })
    expect(supervisor.status().nextRestartAt).toBeGreaterThan(Date.now())
    const started = Date.now()
    await supervisor.stop()
    expect(Date.now() - started).toBeLessThan(1_000)
    await new Promise((r) => setTimeout(r, 100))
    const all = await collect(supervisor.events())
    expect(all.filter((e) => e.type === 'start')).toHaveLength(1)
    expect(all.at(-1)).toMatchObject({ type: 'stopped' })
  })

  it('stop() of a running tree leaves no member, even one that ignores SIGTERM (await using)', async () => {
    const monitor = ExitMonitor.shared()
    let members: number[] = []
    {
      await using supervisor = supervise(() => spawn('sh', [fixture('tree.sh'), '2', '3', '1'], { stdio: 'ignore' }), {
        stop: { timeoutMs: 200 },
      })
      const [start] = await new Promise<SupervisorEvent[]>((resolve) => {
        ;(async () => {
          for await (const e of supervisor.events()) if (e.type === 'start') return resolve([e])
        })()
      })
      const pid = (start as { pid: number }).pid
      await waitFor(() => monitor.descendants(pid).length === 13)
      members = monitor.descendants(pid).map((m) => m.pid)
    } // disposal stops it
    expect(members.filter((pid) => ![null, 'Z'].includes(procState(pid)))).toEqual([])
  })

  it('exit events carry exactly what the kernel reported, code and signal kept apart [kernel]', async () => {
    const children: ReturnType<typeof spawn>[] = []
    const scripts = ['exit 3', 'kill -SEGV $$', 'kill -TERM $$']
    const supervisor = supervise(() => {
      const child = spawn('sh', ['-c', scripts[children.length]!])
      children.push(child)
      return child
    }, { restart: 'always', startLimit: { burst: 3, intervalMs: 60_000 }, backoff: { initialMs: 10 } })
    const nodeExits = new Promise<Array<[number | null, string | null]>>((resolve) => {
      const seen: Array<[number | null, string | null]> = []
      const check = setInterval(async () => {
        if (children.length === 3) {
          clearInterval(check)
          for (const child of children) {
            if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
            seen.push([child.exitCode, child.signalCode])
          }
          resolve(seen)
        }
      }, 5)
    })
    const events = await collect(supervisor.events())
    const exits = events.flatMap((e) => (e.type === 'exit' ? [[e.exit.code, e.exit.signal]] : []))
    expect(exits).toEqual([[3, null], [null, 'SIGSEGV'], [null, 'SIGTERM']])
    expect(await nodeExits).toEqual(exits)
  })
})
