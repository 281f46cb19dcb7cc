// Status sources beyond waitid: the kernel's proc connector for processes that are not ours
// (where PIDFD_INFO_EXIT is missing: emulated with EXITWATCH_DISABLE_PIDFD_INFO=1), and what
// each exit cost (usage).
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ExitMonitor, supervise, type ExitInfo, type SupervisorEvent } from '../dist/esm/index.js'
import { fixture, firstNumber, foreignZombie, watchingPid, procState, requires, run, runFixture, RUN_AS_NOBODY, scaled, sh, timeScale, tool, waitFor } from './helpers.js'

const monitor = ExitMonitor.shared()
const caps = monitor.capabilities()
// The connector is a status source of the pidfd engine only (the poll engine reads /proc).
const connector = caps.procConnector && caps.engine === 'pidfd'
const noPidfdInfo = { ...process.env, EXITWATCH_DISABLE_PIDFD_INFO: '1' }
if (!connector) {
  console.log(
    caps.engine === 'pidfd'
      ? 'SKIPPED (proc connector tests): it cannot be opened here; run in the initial network, PID and time namespaces (as root or with CAP_NET_ADMIN before Linux 6.6)'
      : 'SKIPPED (proc connector tests): no pidfds here (the poll engine does not use the connector)',
  )
}

