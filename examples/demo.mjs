// exitwatch demo: starts a handful of processes that end in different ways and prints
// each exit the moment exitwatch observes it, with where the status came from.
import { spawn } from 'node:child_process'
import { ExitMonitor } from '../dist/esm/index.js'

const monitor = ExitMonitor.shared()
const started = process.hrtime.bigint()
const ms = (ns) => `${(Number(ns - started) / 1e6).toFixed(1).padStart(7)} ms`

function describe(exit) {
  if (exit.status === 'exited') return `exited with code ${exit.code}`
  if (exit.status === 'unknown') return 'exited, status unknown'
  return `${exit.status} by ${exit.signal}`
}

function track(label, handle) {
  return handle.exited.then((exit) => {
    console.log(`${ms(exit.monotonicNs)}  ${label.padEnd(44)} pid ${String(exit.pid).padEnd(7)} ${describe(exit).padEnd(26)} [${exit.source}]`)
  })
}

const caps = monitor.capabilities()
console.log(`exitwatch on Linux ${caps.kernel}: pidfd ${caps.pidfdOpen}, PIDFD_INFO_EXIT ${caps.pidfdInfoExit}, pidfs ids ${caps.pidfsIdentity}\n`)

const jobs = []
const run = (label, command, args) => {
  const child = spawn(command, args, { stdio: 'ignore' })
  const handle = monitor.watch(child) // same tick as spawn: the pid cannot be recycled yet
  jobs.push(track(label, handle))
  return handle
}

run('a build step that succeeds (0.3 s)', 'sh', ['-c', 'sleep 0.3'])
run('a test run that fails with code 3 (0.1 s)', 'sh', ['-c', 'sleep 0.1; exit 3'])
run('a crash: SIGSEGV (0.2 s)', 'sh', ['-c', 'sleep 0.2; kill -SEGV $$'])
const server = run('a server stopped with SIGTERM at 0.4 s', 'sleep', ['30'])
setTimeout(() => server.kill('SIGTERM'), 400)
const stuck = run('a stuck job killed with SIGKILL at 0.5 s', 'sh', ['-c', 'trap "" TERM; sleep 30'])
setTimeout(() => stuck.kill('SIGKILL'), 500)

// A grandchild that is not our child: its parent (a shell) reaps it, we still get the status.
const parent = spawn('sh', ['-c', '(sleep 0.25; exit 7) & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] })
const grandchild = Number((await new Promise((resolve) => parent.stdout.once('data', resolve))).toString())
jobs.push(track("a grandchild (another process's child)", monitor.watch(grandchild)))

await Promise.all(jobs)
const stats = monitor.stats()
console.log(`\n${stats.exitsObserved} exits observed, ${stats.unknownStatuses} unknown, monitor thread woke ${stats.wakeups} times`)
try {
  server.kill('SIGTERM')
} catch (error) {
  console.log(`kill() after exit: ${error.code} (${error.message})`)
}
