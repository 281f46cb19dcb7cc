// A watched (or, in subreaper mode, claimed) ChildProcess always gets its exact status, even
// where libuv reaps it before the monitor thread reads it and the kernel keeps no record
// (no PIDFD_INFO_EXIT: Linux < 6.15, emulated here by a seccomp filter); two watches of one
// process share one exit.
import { describe, expect, it } from 'vitest'
import { fixture, runFixture, scaled, timeScale } from './helpers.js'
import { runUnderSeccomp, seccompTool } from './seccomp/index.js'

interface Report {
  pidfdInfoExit: boolean
  sources: Record<string, number>
  wrong: number
  differingWatches: number
}

const parse = (stdout: string): Report => JSON.parse(stdout) as Report
const total = (r: Report): number => Object.values(r.sources).reduce((a, b) => a + b, 0)
const tool = seccompTool()
/** 400 exits; fewer under emulation (the kernel VM), where each costs ten times as much. */
const exits = Math.ceil(400 / timeScale)

describe.each(['watch', 'subreaper'])('child_process exits (%s) [kernel]', (mode) => {
  it('on this kernel: every status exact, from the kernel where it kept one', async () => {
    const r = await runFixture('child-process-exits.mjs', [mode, String(exits)], scaled(60_000))
    expect(r.stderr).toBe('')
    const report = parse(r.stdout)
    expect(report).toMatchObject({ wrong: 0, differingWatches: 0 })
    expect(total(report)).toBe(exits)
    expect(report.sources.none).toBeUndefined()
    // With PIDFD_INFO_EXIT the kernel always has it; the owner's report is not needed.
    if (report.pidfdInfoExit) expect(report.sources['child-process']).toBeUndefined()
  })

  it.skipIf('missing' in tool)(
    `without PIDFD_INFO_EXIT (seccomp): libuv's exact status fills in, never unknown${'missing' in tool ? ` — skipped: ${tool.missing}` : ''}`,
    async () => {
      const r = await runUnderSeccomp('no-pidfd-info', [fixture('child-process-exits.mjs'), mode, String(exits)], scaled(60_000))
      expect(r.stderr).toBe('')
      const report = parse(r.stdout)
      expect(report).toMatchObject({ pidfdInfoExit: false, wrong: 0, differingWatches: 0 })
      expect(total(report)).toBe(exits)
      expect(report.sources.none).toBeUndefined()
      expect(report.sources['pidfd-info']).toBeUndefined()
    },
  )
})

describe('watched child_process exits without pidfds (the poll engine) [kernel]', () => {
  it.skipIf('missing' in tool)(
    `every status exact, two watches one exit${'missing' in tool ? ` — skipped: ${tool.missing}` : ''}`,
    async () => {
      const r = await runUnderSeccomp('pidfd-enosys', [fixture('child-process-exits.mjs'), 'watch', String(exits)], scaled(60_000))
      expect(r.stderr).toBe('')
      const report = parse(r.stdout)
      expect(report).toMatchObject({ wrong: 0, differingWatches: 0 })
      expect(total(report)).toBe(exits)
      expect(report.sources.none).toBeUndefined()
    },
  )
})
