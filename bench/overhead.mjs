// watch() and subscribe()+claim() calls per second (tinybench), with a one-syscall baseline.
import { spawn } from 'node:child_process'
import { Bench } from 'tinybench'
import { ExitMonitor, emit } from './lib.mjs'

const monitor = ExitMonitor.shared()
const target = spawn('sleep', ['100000'], { stdio: 'ignore' })
const bench = new Bench({ time: Number(process.argv[2] ?? 500) })
bench
  .add('baseline: process.kill(pid, 0)', () => {
    process.kill(target.pid, 0)
  })
  .add('watch() + dispose', () => {
    monitor.watch(target.pid)[Symbol.dispose]()
  })
  .add('subscribe() + claim() + dispose', () => {
    const subscription = monitor.subscribe()
    subscription.claim(target.pid)[Symbol.dispose]()
    subscription[Symbol.dispose]()
  })
await bench.run()
emit(Object.fromEntries(bench.tasks.map((t) => [t.name, t.result.throughput?.mean ?? t.result.hz])))
target.kill()
process.exit(0)
