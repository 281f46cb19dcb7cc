// The spawn benchmarks: child_process.spawn, exitwatch watching child_process children and
// exitwatch.spawn on the same workloads, all measured in this run; ratios against child_process
// from this run. Each measurement runs in its own Node process (its own process group, killed
// when it ends), methods back to back; the load average is recorded with every row.
//   npm run bench:spawn                quick mode (a smoke run: small sizes)
//   npm run bench:spawn -- --full      RSS 50/512/2048 MiB, 0/1,000/10,000 idle siblings, 1,000 tasks
//   any size: --rss=50,512 --block-samples=100 --samples=300 --rounds=3 --idle=0,1000 --tasks=1000
//             --widths=1,8 --pool-idle=0,10000 --repeats=3 --methods=child_process,exitwatch-spawn
//   add --write to also write the results into bench/RESULTS.md
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { loadAverage, machine, percentile, root } from './lib.mjs'
import { methods, unavailable } from './spawners.mjs'

const full = process.argv.includes('--full')
const defaults = full
  ? { rss: [50, 512, 2048], blockSamples: [200], samples: [300], rounds: [3], idle: [0, 1000, 10000], tasks: [1000], widths: [1, 8], poolIdle: [0, 10000], repeats: [3] }
  : { rss: [50, 512], blockSamples: [30], samples: [50], rounds: [1], idle: [0, 300], tasks: [100], widths: [1, 8], poolIdle: [0, 300], repeats: [1] }
const option = (name) => {
  const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=`
  const given = process.argv.find((a) => a.startsWith(flag))
  return given ? given.slice(flag.length).split(',').map(Number) : defaults[name]
}
const config = Object.fromEntries(Object.keys(defaults).map((name) => [name, option(name)]))
const [blockSamples, samples, rounds, tasks, repeats] = [config.blockSamples[0], config.samples[0], config.rounds[0], config.tasks[0], config.repeats[0]]
const methodsFlag = process.argv.find((a) => a.startsWith('--methods='))
const requested = methodsFlag ? methodsFlag.slice('--methods='.length).split(',') : Object.keys(methods)
const skipped = requested.filter((name) => unavailable(name)).map((name) => `${name}: ${unavailable(name)}`)
const runnable = requested.filter((name) => !unavailable(name))
for (const reason of skipped) process.stderr.write(`not measured: ${reason}\n`)

const mostIdle = Math.max(...config.idle, ...config.poolIdle)
checkProcessLimits(mostIdle)
execFileSync('cargo', ['build', '--release', '--quiet', '-p', 'exitwatch-bench'], { cwd: root, stdio: 'inherit' })

/** 10,000 idle processes need as many pids (and, for exitwatch, pidfds): fail early, saying why. */
function checkProcessLimits(idle) {
  const read = (path) => Number(readFileSync(path, 'utf8'))
  const running = readFileSync('/proc/loadavg', 'utf8').split(' ')[3].split('/')[1]
  const room = Math.min(read('/proc/sys/kernel/pid_max'), read('/proc/sys/kernel/threads-max')) - Number(running)
  if (room < idle + 1000) throw new Error(`${idle} idle processes do not fit: kernel.pid_max / threads-max leave room for ${room}`)
}

let current // the benchmark process running now
const killCurrent = () => {
  if (current?.exitCode === null) {
    try {
      process.kill(-current.pid, 'SIGKILL')
    } catch {}
  }
}
process.on('exit', killCurrent)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killCurrent()
    report(signal)
    process.exit(130)
  })
}

/**
 * Runs one benchmark script in its own process group, with RLIMIT_NOFILE raised for its idle
 * processes, and parses the JSON line it prints. Whatever happens, the group is killed after.
 */
async function measure(script, ...args) {
  const descriptors = mostIdle + 4096
  const command = `ulimit -n ${descriptors} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"`
  const child = spawn('sh', ['-c', command, 'sh', process.execPath, `bench/${script}`, ...args.map(String)], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  current = child
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (text) => (output += text))
  const status = await new Promise((resolve) => child.on('close', resolve))
  try {
    process.kill(-child.pid, 'SIGKILL') // anything of its group still alive
  } catch {}
  const line = output.trim().split('\n').pop()
  if (status !== 0 || !line) throw new Error(`${script} ${args.join(' ')} failed (status ${status})`)
  return JSON.parse(line)
}

