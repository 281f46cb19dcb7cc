// Adds up the cargo and vitest results of one test run into one closing line.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2]
let passed = 0
let failed = 0
let skipped = 0
for (const file of readdirSync(dir)) {
  const text = readFileSync(join(dir, file), 'utf8')
  if (file.endsWith('.json')) {
    const report = JSON.parse(text)
    passed += report.numPassedTests
    failed += report.numFailedTests
    skipped += report.numPendingTests + report.numTodoTests
    for (const suite of report.testResults) {
      for (const test of suite.assertionResults) {
        if (test.status === 'pending' || test.status === 'skipped') console.log(`skipped: ${test.fullName}`)
      }
    }
  } else {
    for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)) {
      passed += Number(m[1])
      failed += Number(m[2])
      skipped += Number(m[3])
    }
  }
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)
