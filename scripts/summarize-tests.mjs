// Adds up the results of one test run into one closing line: cargo's and vitest's reports, and
// `*.skipped` files (one line per test or step that could not run here, with the reason).
// Every skip is listed with its reason, then every failure with the first line of its error,
// last, so that the end of a long log names what failed.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2]
let passed = 0
let skipped = 0
const failures = []
for (const file of readdirSync(dir).sort()) {
  const text = readFileSync(join(dir, file), 'utf8')
  if (file.endsWith('.json')) {
    const report = JSON.parse(text)
    const runtime = file.slice('vitest-'.length, -'.json'.length)
    passed += report.numPassedTests
    skipped += report.numPendingTests + report.numTodoTests
    for (const suite of report.testResults) {
      for (const test of suite.assertionResults) {
        if (test.status === 'pending' || test.status === 'skipped') {
          console.log(`skipped (${runtime}): ${test.fullName}${test.meta?.skipReason ? ` — ${test.meta.skipReason}` : ''}`)
        } else if (test.status === 'failed') {
          const reason = (test.failureMessages?.[0] ?? '').split('\n')[0]
          failures.push(`FAILED (${runtime}): ${test.fullName} — ${reason}`)
        }
      }
      // A file that failed before its tests ran (a syntax error, a throwing hook) has none listed.
      if (suite.status === 'failed' && suite.assertionResults.length === 0) {
        failures.push(`FAILED (${runtime}): ${suite.name} — ${(suite.message ?? '').split('\n')[0]}`)
      }
    }
  } else if (file.endsWith('.skipped')) {
    const lines = text.split('\n').filter(Boolean)
    skipped += lines.length
    for (const line of lines) console.log(`skipped: ${line}`)
  } else {
    for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; (\d+) filtered out/g)) {
      passed += Number(m[1])
      skipped += Number(m[3]) + Number(m[4])
    }
    // cargo lists its failed tests by name under "failures:", each indented by four spaces.
    for (const block of text.matchAll(/\nfailures:\n((?: {4}\S+\n)+)/g)) {
      for (const name of block[1].trim().split(/\s+/)) failures.push(`FAILED (cargo): ${name}`)
    }
  }
}
for (const failure of failures) console.log(failure)
console.log(`\n${passed} passed, ${failures.length} failed, ${skipped} skipped`)
process.exit(failures.length === 0 && passed > 0 ? 0 : 1)
