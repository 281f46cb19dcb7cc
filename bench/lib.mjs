// Shared helpers of the benchmark scripts.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const native = (name) => `${root}target/release/${name}`
export const { ExitMonitor } = await import('../dist/esm/index.js')

export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * `count` idle processes that are not our children: a helper shell starts them and waits.
 * exitwatch can watch them without libuv knowing about them.
 */
export async function idleGrandchildren(count) {
  if (count === 0) return { pids: [], killAll: () => {} }
  const helper = spawn('sh', ['-c', `for i in $(seq ${count}); do sleep 100000 & echo $!; done; wait`], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  })
  const pids = []
  let rest = ''
  for await (const chunk of helper.stdout) {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop()
    pids.push(...lines.filter(Boolean).map(Number))
    if (pids.length >= count) break
  }
  return {
    pids,
    /** Kills every idle process at once (one signal to the process group). */
    killAll: () => process.kill(-helper.pid, 'SIGKILL'),
  }
}

/** `count` idle ChildProcesses (what libuv scans on every SIGCHLD). */
export function idleChildren(count) {
  const children = Array.from({ length: count }, () => spawn('sleep', ['100000'], { stdio: 'ignore' }))
  return { children, killAll: () => children.forEach((c) => c.kill('SIGKILL')) }
}

/** CPU time (ms) and voluntary context switches of exitwatch's monitor thread. */
export function monitorThreadUsage() {
  for (const tid of readdirSync('/proc/self/task')) {
    const base = `/proc/self/task/${tid}`
    if (readFileSync(`${base}/comm`, 'utf8').trim() !== 'exitwatch-monit') continue
    const stat = readFileSync(`${base}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12]) // utime + stime
    const status = readFileSync(`${base}/status`, 'utf8')
    const switches = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)[1])
    return { cpuMs: (ticks * 1000) / 100, voluntarySwitches: switches }
  }
  throw new Error('no exitwatch monitor thread in this process')
}

/** The 1, 5 and 15 minute load averages, to be recorded with every result. */
export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)

/** CPU time (ns) the JavaScript (main) thread has run so far, from its schedstat. */
export const jsThreadCpuNs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0])

/** The machine a result was measured on, for the result tables. */
export function machine() {
  const nofile = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1]
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}, RLIMIT_NOFILE ${nofile}`
}

/**
 * The event-loop delay while `work()` runs: how late a 1 ms timer fires (perf_hooks'
 * monitorEventLoopDelay records whole intervals; the 1 ms is taken off). The timer has fired
 * once before the work starts and fires once after it ends, so a loop starved for the whole
 * work still records that interval. `firings` tells how often the timer got to run.
 */
export async function loopDelayDuring(work) {
  const resolutionMs = 1
  const delay = monitorEventLoopDelay({ resolution: resolutionMs })
  delay.enable()
  while (delay.count === 0) await sleep(1)
  const result = await work()
  await sleep(resolutionMs + 1)
  delay.disable()
  const late = (ns) => Math.max(0, ns / 1e6 - resolutionMs)
  return { result, loopDelay: { p99Ms: late(delay.percentile(99)), maxMs: late(delay.max), firings: delay.count } }
}

export const emit = (result) => console.log(JSON.stringify(result))
