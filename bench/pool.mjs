// A short-task pool: wall time to run `tasks` × /bin/true, `width` at a time, beside `idle` idle
// siblings started by the same method; and the event-loop delay while the pool runs, and for a
// second before, while nothing runs (the baseline). tinybench times `repeats` runs of the whole
// pool. Each width in the comma-separated list runs in turn beside the same siblings. The time
// each start call blocks the JS thread is recorded too: the part of the delay spawning causes.
//   node bench/pool.mjs <child_process|exitwatch-watch|exitwatch-spawn> <tasks> <widths> <idle> <repeats>
import { Bench } from 'tinybench'
import { emit, loadAverage, loopDelayDuring, percentile } from './lib.mjs'
import { idleSiblings, methodNamed, requireDescriptors } from './spawners.mjs'

const [name, tasksArg, widthsArg, idleArg, repeatsArg] = process.argv.slice(2)
const method = methodNamed(name)
const [tasks, idle, repeats] = [tasksArg, idleArg, repeatsArg].map(Number)
const widths = widthsArg.split(',').map(Number)
requireDescriptors(idle + Math.max(...widths) + 256)

async function pool(width, startCallsMs) {
  let started = 0
  const lane = async () => {
    while (started++ < tasks) {
      const before = performance.now()
      const task = method.start('/bin/true', [])
      startCallsMs.push(performance.now() - before)
      await task.done
    }
  }
  await Promise.all(Array.from({ length: width }, lane))
}

const siblings = await idleSiblings(method, idle)
// The baseline: the same measurement for a second in which nothing runs.
const { loopDelay: idleLoopDelay } = await loopDelayDuring(() => new Promise((resolve) => setTimeout(resolve, 1000)))
const byWidth = {}
for (const width of widths) {
  const bench = new Bench({ iterations: repeats, time: 0, warmup: false, throws: true })
  const startCallsMs = []
  bench.add(`pool ${width} wide`, () => pool(width, startCallsMs))
  const { loopDelay } = await loopDelayDuring(() => bench.run())
  const { latency } = bench.tasks[0].result
  const startCallMs = { p50: percentile(startCallsMs, 50), p99: percentile(startCallsMs, 99), max: Math.max(...startCallsMs) }
  byWidth[width] = { runs: latency.samplesCount, wallMs: { mean: latency.mean, min: latency.min, max: latency.max }, loopDelay, startCallMs }
}
await siblings.killAll()
emit({ byWidth, idleLoopDelay, load: loadAverage() })
process.exit(0)
