// Supervises a flaky worker: it crashes twice (once with a non-zero code, once by a signal),
// then runs for good. Prints the supervisor's event stream, then stops it after 2 s.
import { spawn } from 'node:child_process'
import { supervise } from '../dist/esm/index.js'

let attempt = 0
const flakyWorker = () => {
  attempt++
  const script = attempt === 1 ? 'sleep 0.2; exit 3' : attempt === 2 ? 'sleep 0.2; kill -SEGV $$' : 'echo "worker $$ up"; exec sleep 30'
  return spawn('sh', ['-c', script], { stdio: ['ignore', 'inherit', 'inherit'] })
}

const supervisor = supervise(flakyWorker, {
  restart: 'on-failure',
  backoff: { initialMs: 200, factor: 2, maxMs: 5_000, jitter: 0.1 },
  startLimit: { burst: 5, intervalMs: 10_000 },
  minUptimeMs: 0,
})
setTimeout(() => supervisor.stop({ signal: 'SIGTERM', timeoutMs: 1_000 }), 2_000)

for await (const event of supervisor.events()) {
  const { type, ...rest } = event
  if (type === 'exit') {
    const { exit } = event
    console.log(`exit     run ${event.run}: ${exit.status} ${exit.code ?? exit.signal} after ${event.uptimeMs} ms${event.failed ? ' (failure)' : ''}`)
  } else {
    console.log(`${type.padEnd(8)} ${JSON.stringify(rest)}`)
  }
}
console.log('final status:', supervisor.status())
