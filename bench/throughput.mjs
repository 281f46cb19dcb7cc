// Delivery throughput: N watched processes killed at once, their exits consumed by K async
// iterators. Reports exits/s into the iterators and the monitor thread's CPU per exit.
//   node bench/throughput.mjs <n> <iterators>
import { ExitMonitor, emit, idleGrandchildren, monitorThreadUsage } from './lib.mjs'

const [countArg, iteratorsArg] = process.argv.slice(2)
const count = Number(countArg)
const monitor = ExitMonitor.shared()
const idlers = await idleGrandchildren(count)
for (const pid of idlers.pids) monitor.watch(pid).unref()

async function consume(iterator) {
  let first
  let n = 0
  for await (const exit of iterator) {
    first ??= performance.now()
    if (++n === count) break
  }
  return { first, last: performance.now() }
}

const consumers = Array.from({ length: Number(iteratorsArg) }, () => consume(monitor.exits()))
const before = monitorThreadUsage()
const cpuBefore = process.cpuUsage()
const started = performance.now()
idlers.killAll()
const windows = await Promise.all(consumers)
const ended = performance.now()
const after = monitorThreadUsage()
const cpu = process.cpuUsage(cpuBefore)
const first = Math.min(...windows.map((w) => w.first))
const last = Math.max(...windows.map((w) => w.last))
emit({
  exits: count,
  iterators: windows.length,
  msKillToLast: ended - started,
  exitsPerSecond: count / ((last - first) / 1000),
  monitorCpuUsPerExit: ((after.cpuMs - before.cpuMs) * 1000) / count,
  processCpuUsPerExit: (cpu.user + cpu.system) / count,
})
process.exit(0)