const columns = ['child_process', 'exitwatch-watch', 'exitwatch-spawn']
const rows = []
const ms = (ns) => ns / 1e6
const fmt = (value, digits = 2) => (value === undefined || value === null || Number.isNaN(value) ? '—' : Number(value).toFixed(digits))
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—')
/** One table row; `values` maps a method to its number, `load` the load averages seen. */
function row(measurement, values, { digits = 2, goal = '', loads = [], compared = true } = {}) {
  rows.push({
    measurement,
    cells: columns.map((name) => fmt(values[name], digits)),
    ratio: compared ? ratio(values['exitwatch-spawn'], values.child_process) : '',
    goal,
    load: loads.length ? Math.max(...loads.map((l) => l[0])).toFixed(1) : '',
  })
}
const verdict = (met) => (met ? 'met' : '**not met**')

/** Prints the table (and writes it with --write); an interrupted run reports the rows it has. */
function report(interruptedBy) {
  const header = [
    '| measurement | child_process.spawn | exitwatch watching child_process children | exitwatch.spawn | exitwatch.spawn ÷ child_process | goal | load (1 min, max) |',
    '|---|---:|---:|---:|---:|---|---:|',
  ]
  const table = [...header, ...rows.map((r) => `| ${r.measurement} | ${r.cells.join(' | ')} | ${r.ratio} | ${r.goal} | ${r.load} |`)].join('\n')
  const sizes = `samples ${samples} in ${rounds} rounds (latency), ${blockSamples} (spawn), ${tasks} tasks × ${repeats} runs (pool)`
  const described = `${machine()}, ${full ? 'full' : 'quick'} mode, ${sizes}, transparent huge pages ${readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').match(/\[(\w+)\]/)?.[1]}`
  const notMeasured = [
    skipped.length ? `\nNot measured: ${skipped.join('; ')}.\n` : '',
    interruptedBy ? `\nInterrupted by ${interruptedBy}: the rows after the last one above were not measured.\n` : '',
  ].join('')
  console.log(`\n${described}\n\n${table}\n${notMeasured}`)
  if (process.argv.includes('--write')) {
    const path = `${root}bench/RESULTS.md`
    const [start, end] = ['<!-- spawn-results -->', '<!-- /spawn-results -->']
    const text = readFileSync(path, 'utf8')
    const at = new Date().toISOString().slice(0, 16).replace('T', ' ')
    const section = `${start}\nMeasured by \`npm run bench:spawn -- ${process.argv.slice(2).join(' ')}\` at ${at} UTC: ${described}.\n\n${table}\n${notMeasured}${end}`
    const replaced = text.includes(start) ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), section) : `${text.trimEnd()}\n\n${section}\n`
    writeFileSync(path, replaced)
  }
}

// 1. JavaScript-thread time blocked per spawn at each parent RSS.
for (const rss of config.rss) {
  process.stderr.write(`spawn at ${rss} MiB RSS...\n`)
  const results = {}
  for (const name of runnable.filter((n) => n !== 'exitwatch-watch')) {
    const before = loadAverage()
    results[name] = { ...(await measure('spawn-block.mjs', name, rss, blockSamples)), before }
  }
  const pick = (f) => Object.fromEntries(Object.entries(results).map(([name, r]) => [name, f(r)]))
  const loads = Object.values(results).flatMap((r) => [r.before, r.load])
  const p50 = pick((r) => ms(percentile(r.inCallNs, 50)))
  const label = `spawn /bin/true at ≈ ${rss} MiB RSS`
  row(`${label}: measured RSS (MiB)`, pick((r) => r.rssMiB), { digits: 0, loads, compared: false })
  row(`${label}: JS thread blocked in the call, p50 (ms)`, p50, {
    goal: p50['exitwatch-spawn'] === undefined ? '≤ 0.5 ms' : `≤ 0.5 ms: ${verdict(p50['exitwatch-spawn'] <= 0.5)}`,
    loads,
  })
  row(`${label}: JS thread blocked in the call, p99 (ms)`, pick((r) => ms(percentile(r.inCallNs, 99))), { loads })
  row(`${label}: JS thread CPU per spawn, exit included (ms)`, pick((r) => ms(r.jsCpuNsPerSpawn)), { loads })
  row(`${label}: event-loop delay p99 (ms)`, pick((r) => r.loopDelay.p99Ms), { loads })
  row(`${label}: event-loop delay max (ms)`, pick((r) => r.loopDelay.maxMs), { loads })
}

