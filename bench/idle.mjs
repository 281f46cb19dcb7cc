// Idle cost and memory: N watched idle processes, then the monitor thread's wake-ups and CPU
// over a quiet period, and the process's RSS growth per watched process.
//   node bench/idle.mjs <n> <seconds>
import { setTimeout as sleep } from 'node:timers/promises'
import { ExitMonitor, emit, idleGrandchildren, monitorThreadUsage } from './lib.mjs'

const [countArg, secondsArg] = process.argv.slice(2)
const count = Number(countArg)
const monitor = ExitMonitor.shared()
const idlers = await idleGrandchildren(count)
globalThis.gc?.()
const rssBefore = process.memoryUsage().rss
const handles = idlers.pids.map((pid) => monitor.watch(pid).unref())
globalThis.gc?.()
const rssPerProcess = (process.memoryUsage().rss - rssBefore) / count
await sleep(200) // let the registrations settle
const before = monitorThreadUsage()
const wakeupsBefore = monitor.stats().wakeups
await sleep(Number(secondsArg) * 1000)
const after = monitorThreadUsage()
emit({
  watched: monitor.stats().watched,
  seconds: Number(secondsArg),
  wakeups: monitor.stats().wakeups - wakeupsBefore,
  voluntarySwitches: after.voluntarySwitches - before.voluntarySwitches,
  cpuMs: after.cpuMs - before.cpuMs,
  rssBytesPerProcess: rssPerProcess,
  handles: handles.length,
})
idlers.killAll()
process.exit(0)
