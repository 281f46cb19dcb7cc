import { describe, expect, it } from 'vitest'
import { canUnshare, expectForeignExit, NAMESPACES, NATIVE_CPU, PIDFD_INFO_EXIT, requires, run, runFixture, runFixtureAsPid1, fixture, scaled } from './helpers.js'

describe('the addon never holds the event loop by itself', () => {
  it('a script that watches nothing ends on its own', async (context) => {
    requires(context, NATIVE_CPU)
    const r = await runFixture('loop-ends.mjs', ['nothing'], 10_000)
    expect(r.stderr).toBe('')
    expect(r).toMatchObject({ code: 0, signal: null })
    expect(r.ms).toBeLessThan(5_000)
  })

  it('a script whose watched processes all exited ends on its own', async (context) => {
    requires(context, NATIVE_CPU)
    const r = await runFixture('loop-ends.mjs', ['all-exited'], 10_000)
    expect(r).toMatchObject({ code: 0, signal: null, stdout: '0,1,2\n' })
  })

  it('an unref()ed handle does not hold the loop', async (context) => {
    requires(context, NATIVE_CPU)
    const r = await runFixture('loop-ends.mjs', ['unref'], 10_000)
    expect(r).toMatchObject({ code: 0, signal: null })
    expect(r.ms).toBeLessThan(5_000)
  })

  it('a pending exited promise does hold the loop until the exit', async (context) => {
    requires(context, PIDFD_INFO_EXIT)
    const r = await runFixture('loop-ends.mjs', ['pending'], 10_000)
    expect(r).toMatchObject({ code: 0, signal: null, stdout: 'exited 0\n' })
    expect(r.ms).toBeGreaterThanOrEqual(900)
  })

  it.each(['child-unref-after', 'child-unref-before'])(
    'watch(child) follows child.unref() (%s): the loop ends while the child runs',
    async (mode) => {
      const r = await runFixture('loop-ends.mjs', [mode], 10_000)
      expect(r).toMatchObject({ code: 0, signal: null, stdout: '' })
      expect(r.ms).toBeLessThan(15_000) // far below the child's 30 s, even under emulation
    },
  )

  it('watch(child) follows child.ref() too: the loop waits for the exit again', async () => {
    const r = await runFixture('loop-ends.mjs', ['child-ref-again'], 10_000)
    expect(r).toMatchObject({ code: 0, signal: null, stdout: 'exited 0\n' })
    expect(r.ms).toBeGreaterThanOrEqual(900)
  })
})

describe('out of descriptors', () => {
  it('watch() fails with a typed EMFILE that says how to raise the limit; earlier watches keep working', async () => {
    const r = await run('sh', ['-c', `ulimit -n 60 && exec "${process.execPath}" "${fixture('emfile.mjs')}"`])
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    expect(result.watched).toBeGreaterThan(0)
    expect(result.error).toMatchObject({ code: 'EMFILE', name: 'ExitwatchError' })
    expect(result.error.message).toMatch(/ulimit -n|LimitNOFILE/)
    expect(result.first).toMatchObject({ code: 3, status: 'exited' })
  })
})

describe('pid reuse', () => {
  it('CI runs the namespace tests (root and unshare available)', () => {
    if (process.env.CI) expect(canUnshare).toBe(true)
  })

  it('kill() after the pid was recycled does not signal the new process [needs root + unshare] [kernel]', async (context) => {
    requires(context, NAMESPACES, NATIVE_CPU)
    const r = await runFixtureAsPid1('pid-reuse.mjs', [], scaled(20_000))
    expect(r.stderr).toBe('')
    const result = JSON.parse(r.stdout)
    expect(result.impostorPid).toBe(result.pid) // the pid really was recycled
    expect(result.kill).toBe('ESRCH')
    expect(['S', 'R']).toContain(result.impostorState)
    // Its parent shell reaped it: the fixture's monitor never owned it. Judged by what the
    // fixture's own namespace offers (no proc connector outside the initial PID namespace).
    expectForeignExit(result.exit, { pid: result.pid, code: 0, status: 'exited' }, result.capabilities)
  })
})
