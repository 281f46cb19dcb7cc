// A short-task pool: wall time to run `tasks` × /bin/true, `width` at a time, beside `idle` idle
// siblings started by the same method; and the event-loop delay (a 1 ms timer, how late it
// fires) while the pool runs. tinybench times `repeats` runs of the whole pool. Each width in
// the comma-separated list runs in turn beside the same siblings.
//   node bench/pool.mjs <child_process|exitwatch-watch|exitwatch-spawn> <tasks> <widths> <idle> <repeats>
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Bench } from 'tinybench'
import { emit, loadAverage } from './lib.mjs'
import { idleSiblings, methodNamed, requireDescriptors } from './spawners.mjs'

const [name, tasksArg, widthsArg, idleArg, repeatsArg] = process.argv.slice(2)
const method = methodNamed(name)
const [tasks, idle, repeats] = [tasksArg, idleArg, repeatsArg].map(Number)
const widths = widthsArg.split(',').map(Number)
requireDescriptors(idle + Math.max(...widths) + 256)

async function pool(width) {
  let started = 0
  const lane = async () => {
    while (started++ < tasks) await method.start('/bin/true', []).done
  }
  await Promise.all(Array.from({ length: width }, lane))
}

const siblings = await idleSiblings(method, idle)
const delayResolutionMs = 1
const lateMs = (ns) => Math.max(0, ns / 1e6 - delayResolutionMs)
const byWidth = {}
for (const width of widths) {
  const delay = monitorEventLoopDelay({ resolution: delayResolutionMs })
  const bench = new Bench({ iterations: repeats, time: 0, warmup: false, throws: true })
  bench.add(`pool ${width} wide`, () => pool(width))
  delay.enable()
  await bench.run()
  delay.disable()
  const { latency } = bench.tasks[0].result
  byWidth[width] = {
    runs: latency.samplesCount,
    wallMs: { mean: latency.mean, min: latency.min, max: latency.max },
    loopDelayP99Ms: lateMs(delay.percentile(99)),
    loopDelayMaxMs: lateMs(delay.max),
    loopDelaySamples: delay.count, // timer firings: few means the timer was starved
  }
}
await siblings.killAll()
emit({ byWidth, load: loadAverage() })
process.exit(0)
