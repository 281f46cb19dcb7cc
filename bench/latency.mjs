// Exit → JavaScript latency of one child among `idle` idle siblings, where the child and the
// siblings are started by the same method (child_process siblings for child_process, ...).
// Exit instant: the child (bench/native exit-stamp) opens its stamp file, reads CLOCK_MONOTONIC
// and writes it, then calls _exit. Notification instant: process.hrtime.bigint() (the same clock)
// when the method's notification reaches JavaScript. The stamp is read from the file afterwards.
//   node bench/latency.mjs <child_process|exitwatch-watch|exitwatch-spawn> <samples> <idle>
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emit, loadAverage, native } from './lib.mjs'
import { idleSiblings, methodNamed, requireDescriptors } from './spawners.mjs'

const [name, samplesArg, idleArg] = process.argv.slice(2)
const method = methodNamed(name)
const samples = Number(samplesArg)
const idle = Number(idleArg)
requireDescriptors(idle + 256) // a pidfd per process for the exitwatch methods

const siblings = await idleSiblings(method, idle)
const directory = mkdtempSync(join(tmpdir(), 'exitwatch-latency-'))
const stampFile = join(directory, 'stamp')
const latencyNs = []
const warmUp = 10 // first runs of each code path (JIT, first spawn): measured, then dropped
try {
  for (let i = -warmUp; i < samples; i++) {
    const child = method.start(native('exit-stamp'), [stampFile])
    await child.notified
    const notifiedAt = process.hrtime.bigint()
    await child.done
    if (i >= 0) latencyNs.push(Number(notifiedAt - BigInt(readFileSync(stampFile, 'utf8').trim())))
  }
} finally {
  rmSync(directory, { recursive: true, force: true })
}
await siblings.killAll()
emit({ latencyNs, load: loadAverage() })
process.exit(0)
