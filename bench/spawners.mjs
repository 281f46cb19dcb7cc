// The ways the spawn benchmarks start a process, behind one interface, so that every row runs
// the same workload with each method. `method.start(file, args)` returns
//   { pid, notified, done, kill(signal) }
// `notified` resolves when the method tells JavaScript about the exit; `done` once the process
// is reaped and the method has finished with it (the next sample may start). Every process is
// started with stdio 'ignore' whatever the method, so 10,000 idle processes hold no pipes.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, readlinkSync } from 'node:fs'
import { ExitMonitor, native } from './lib.mjs'

const stdio = 'ignore'

// Created only by the methods that use it: the monitor also listens to SIGCHLD, which must not
// weigh on the plain child_process baseline.
const monitor = () => ExitMonitor.shared()

function childProcess(file, args) {
  const child = spawn(file, args, { stdio })
  const exit = once(child, 'exit') // attached in the spawn tick: 'exit' may come before any await
  return { pid: child.pid, notified: exit, done: exit, kill: (signal) => child.kill(signal) }
}

function watchedChildProcess(file, args) {
  const child = spawn(file, args, { stdio })
  const exit = once(child, 'exit')
  const handle = monitor().watch(child)
  return {
    pid: child.pid,
    notified: handle.exited,
    done: Promise.all([handle.exited, exit]),
    kill: (signal) => handle.kill(signal),
  }
}

function exitwatchSpawn(file, args) {
  const handle = monitor().spawn(file, args, { stdio })
  return { pid: handle.pid, notified: handle.exited, done: handle.exited, kill: (signal) => handle.kill(signal) }
}

export const methods = {
  child_process: { label: 'child_process.spawn', start: childProcess },
  'exitwatch-watch': { label: 'exitwatch watching child_process children', start: watchedChildProcess },
  'exitwatch-spawn': { label: 'exitwatch.spawn', start: exitwatchSpawn },
}

/** Why a method cannot run in this build, or undefined when it can. */
export function unavailable(name) {
  if (!(name in methods)) return `unknown method '${name}' (one of ${Object.keys(methods).join(', ')})`
  if (name === 'exitwatch-spawn') {
    if (typeof ExitMonitor.prototype.spawn !== 'function') return 'this build of exitwatch has no ExitMonitor.spawn()'
    try {
      monitor().spawn('/bin/true', [], { stdio }).unref()
    } catch (error) {
      return `ExitMonitor.spawn() fails in this build: ${error.message}`
    }
  }
  return undefined
}

/** The method named on the command line; exits with a clear message when it cannot run. */
export function methodNamed(name) {
  const reason = unavailable(name)
  if (reason) {
    console.error(reason)
    process.exit(2)
  }
  return methods[name]
}

/** Fails early, with the fix, when this process may not open `count` descriptors. */
export function requireDescriptors(count) {
  const limit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))[1])
  if (limit < count) {
    console.error(`RLIMIT_NOFILE is ${limit}, this run needs ${count}: raise it (ulimit -n ${count}) or run it through bench/spawn.mjs`)
    process.exit(2)
  }
}

/**
 * `count` idle processes started by `method` (bench/native idle-child: it blocks until this
 * process exits, so none can outlive the benchmark). Resolves once all of them are asleep.
 */
export async function idleSiblings(method, count) {
  const siblings = []
  for (let i = 0; i < count; i++) siblings.push(method.start(native('idle-child'), [String(process.pid)]))
  for (const sibling of siblings) {
    while (!asleep(sibling.pid)) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return {
    count,
    /** SIGKILLs every sibling and waits until the method has seen every exit. */
    async killAll() {
      for (const sibling of siblings) sibling.kill('SIGKILL')
      await Promise.all(siblings.map((sibling) => sibling.done))
    },
  }
}

/** Exec'd into idle-child and sleeping: the only place it sleeps is its poll(). */
function asleep(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] === 'S' && readlinkSync(`/proc/${pid}/exe`).endsWith('/idle-child')
  } catch {
    return false
  }
}
