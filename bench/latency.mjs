// Exit → notification latency: the child stamps CLOCK_MONOTONIC just before _exit; we read
// process.hrtime.bigint() (the same clock) when notified.
//   node bench/latency.mjs <exitwatch-handle|exitwatch-iterator|child_process> <samples> <idle>
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { ExitMonitor, emit, idleChildren, idleGrandchildren, native } from './lib.mjs'

const [method, samplesArg, idleArg] = process.argv.slice(2)
const samples = Number(samplesArg)
const idle = Number(idleArg)
const monitor = method.startsWith('exitwatch') ? ExitMonitor.shared() : undefined

// exitwatch watches idle processes it was told about; child_process scales with its children.
let idlers
if (monitor) {
  idlers = await idleGrandchildren(idle)
  for (const pid of idlers.pids) monitor.watch(pid).unref()
} else {
  idlers = idleChildren(idle)
}
const iterator = method === 'exitwatch-iterator' ? monitor.exits() : undefined

async function stampOf(child) {
  let text = ''
  for await (const chunk of child.stdout) text += chunk
  return BigInt(text.trim())
}

async function notified(child) {
  if (method === 'exitwatch-handle') {
    await monitor.watch(child).exited
  } else if (method === 'exitwatch-iterator') {
    monitor.watch(child)
    for (;;) {
      const { value } = await iterator.next()
      if (value.pid === child.pid) break
    }
  } else {
    await once(child, 'exit')
  }
  return process.hrtime.bigint()
}

const latencyNs = []
for (let i = 0; i < samples; i++) {
  const child = spawn(native('exit-stamp'), [], { stdio: ['ignore', 'pipe', 'ignore'] })
  const reaped = once(child, 'exit') // attached now: it may fire before we get to await it
  const [at, stamp] = await Promise.all([notified(child), stampOf(child)])
  latencyNs.push(Number(at - stamp))
  await reaped
}
iterator?.return()
emit({ latencyNs })
idlers.killAll()
process.exit(0)