/** Runs a fixture of __test__/fixtures/sources with extra environment; parses its JSON line. */
async function sourcesFixture(name: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<any> {
  const saved = { ...process.env }
  Object.assign(process.env, env)
  try {
    const r = await runFixture(`sources/${name}`, args, 120_000)
    expect(r.stderr).toBe('')
    return JSON.parse(r.stdout)
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
    Object.assign(process.env, saved)
  }
}

interface ForeignResult {
  expected: { code: number | null; signal: string | null }
  exit: ExitInfo
}

describe('the proc connector', () => {
  it('is reported by capabilities()', () => {
    expect(typeof connector).toBe('boolean')
  })

  it.skipIf(!connector)('gives the exact status of a process that is not ours after its owner reaped it, when PIDFD_INFO_EXIT is missing [kernel]', async () => {
    const out = await sourcesFixture('reaped-foreign.mjs', noPidfdInfo)
    expect(out.capabilities).toMatchObject({ pidfdInfoExit: false, procConnector: true })
    expect(out.results).toHaveLength(4)
    for (const { expected, exit } of out.results as ForeignResult[]) {
      expect(exit).toMatchObject({ ...expected, source: 'proc-connector', reaped: false, usage: null })
    }
    expect(out.results.slice(0, 3).every((r: { listening: boolean }) => r.listening)).toBe(true)
    expect(out.overruns).toBe(0)
  })

  // The kernel wakes the pidfd and the owner (and a parent that ignores SIGCHLD reaps the
  // child in its own exit) before it queues the exit's event: the monitor can find a process
  // gone with its event still to come, and must wait for it.
  it.skipIf(!connector)('waits for the exit event of a process reaped before its event was queued: 2,000 exits (fewer under emulation), none unknown [kernel]', async (context) => {
    requires(context, tool('perl', 'apt-get install perl-base'))
    const exits = Math.round(2000 / timeScale)
    const out = await sourcesFixture('foreign-race.mjs', noPidfdInfo, [String(exits), '32'])
    expect(out).toMatchObject({ exits, unknown: 0, wrong: 0, pidfdInfoExit: false, missed: 0, overruns: 0 })
    // Exact from the event, or from /proc while the kernel was releasing the process (state X).
    expect(Object.keys(out.bySource).filter((source) => source !== 'proc-connector' && source !== 'proc-stat')).toEqual([])
    console.log(`foreign-race: ${out.waits} of ${exits} exits waited for their connector event`)
  })

  it.skipIf(!connector)('keeps listening for a process watched after an idle moment (each one outlives the linger)', async () => {
    const out = await sourcesFixture('relisten.mjs', noPidfdInfo)
    expect(out.exits).toEqual(Array.from({ length: 3 }, () => ({ code: 9, source: 'proc-connector' })))
  })

  it('without it (or without root) such a status is unknown, never a wrong code', async () => {
    const out = await sourcesFixture('reaped-foreign.mjs', { ...noPidfdInfo, EXITWATCH_PROC_CONNECTOR: 'off' })
    for (const { expected, exit } of out.results as ForeignResult[]) {
      // The zombie may be caught before the shell reaps it; after that nothing has the status.
      if (exit.source === 'proc-stat') expect(exit).toMatchObject(expected)
      else expect(exit).toMatchObject({ status: 'unknown', source: 'none', code: null, signal: null })
    }
  })

  it.skipIf(!connector)('rescues every child_process exit that libuv reaped first: 400 /bin/true, none unknown, then closes its socket', async () => {
    const out = await sourcesFixture('child-process-race.mjs', noPidfdInfo, ['400'])
    expect(out).toMatchObject({ exits: 400, unknown: 0, wrong: 0, pidfdInfoExit: false, procConnector: true, connectorOverruns: 0 })
    expect(out.bySource.none ?? 0).toBe(0)
    // Exits that libuv's report delivered are forgotten by the connector too: it closes.
    expect(out.listeningAfter).toBe(false)
  })

  it('never reports a code different from libuv’s, with or without it', async () => {
    const out = await sourcesFixture('child-process-race.mjs', { ...noPidfdInfo, EXITWATCH_PROC_CONNECTOR: 'off' }, ['200'])
    expect(out).toMatchObject({ exits: 200, wrong: 0 })
    expect(out.bySource['proc-connector'] ?? 0).toBe(0)
  })

  it('keeps its socket closed while nothing is watched', () => {
    // This process watches nothing now; the socket lingers at most a second after a watch.
    expect(monitor.stats().procConnectorListening).toBe(false)
  })
})

/** A grandchild running burn.mjs (64 MiB, 300 ms of CPU) whose parent never reaps it. */
async function burningForeign(): Promise<{ pid: number; stop: () => void }> {
  const parent = spawn('sh', ['-c', `"${process.execPath}" "${fixture('sources/burn.mjs')}" & echo $!; exec sleep 30`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return { pid: await firstNumber(parent), stop: () => parent.kill('SIGKILL') }
}

const MIB = 1024

function expectBurnUsage(exit: ExitInfo, memory: 'measured' | 'absent'): void {
  expect(exit.code).toBe(7)
  const usage = exit.usage!
  expect(usage).not.toBeNull()
  // 300 ms of user CPU in the loop, plus Node's start-up; far less than 10 s in all.
  expect(usage.userCpuUs).toBeGreaterThanOrEqual(300_000)
  expect(usage.userCpuUs + usage.systemCpuUs).toBeLessThan(10_000_000)
  if (memory === 'measured') {
    expect(usage.maxRssKiB).toBeGreaterThanOrEqual(64 * MIB)
    expect(usage.maxRssKiB).toBeLessThan(1024 * MIB)
  } else {
    expect(usage.maxRssKiB).toBeNull()
  }
}

describe('a zombie whose status /proc hides', () => {
  // /proc/<pid>/stat shows a zombie's exit code only to readers allowed to ptrace it, and 0 to
  // others: a 0 from there is no status.
  it('is not reported from the 0 that /proc shows other users, but once its parent reaps it [needs root, a checkout other users can read]', async (context) => {
    requires(context, RUN_AS_NOBODY)
    const { parent, pid } = await foreignZombie(7)
    const cli = fixture('../../bin/exitwatch.mjs')
    const watcher = monitor.spawn(process.execPath, [cli, 'wait', '--json', String(pid)], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] })
    // The zombie stays until the watcher (a second Node, slow to start on a busy machine)
    // watches it; then its parent dies and init reaps it.
    await waitFor(() => watchingPid(watcher.pid, pid), scaled(60_000))
    await new Promise((resolve) => setTimeout(resolve, scaled(100)))
    parent.kill('SIGKILL')
    let out = ''
    for await (const chunk of watcher.stdout!) out += String(chunk)
    expect((await watcher.exited).code).toBe(0)
    const exit = JSON.parse(out)
    if (monitor.capabilities().pidfdInfoExit) expect(exit).toMatchObject({ pid, code: 7, status: 'exited', source: 'pidfd-info' })
    else expect(exit).toMatchObject({ pid, code: null, status: 'unknown', source: 'none' })
  })
})

describe('usage per exit', () => {
  it('comes with CPU and peak memory from waitid, and CPU only from a zombie’s /proc/<pid>/stat', async () => {
    const out = await sourcesFixture('usage.mjs', {})
    expect(out.reaped).toMatchObject({ source: 'waitid', reaped: true })
    expectBurnUsage(out.reaped, 'measured')
    expect(out.zombie.source).toBe('proc-stat')
    expectBurnUsage(out.zombie, 'absent')
  })

  it.skipIf(!connector)('is null where the source keeps none (the proc connector)', async () => {
    const out = await sourcesFixture('reaped-foreign.mjs', noPidfdInfo)
    for (const { exit } of out.results as ForeignResult[]) expect(exit.usage).toBeNull()
  })

  it('is printed by exitwatch wait --json', async () => {
    const burner = await burningForeign()
    const r = await run(process.execPath, [fixture('../../bin/exitwatch.mjs'), 'wait', '--json', String(burner.pid)], 60_000)
    burner.stop()
    expect(r.code).toBe(0)
    const exit = JSON.parse(r.stdout.trim())
    expect(exit).toMatchObject({ pid: burner.pid, source: 'proc-stat' })
    expectBurnUsage(exit, 'absent')
  })

  it('reaches supervisor exit events', async () => {
    const burner = await burningForeign()
    const supervisor = supervise(() => burner.pid, { restart: 'never' })
    const events: SupervisorEvent[] = []
    for await (const event of supervisor.events()) events.push(event)
    burner.stop()
    const exit = events.find((e) => e.type === 'exit')
    expect(exit?.type).toBe('exit')
    if (exit?.type === 'exit') expectBurnUsage(exit.exit, 'absent')
    await waitFor(() => procState(burner.pid) === null)
  })
})