// 2. Exit → JavaScript latency beside idle siblings started by the same method.
const latency = {}
for (const idle of config.idle) {
  process.stderr.write(`latency with ${idle} idle siblings...\n`)
  // In rounds that take the methods in turn, each in a new process: one process's luck (where
  // the scheduler puts its threads) does not decide a comparison.
  latency[idle] = Object.fromEntries(runnable.map((name) => [name, { latencyNs: [], loads: [] }]))
  for (let round = 0; round < rounds; round++) {
    for (const name of runnable) {
      const before = loadAverage()
      const { latencyNs, load } = await measure('latency.mjs', name, Math.ceil(samples / rounds), idle)
      latency[idle][name].latencyNs.push(...latencyNs)
      latency[idle][name].loads.push(before, load)
    }
  }
  const loads = Object.values(latency[idle]).flatMap((r) => r.loads)
  for (const p of [50, 90, 99]) {
    const values = Object.fromEntries(Object.entries(latency[idle]).map(([name, r]) => [name, ms(percentile(r.latencyNs, p))]))
    const versus = values['exitwatch-spawn'] / values.child_process
    const goal = idle === 0 && p === 50 && !Number.isNaN(versus) ? `≤ 1.1× child_process: ${verdict(versus <= 1.1)}` : ''
    row(`exit → JS latency p${p}, ${idle} idle siblings (ms)`, values, { digits: 3, goal, loads })
  }
}
const [fewest, most] = [Math.min(...config.idle), Math.max(...config.idle)]
if (most > fewest) {
  for (const p of [50, 90, 99]) {
    const growth = Object.fromEntries(
      runnable.map((name) => [name, percentile(latency[most][name].latencyNs, p) / percentile(latency[fewest][name].latencyNs, p)]),
    )
    const goal = p === 50 && most >= 10000 && growth['exitwatch-spawn'] !== undefined ? `exitwatch.spawn ≤ 1.2×: ${verdict(growth['exitwatch-spawn'] <= 1.2)}` : ''
    row(`exit → JS latency p${p}: ${most} idle siblings ÷ ${fewest} (×)`, growth, { goal })
  }
}

// 3. Short-task pools beside idle siblings, and the event-loop delay while they run.
for (const idle of config.poolIdle) {
  process.stderr.write(`pools of ${tasks} × /bin/true, ${config.widths.join(' and ')} wide, ${idle} idle siblings...\n`)
  const results = {}
  for (const name of runnable) results[name] = { ...(await measure('pool.mjs', name, tasks, config.widths.join(','), idle, repeats)), before: loadAverage() }
  const loads = Object.values(results).flatMap((r) => [r.before, r.load])
  const idleDelay = Object.fromEntries(Object.entries(results).map(([name, r]) => [name, r.idleLoopDelay.p99Ms]))
  row(`pool beside ${idle} idle siblings, before it starts: event-loop delay p99 with nothing running, the baseline (ms)`, idleDelay, { loads })
  for (const width of config.widths) {
    const pick = (f) => Object.fromEntries(Object.entries(results).map(([name, r]) => [name, f(r.byWidth[width])]))
    const label = `pool: ${tasks} × /bin/true, ${width} wide, ${idle} idle siblings`
    const delay = pick((r) => r.loopDelay.p99Ms)
    const delayGoal = idle >= 10000 && delay['exitwatch-spawn'] !== undefined ? `p99 ≤ 1 ms: ${verdict(delay['exitwatch-spawn'] <= 1)}` : ''
    row(`${label}: wall time, mean of ${repeats} (ms)`, pick((r) => r.wallMs.mean), { digits: 0, loads })
    row(`${label}: event-loop delay p99 (ms)`, delay, { goal: delayGoal, loads })
    row(`${label}: event-loop delay max (ms)`, pick((r) => r.loopDelay.maxMs), { loads })
    row(`${label}: 1 ms timer firings (few: the loop was starved)`, pick((r) => r.loopDelay.firings), { digits: 0, loads, compared: false })
    row(`${label}: JS thread blocked per start call, p50 (ms)`, pick((r) => r.startCallMs.p50), { loads })
    row(`${label}: JS thread blocked per start call, p99 (ms)`, pick((r) => r.startCallMs.p99), { loads })
  }
}

report()
process.exit(0)
