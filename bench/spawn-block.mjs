// JavaScript-thread time blocked per spawn of /bin/true, with the parent at a given RSS.
//   node bench/spawn-block.mjs <child_process|exitwatch-spawn> <target RSS MiB> <samples>
// The parent is inflated with Buffers whose every page is written (resident and mapped: what a
// fork() must copy the page tables of) until its RSS reaches the target. Per spawn, the time
// inside the spawn call is measured with hrtime around it (tinybench would time the whole
// spawn-and-wait cycle, not the call); the event-loop delay and the JavaScript thread's CPU time (its schedstat) cover everything around the call too:
// the exit's delivery and reaping.
import { emit, jsThreadCpuNs, loadAverage, loopDelayDuring } from './lib.mjs'
import { methodNamed } from './spawners.mjs'

const [name, rssArg, samplesArg] = process.argv.slice(2)
const method = methodNamed(name)
const targetRss = Number(rssArg) * 2 ** 20
const samples = Number(samplesArg)
const warmup = 10

const ballast = []
const chunk = 64 * 2 ** 20
for (let rss = process.memoryUsage.rss(); rss < targetRss; rss = process.memoryUsage.rss()) {
  const buffer = Buffer.allocUnsafeSlow(Math.min(chunk, targetRss - rss))
  buffer.fill(ballast.length + 1)
  ballast.push(buffer)
}

async function spawnOne() {
  const started = process.hrtime.bigint()
  const child = method.start('/bin/true', [])
  const returned = process.hrtime.bigint()
  await child.done
  return Number(returned - started)
}

for (let i = 0; i < warmup; i++) await spawnOne()
const inCallNs = []
const cpuBefore = jsThreadCpuNs()
const { loopDelay } = await loopDelayDuring(async () => {
  for (let i = 0; i < samples; i++) inCallNs.push(await spawnOne())
})
const cpuNs = jsThreadCpuNs() - cpuBefore
emit({
  rssMiB: process.memoryUsage.rss() / 2 ** 20,
  ballastMiB: ballast.reduce((sum, b) => sum + b.length, 0) / 2 ** 20,
  inCallNs,
  jsCpuNsPerSpawn: cpuNs / samples,
  loopDelay,
  load: loadAverage(),
})
process.exit(0)
