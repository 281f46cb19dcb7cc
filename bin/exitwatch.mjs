#!/usr/bin/env node
// exitwatch command line: wait for arbitrary pids, or run a command under exitwatch-init and
// report every exit.
import { execInit } from './exitwatch-init.mjs'

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

Runs CMD under exitwatch-init, the native init (this process becomes it), and reports on
stderr every exit it observes: CMD's, and every orphaned descendant's it reaps. Every signal
it receives goes to CMD; after SIGTERM or SIGINT, whatever is left of CMD's process tree
(each process pinned by a pidfd) is killed with SIGKILL --kill-after MS later. Exits with
CMD's exit code, or 128 + signal number if a signal ended it. In a container, run
exitwatch-init itself (npx exitwatch-init --help).

  --subreaper     also wait for CMD's orphaned descendants after CMD exits
  --json          one JSON object per exit on stderr (exitwatch-init --exits 2)
  --kill-after MS after forwarding SIGTERM or SIGINT, kill what is left of the tree (default 5000)`,
}

function describe(exit) {
  const status =
    exit.status === 'exited' ? `exited with code ${exit.code}` : exit.status === 'unknown' ? 'exited (status unknown)' : `${exit.status} by ${exit.signal}`
  return `${exit.orphan ? 'orphan ' : ''}${exit.pid} ${status} [${exit.source}]`
}

const print = (stream, json, exit) =>
  stream.write(json ? `${JSON.stringify(exit)}\n` : `exitwatch: ${describe(exit)}\n`)

function usage(topic, code = 0) {
  ;(code === 0 ? process.stdout : process.stderr).write(`${HELP[topic]}\n`)
  process.exit(code)
}

async function wait(args) {
  const json = args.includes('--json')
  const pids = args.filter((a) => a !== '--json')
  if (pids.length === 0 || pids.some((p) => !/^\d+$/.test(p))) usage('wait', 2)
  // Loaded here: `run` needs the addon only where this Node cannot exec the native init.
  const { ExitMonitor } = await import('../dist/esm/index.js')
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

/** exitwatch-init's --wait-descendants bound for --subreaper: in practice, until they exit. */
const WAIT_FOR_ALL_MS = 2 ** 31 - 1

async function run(args) {
  const separator = args.indexOf('--')
  if (separator < 0 || separator === args.length - 1) usage('run', 2)
  const options = args.slice(0, separator)
  const killAfterAt = options.indexOf('--kill-after')
  const killAfterMs = killAfterAt >= 0 ? Number(options[killAfterAt + 1]) : 5000
  if (!Number.isInteger(killAfterMs) || killAfterMs < 0) usage('run', 2)
  await execInit([
    ...(options.includes('--json') ? ['--exits', '2'] : ['-v']),
    ...(options.includes('--subreaper') ? ['-s', '--wait-descendants', String(WAIT_FOR_ALL_MS)] : []),
    '--kill-after',
    String(killAfterMs),
    ...args.slice(separator),
  ])
}

const [command, ...rest] = process.argv.slice(2)
if (!command || command === '--help' || command === '-h') usage('main', command ? 0 : 2)
if (!(command in HELP) || command === 'main') usage('main', 2)
if (rest.includes('--help') || rest.includes('-h')) usage(command)
if (command === 'wait') await wait(rest)
else await run(rest)
