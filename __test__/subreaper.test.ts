import { beforeEach, describe, expect, it } from 'vitest'
import { childrenOf, fixture, NAMESPACES, NATIVE_CPU, requires, run, runFixture, runFixtureAsPid1, scaled, SUBREAPER, timeScale, TINI } from './helpers.js'
import { spawn } from 'node:child_process'
import { once } from 'node:events'

interface Scenario {
  mode: string
  pid: number
  orphanExits: number
  uniqueOrphans: number
  everyCodeOncePerHelper: boolean
  zombies: number
  childCode: number
  syncStatus: number
  foreignCode: number
  workerCode: number
}

const parse = (stdout: string): Scenario => JSON.parse(stdout) as Scenario

describe('PID 1 in a real PID namespace [needs root + unshare]', () => {
  beforeEach((context) => requires(context, NAMESPACES))

  it('reaps 1,000 orphans and reports each once, stealing no one\'s exit; plain Node and tini shown side by side [kernel]', async (context) => {
    requires(context, TINI)
    const helpers = String(Math.ceil(10 / timeScale)) // 100 orphans each; fewer under emulation
    const orphans = 100 * Number(helpers)
    const [withExitwatch, plainNode, underTini] = [
      parse((await runFixtureAsPid1('pid1-scenario.mjs', ['exitwatch', helpers], scaled(60_000))).stdout),
      parse((await runFixtureAsPid1('pid1-scenario.mjs', ['plain', helpers], scaled(60_000))).stdout),
      parse(
        (await run('unshare', ['--pid', '--fork', '--mount-proc', 'tini', '-s', '--', process.execPath, fixture('pid1-scenario.mjs'), 'plain', helpers], scaled(60_000)))
          .stdout,
      ),
    ]
    console.table([withExitwatch, plainNode, underTini].map(({ mode, pid, orphanExits, zombies, childCode, syncStatus, foreignCode, workerCode }) => ({
      setup: `${mode === 'exitwatch' ? 'Node + exitwatch' : 'plain Node'} as ${pid === 1 ? 'PID 1' : 'child of tini'}`,
      'orphan statuses known': orphanExits,
      'zombies left': zombies,
      'child/sync/foreign/worker codes': [childCode, syncStatus, foreignCode, workerCode].join('/'),
    })))

    expect(withExitwatch).toMatchObject({ pid: 1, orphanExits: orphans, uniqueOrphans: orphans, everyCodeOncePerHelper: true, zombies: 0 })
    // Never steal: every owner got its exact code.
    for (const s of [withExitwatch, plainNode, underTini]) {
      expect(s).toMatchObject({ childCode: 5, syncStatus: 6, foreignCode: 42, workerCode: 43 })
    }
    // Without exitwatch, Node as PID 1 leaves every orphan a zombie...
    expect(plainNode).toMatchObject({ pid: 1, orphanExits: 0, zombies: orphans })
    // ...and under tini the zombies are reaped but their statuses never reach Node.
    expect(underTini).toMatchObject({ pid: 2, orphanExits: 0, zombies: 0 })
  })

  it('SIGTERM to a Node PID 1 with installInit() exits with the main child\'s code [kernel]', async (context) => {
    requires(context, NATIVE_CPU)
    expect(await sigtermPid1('child')).toBe(7)
  })

  it('SIGTERM to a Node PID 1 with installInit() and no child ends it (143), which plain PID 1 would ignore', async () => {
    expect(await sigtermPid1('none')).toBe(143)
  })
})

describe('subreaper (not PID 1)', () => {
  beforeEach((context) => requires(context, SUBREAPER))

  it('with no grace period at all, child_process children and synchronous spawns keep their exits', async () => {
    const r = await runFixture('no-grace.mjs', [], 30_000)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ rounds: 20, codes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 31], count: 240 })
  })

  it('collects the orphans of its descendants, each with its code, and leaves no zombie', async () => {
    const r = await runFixture('subreaper.mjs')
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    expect(result.pid).not.toBe(1)
    expect(result.orphans).toBe(50)
    expect(result.codes).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(result.zombies).toBe(0)
  })
})

/** Starts init-pid1.mjs as PID 1, sends its Node process SIGTERM, returns unshare's exit code. */
async function sigtermPid1(mode: string): Promise<number | null> {
  const namespace = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, fixture('init-pid1.mjs'), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [ready] = (await once(namespace.stdout, 'data')) as [Buffer]
  expect(String(ready)).toBe('ready\n')
  const [nodePid] = childrenOf(namespace.pid!)
  process.kill(nodePid!, 'SIGTERM')
  const [code] = (await once(namespace, 'exit')) as [number | null]
  return code
}
