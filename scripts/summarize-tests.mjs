// Adds up the results of one test run into one closing line: cargo's and vitest's reports, and
// `*.skipped` files (one line per test or step that could not run here, with the reason).
// Every skip is listed with its reason before the totals.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2]
let passed = 0
let failed = 0
let skipped = 0
for (const file of readdirSync(dir).sort()) {
  const text = readFileSync(join(dir, file), 'utf8')
  if (file.endsWith('.json')) {
    const report = JSON.parse(text)
    const runtime = file.slice('vitest-'.length, -'.json'.length)
    passed += report.numPassedTests
    failed += report.numFailedTests
    skipped += report.numPendingTests + report.numTodoTests
    for (const suite of report.testResults) {
      for (const test of suite.assertionResults) {
        if (test.status === 'pending' || test.status === 'skipped') {
          console.log(`skipped (${runtime}): ${test.fullName}${test.meta?.skipReason ? ` — ${test.meta.skipReason}` : ''}`)
        }
      }
    }
  } else if (file.endsWith('.skipped')) {
    const lines = text.split('\n').filter(Boolean)
    skipped += lines.length
    for (const line of lines) console.log(`skipped: ${line}`)
  } else {
    for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; (\d+) filtered out/g)) {
      passed += Number(m[1])
      failed += Number(m[2])
      skipped += Number(m[3]) + Number(m[4])
    }
  }
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)
