// Share of exits resolved exactly on a kernel without PIDFD_INFO_EXIT (emulated with
// EXITWATCH_DISABLE_PIDFD_INFO=1), with the proc connector (EXITWATCH_PROC_CONNECTOR=auto: it
// is used because PIDFD_INFO_EXIT is missing) and without it (=off). Two workloads:
// - child_process: 400 watched /bin/true children, reaped by libuv racing the monitor;
// - grandchildren: 2,000 sleeps of a shell that reaps each at once, killed through exitwatch.
//   node bench/connector-share.mjs [runs=3]
import { spawnSync } from 'node:child_process'
import { root } from './lib.mjs'

const runs = Number(process.argv[2] ?? 3)

function measure(script, args, connector) {
  const r = spawnSync(process.execPath, [script, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, EXITWATCH_DISABLE_PIDFD_INFO: '1', EXITWATCH_PROC_CONNECTOR: connector },
    timeout: 300_000,
  })
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const workloads = {
  child_process: () => ['__test__/fixtures/sources/child-process-race.mjs', ['400']],
  grandchildren: () => ['bench/foreign-cost.mjs', ['2000', '0', 'prompt', '--no-floor']],
}
for (const [name, workload] of Object.entries(workloads)) {
  for (const connector of ['off', 'auto']) {
    for (let run = 0; run < runs; run++) {
      const [script, args] = workload()
      const out = measure(script, args, connector)
      const unknown = out.bySource.none ?? 0
      console.log(
        JSON.stringify({
          workload: name,
          connector,
          exits: out.exits,
          exact: out.exits - unknown,
          exactShare: `${(((out.exits - unknown) / out.exits) * 100).toFixed(1)} %`,
          bySource: out.bySource,
          ...(out.wrong === undefined ? {} : { wrong: out.wrong }),
        }),
      )
    }
  }
}
