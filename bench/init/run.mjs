// Cost of exitwatch-init next to tini and dumb-init (each measured in the same run when it is
// installed; skipped by name otherwise): startup of `<init> -- true`, resident memory and
// threads while it supervises a child, and binary size. Prints a Markdown table.
//
//   node bench/init/run.mjs [RUNS]       (default 200 runs; build first: npm run build, and
//                                         node scripts/build-init.mjs for the static binaries)
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const runs = Number(process.argv[2] ?? 200)
const which = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim() || null

const candidates = [
  { name: 'exitwatch-init (static musl)', path: `${root}init-bin/linux-x64-musl/exitwatch-init`, hint: 'node scripts/build-init.mjs' },
  { name: 'exitwatch-init (glibc, target/release)', path: `${root}target/release/exitwatch-init`, hint: 'npm run build' },
  { name: 'tini', path: which('tini'), hint: 'apt-get install tini' },
  { name: 'tini-static', path: which('tini-static'), hint: 'apt-get install tini' },
  { name: 'dumb-init', path: which('dumb-init'), hint: 'apt-get install dumb-init' },
]
const inits = candidates.filter((c) => c.path && existsSync(c.path))
for (const missing of candidates.filter((c) => !inits.includes(c))) console.log(`skipped: ${missing.name} (not found: ${missing.hint})`)

/** Milliseconds of each run of argv, runs interleaved across commands so load hits all alike. */
function startupTimes(commands) {
  const times = commands.map(() => [])
  for (let i = 0; i < runs; i++) {
    commands.forEach((argv, k) => {
      const t0 = process.hrtime.bigint()
      const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' })
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6)
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`)
    })
  }
  return times
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** VmRSS (KiB) and thread count of the init while its child sleeps. */
async function footprint(path) {
  const init = spawn(path, ['--', 'sleep', '5'], { stdio: 'ignore' })
  const status = () => readFileSync(`/proc/${init.pid}/status`, 'utf8')
  const deadline = Date.now() + 5000
  // Wait until the child runs `sleep`: the init is then set up and idle.
  while (!readFileSync(`/proc/${init.pid}/task/${init.pid}/children`, 'utf8').trim() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5))
  }
  await new Promise((r) => setTimeout(r, 100))
  const text = status()
  init.kill('SIGKILL')
  return {
    rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(text)[1]),
    threads: Number(/^Threads:\s+(\d+)/m.exec(text)[1]),
  }
}

const commands = [['true'], ...inits.map((i) => [i.path, '--', 'true'])]
const times = startupTimes(commands)
const baseline = mean(times[0])
console.log(`\n${cpus().length} × ${cpus()[0].model}, ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}; ${runs} runs each, interleaved; \`true\` alone: mean ${baseline.toFixed(2)} ms\n`)
console.log('| init | `<init> -- true` mean | median | over `true` alone | RSS supervising | threads | binary |')
console.log('|---|---|---|---|---|---|---|')
for (const [k, init] of inits.entries()) {
  const t = times[k + 1]
  const { rssKiB, threads } = await footprint(init.path)
  const size = statSync(init.path).size
  console.log(
    `| ${init.name} | ${mean(t).toFixed(2)} ms | ${median(t).toFixed(2)} ms | +${(mean(t) - baseline).toFixed(2)} ms | ${(rssKiB / 1024).toFixed(2)} MiB | ${threads} | ${(size / 1024).toFixed(0)} KiB |`,
  )
}
