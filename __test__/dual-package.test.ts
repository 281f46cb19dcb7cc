// One exitwatch per process whatever mix of `import` and `require` loads it: the ESM entries
// re-export the CommonJS build, so nothing is duplicated. Runs against the built package.
import { describe, expect, it } from 'vitest'
import { runFixture } from './helpers.js'

describe('import and require in one process', () => {
  for (const order of ['import-first', 'require-first']) {
    it(`share one monitor, one SIGCHLD listener, one spawn wrapper and one error class (${order})`, async () => {
      const r = await runFixture('dual-load.mjs', [order])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({
        sigchldListeners: 1,
        spawnWrappers: 1,
        sameMonitor: true,
        sameMetrics: true,
        errors: { codes: ['EINVAL', 'EINVAL'], isAcross: [true, true], instanceofAcross: [true, true] },
        exitCode: 7,
        watched: 0,
      })
    })
  }
})
