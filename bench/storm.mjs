// N processes killed at once: time until the last exit is delivered, and exits lost.
//   node bench/storm.mjs <exitwatch|child_process> <n>
import { once } from 'node:events'
import { ExitMonitor, emit, idleChildren, idleGrandchildren } from './lib.mjs'

const [method, countArg] = process.argv.slice(2)
const count = Number(countArg)
let received = 0
let started
let done
const allDone = new Promise((resolve) => (done = resolve))
const delivered = () => {
  if (++received === count) done(performance.now())
}

if (method === 'exitwatch') {
  const monitor = ExitMonitor.shared()
  const idlers = await idleGrandchildren(count)
  const handles = idlers.pids.map((pid) => monitor.watch(pid))
  for (const handle of handles) handle.exited.then(delivered)
  started = performance.now()
  for (const handle of handles) handle.kill('SIGKILL') // pidfd_send_signal, like the floor
} else {
  const idlers = idleChildren(count)
  await Promise.all(idlers.children.map((c) => once(c, 'spawn')))
  for (const child of idlers.children) child.on('exit', delivered)
  started = performance.now()
  idlers.killAll()
}
const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 60_000))
const finished = await Promise.race([allDone, timeout])
emit({ ms: finished === null ? null : finished - started, received, lost: count - received })
process.exit(0)
