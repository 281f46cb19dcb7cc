#!/usr/bin/env node
// exitwatch command line: wait for arbitrary pids, or run a command and report every exit.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { ExitMonitor } from '../dist/esm/index.js'

const HELP = {
  main: `Usage: exitwatch <command> [options]

Commands:
  wait PID...            wait for processes (any, not only children) and print each exit
  run [options] -- CMD   run CMD, report the exits it observes, exit with CMD's exit code

Run "exitwatch <command> --help" for a command's options.`,
  wait: `Usage: exitwatch wait [--json] PID...

Waits until every PID has exited, printing each exit as it happens, with its status when the
kernel still has it (like "tail --pid", but exact). Exits 0 once all are gone, 1 if a PID
does not exist.

  --json   one JSON object per exit on stdout, with "usage" (userCpuUs, systemCpuUs, maxRssKiB)
           where the kernel kept it, else null`,
  run: `Usage: exitwatch run [--subreaper] [--json] [--kill-after MS] -- CMD [ARGS...]

Runs CMD (stdio inherited) and reports, on stderr, every exit exitwatch observes: CMD's, and
with --subreaper every orphaned descendant's (this process becomes their subreaper and reaps
them, and waits for them after CMD exits). SIGINT, SIGTERM and SIGHUP are forwarded to CMD
and its whole process tree (each process pinned by a pidfd); whatever is still alive
--kill-after MS later is killed with SIGKILL. Exits with CMD's exit code, or 128 + signal number if a signal
ended it.

  --subreaper     collect and report orphaned descendants (PR_SET_CHILD_SUBREAPER)
  --json          one JSON object per exit on stderr
  --kill-after MS after forwarding a signal, kill what is left of the tree (default 5000)`,
}

function describe(exit) {
  const status =
    exit.status === 'exited' ? `exited with code ${exit.code}` : exit.status === 'unknown' ? 'exited (status unknown)' : `${exit.status} by ${exit.signal}`
  return `${exit.orphan ? 'orphan ' : ''}${exit.pid} ${status} [${exit.source}]`
}

const print = (stream, json, exit) =>
  stream.write(json ? `${JSON.stringify({ ...exit, monotonicNs: String(exit.monotonicNs) })}\n` : `exitwatch: ${describe(exit)}\n`)

function usage(topic, code = 0) {
  ;(code === 0 ? process.stdout : process.stderr).write(`${HELP[topic]}\n`)
  process.exit(code)
}

async function wait(args) {
  const json = args.includes('--json')
  const pids = args.filter((a) => a !== '--json')
  if (pids.length === 0 || pids.some((p) => !/^\d+$/.test(p))) usage('wait', 2)
  const monitor = ExitMonitor.shared()
  let failed = false
  const handles = []
  for (const pid of pids) {
    try {
      handles.push(monitor.watch(Number(pid)))
    } catch (error) {
      process.stderr.write(`exitwatch: ${pid}: ${error.message}\n`)
      failed = true
    }
  }
  await Promise.all(handles.map((h) => h.exited.then((exit) => print(process.stdout, json, exit))))
  process.exit(failed ? 1 : 0)
}

async function run(args) {
  const separator = args.indexOf('--')
  if (separator < 0 || separator === args.length - 1) usage('run', 2)
  const options = args.slice(0, separator)
  const [command, ...commandArgs] = args.slice(separator + 1)
  const json = options.includes('--json')
  const killAfterAt = options.indexOf('--kill-after')
  const killAfterMs = killAfterAt >= 0 ? Number(options[killAfterAt + 1]) : 5000
  if (!Number.isFinite(killAfterMs)) usage('run', 2)

  const monitor = ExitMonitor.shared()
  const subreaper = options.includes('--subreaper')
  if (subreaper) monitor.enableSubreaper({ graceMs: 200 })
  const exits = monitor.exits()
  const child = spawn(command, commandArgs, { stdio: 'inherit' })
  child.on('error', (error) => {
    process.stderr.write(`exitwatch: cannot run ${command}: ${error.message}\n`)
    process.exit(127)
  })
  const handle = monitor.watch(child)
  // On a signal: the whole tree gets it (each process pinned by a pidfd), whatever survives
  // it is killed after --kill-after, and we exit once every member is gone.
  let stopping
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      stopping ??= handle.killTree(signal, { escalateAfterMs: killAfterMs })
    })
  }
  ;(async () => {
    for await (const exit of exits) print(process.stderr, json, exit)
  })()
  const exit = await handle.exited
  await stopping
  if (subreaper) {
    // Adopted descendants still running are waited for (they would go to init otherwise).
    while (monitor.descendants(process.pid).length > 1) await new Promise((resolve) => setTimeout(resolve, 50))
    await new Promise((resolve) => setTimeout(resolve, 300)) // past the reaping grace period
  }
  await new Promise((resolve) => setImmediate(resolve)) // let the iterator print the last exits
  exits.return()
  process.exit(exit.code ?? 128 + (constants.signals[exit.signal] ?? 0))
}

const [command, ...rest] = process.argv.slice(2)
if (!command || command === '--help' || command === '-h') usage('main', command ? 0 : 2)
if (!(command in HELP) || command === 'main') usage('main', 2)
if (rest.includes('--help') || rest.includes('-h')) usage(command)
await (command === 'wait' ? wait(rest) : run(rest))
