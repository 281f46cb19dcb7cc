// Runs every benchmark and prints one table, with ratios measured in this same run.
//   npm run bench              quick mode
//   npm run bench -- --full    the large runs (10,000 processes, 500 samples, 10 s idle)
//   add --write to also write bench/RESULTS.md
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { machine, native, percentile, root } from './lib.mjs'

const full = process.argv.includes('--full')
const config = full
  ? { samples: 500, idleCounts: [0, 1000, 10000], storms: [1000, 10000], idle: [10000, 10], heap: 10000, throughput: 10000, overheadMs: 1000 }
  : { samples: 100, idleCounts: [0, 1000], storms: [1000], idle: [1000, 3], heap: 2000, throughput: 2000, overheadMs: 300 }

execFileSync('cargo', ['build', '--release', '--quiet', '-p', 'exitwatch-bench'], { cwd: root, stdio: 'inherit' })

/** Runs one benchmark program and parses the JSON line it prints. */
function measure(command, args) {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 })
  const line = r.stdout.trim().split('\n').pop()
  if (r.status !== 0 || !line) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(line)
}
const node = (script, ...args) => measure(process.execPath, ['--expose-gc', `bench/${script}`, ...args.map(String)])
const us = (ns) => ns / 1000

const rows = []
const row = (measurement, exitwatch, childProcess, floor, goal = '') => rows.push({ measurement, exitwatch, childProcess, floor, goal })
const fmt = (value, digits = 0) => (value === undefined || value === null ? '—' : Number(value).toFixed(digits))
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—')

// Every method's idle processes are its own children (the floor's too), as in a service that
// starts its workers with child_process; exitwatch here watches child_process children.
for (const idle of config.idleCounts) {
  process.stderr.write(`latency with ${idle} idle siblings...\n`)
  const watched = node('latency.mjs', 'exitwatch-watch', config.samples, idle).latencyNs
  const childProcess = node('latency.mjs', 'child_process', config.samples, idle).latencyNs
  const floor = measure(native('pidfd-floor'), ['latency', config.samples, idle, native('exit-stamp')].map(String)).latencyNs
  for (const p of [50, 90, 99]) {
    const [w, c, f] = [watched, childProcess, floor].map((s) => us(percentile(s, p)))
    row(`latency p${p} (µs), ${idle} idle siblings — handle.exited of a watched child_process child`, fmt(w), fmt(c), fmt(f), `${p === 50 ? '≤ 1.3× floor: ' : ''}${ratio(w, f)}${p === 50 ? '' : ' floor'}; vs child_process ${ratio(w, c)}`)
  }
}

for (const count of config.storms) {
  process.stderr.write(`storm of ${count}...\n`)
  const e = node('storm.mjs', 'exitwatch', count)
  const c = node('storm.mjs', 'child_process', count)
  const f = measure(native('pidfd-floor'), ['storm', String(count)])
  row(`storm ${count}: ms to last exit`, fmt(e.ms, 1), fmt(c.ms, 1), fmt(f.ms, 1), `≤ 1.1× floor: ${ratio(e.ms, f.ms)}; vs child_process ${ratio(e.ms, c.ms)}`)
  row(`storm ${count}: exits lost`, e.lost, c.lost, count - f.received, '0')
}

process.stderr.write('idle cost and memory...\n')
const [idleCount, idleSeconds] = config.idle
const idle = node('idle.mjs', idleCount, idleSeconds)
row(`idle ${idleCount} watched, ${idleSeconds} s: monitor wake-ups`, idle.wakeups, '', '', '0')
row(`idle ${idleCount} watched, ${idleSeconds} s: voluntary context switches`, idle.voluntarySwitches, '', '', '0')
row(`idle ${idleCount} watched, ${idleSeconds} s: monitor CPU (ms)`, fmt(idle.cpuMs, 1), '', '', '0')
row(`memory: Node RSS growth per watched process (B)`, fmt(idle.rssBytesPerProcess), '', '', '')
const heap = measure(native('heap-per-watch'), [String(config.heap)])
row(`memory: Rust heap per watched process at ${config.heap} (B)`, fmt(heap.heapBytesPerProcess, 1), '', '', '≤ 256')
row(`memory: descriptors per watched process`, fmt(heap.fdsPerProcess, 2), '', '', '1')

process.stderr.write('delivery throughput...\n')
for (const iterators of [1, 3]) {
  const t = node('throughput.mjs', config.throughput, iterators)
  row(`throughput: exits/s into ${iterators} iterator(s)`, fmt(t.exitsPerSecond), '', '', iterators === 1 ? '≥ 200,000' : '')
  row(`throughput: monitor thread CPU per exit (µs), ${iterators} iterator(s)`, fmt(t.monitorCpuUsPerExit, 1), '', '', '')
  row(`throughput: whole-process CPU per exit (µs), ${iterators} iterator(s)`, fmt(t.processCpuUsPerExit, 1), '', '', '')
}

process.stderr.write('watch/claim overhead...\n')
const overhead = node('overhead.mjs', config.overheadMs)
const baseline = overhead['baseline: process.kill(pid, 0)']
for (const [name, hz] of Object.entries(overhead)) {
  row(`calls/s: ${name}`, fmt(hz), '', '', name.startsWith('baseline') ? '' : `${ratio(baseline, hz)} the cost of one kill(2)`)
}

const header = '| measurement | exitwatch | child_process | native floor | ratio / goal |\n|---|---:|---:|---:|---|'
const table = [header, ...rows.map((r) => `| ${r.measurement} | ${r.exitwatch} | ${r.childProcess} | ${r.floor} | ${r.goal} |`)].join('\n')
const described = `${machine()}, ${full ? 'full' : 'quick'} mode`
console.log(`\n${described}\n\n${table}\n`)
if (process.argv.includes('--write')) {
  const path = `${root}bench/RESULTS.md`
  const notes = readFileSync(path, 'utf8').split('<!-- results -->')[1] ?? '\n'
  writeFileSync(path, `# Benchmark results\n\nMeasured by \`npm run bench -- ${full ? '--full ' : ''}--write\` on ${new Date().toISOString().slice(0, 10)}: ${described}.\n\n${table}\n<!-- results -->${notes}`)
}
