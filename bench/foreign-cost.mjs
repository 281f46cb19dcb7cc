// Monitor-thread CPU per exit of processes that are not ours: a helper shell starts N
// `sleep`s (our grandchildren) and stays alive to reap them; we watch each, kill them all
// through their handles and wait for every exit. CPU time comes from the monitor thread's
// schedstat (nanoseconds), so it counts only that thread.
//   node bench/foreign-cost.mjs [n=5000] [attach-ms] [owner=prompt|reaper|never] [--no-floor]
// owner=prompt: the shell reaps each as it dies, though each reap costs it a walk of its job
// table (thousands of reaps take it ~0.1 s); owner=reaper: a perl loop of wait() starts them
// and reaps each in O(1); owner=never: the shell never reaps them (they stay zombies: every
// status comes from the zombie's /proc/<pid>/stat).
// With attach-ms, prints the monitor thread's tid on stderr and waits that long before the
// kills, time enough for `strace -c -p <tid>` to attach.
// Then, unless --no-floor or with the poll engine, the same workload handled by the native
// floor (bench/native/src/bin/foreign-floor.rs: a bare thread making only the system calls no
// monitor can avoid; with EXITWATCH_DISABLE_PIDFD_INFO=1 the floor without PIDFD_INFO_EXIT),
// measured the same way, and the ratio of the two.
// Prints one JSON line: exits, monitor CPU per exit (µs), monitor wake-ups per exit, statuses
// per source, the floor's CPU per exit (and its time reading statuses and closing pidfds) and
// the ratio, the load averages before and after.
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { ExitMonitor, emit, native, root } from './lib.mjs'

const [countArg, attachArg, ownerArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const count = Number(countArg ?? 5000)
const attachMs = Number(attachArg ?? 0)
const owner = ownerArg ?? 'prompt'
const withFloor = !process.argv.includes('--no-floor') && process.env.EXITWATCH_ENGINE !== 'poll'
const floorArgs = [String(count), owner, ...(process.env.EXITWATCH_DISABLE_PIDFD_INFO === '1' ? ['proc'] : [])]
const load = () => loadavg().map((l) => Number(l.toFixed(2)))
const loadBefore = load()

function monitorTid() {
  const tid = readdirSync('/proc/self/task').find((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'exitwatch-monit')
  if (!tid) throw new Error('no exitwatch monitor thread in this process')
  return tid
}

/** Nanoseconds the monitor thread spent on a CPU (first field of its schedstat). */
const monitorCpuNs = () => Number(readFileSync(`/proc/self/task/${monitorTid()}/schedstat`, 'utf8').split(' ')[0])

/** The owner process: starts `count` sleeps, prints their pids, then reaps them or not. */
function ownerCommand(owner, count) {
  if (owner === 'reaper') {
    const perl = `$|=1; for (1..${count}) { my $p = fork; if (!$p) { exec 'sleep', '100000'; exit 1 } print "$p\\n" } while (wait() != -1) {} sleep 100000`
    return ['perl', ['-e', perl]]
  }
  const afterwards = owner === 'prompt' ? 'while wait; do :; done; sleep 100000' : 'exec sleep 100000'
  return ['sh', ['-c', `for i in $(seq ${count}); do sleep 100000 & echo $!; done; ${afterwards}`]]
}

const monitor = ExitMonitor.shared()
const ownerShell = spawn(...ownerCommand(owner, count), { stdio: ['ignore', 'pipe', 'ignore'] })
const pids = []
let rest = ''
for await (const chunk of ownerShell.stdout) {
  const lines = (rest + chunk).split('\n')
  rest = lines.pop()
  pids.push(...lines.filter(Boolean).map(Number))
  if (pids.length >= count) break
}
const handles = pids.map((pid) => monitor.watch(pid))
if (attachMs > 0) {
  process.stderr.write(`monitor tid ${monitorTid()}\n`)
  await new Promise((resolve) => setTimeout(resolve, attachMs))
}
const before = monitorCpuNs()
const { bySource: sourcesBefore, wakeups: wakeupsBefore } = monitor.stats()
for (const handle of handles) handle.kill('SIGKILL')
await Promise.all(handles.map((h) => h.exited))
const cpuNs = monitorCpuNs() - before
const wakeups = monitor.stats().wakeups - wakeupsBefore
const bySource = Object.fromEntries(
  Object.entries(monitor.stats().bySource)
    .map(([source, n]) => [source, n - (sourcesBefore[source] ?? 0)])
    .filter(([, n]) => n > 0),
)
ownerShell.kill('SIGKILL')
const monitorCpuUsPerExit = cpuNs / 1000 / count
const result = { exits: count, owner, monitorCpuUsPerExit, wakeupsPerExit: wakeups / count, bySource }
if (withFloor) {
  execFileSync('cargo', ['build', '--release', '--quiet', '-p', 'exitwatch-bench'], { cwd: root, stdio: 'inherit' })
  const floor = JSON.parse(execFileSync(native('foreign-floor'), floorArgs, { encoding: 'utf8' }))
  result.floorCpuUsPerExit = floor.floorCpuUsPerExit
  // Where the floor's time goes: reading the status, and closing the pidfd (which also takes
  // it out of the epoll set and frees its pidfs inode).
  result.floorStatusReadUs = floor.statusReadUsPerExit
  result.floorPidfdCloseUs = floor.pidfdCloseUsPerExit
  result.ratioToFloor = Number((monitorCpuUsPerExit / floor.floorCpuUsPerExit).toFixed(2))
}
emit({ ...result, loadavg: { before: loadBefore, after: load() } })
process.exit(0)
