import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { collectMetrics } from '../dist/esm/metrics.js'
import { ExitMonitor } from '../dist/esm/index.js'
import { expectForeignExit, procState, requires, run, scaled, sh, SUBREAPER, timeScale, waitFor } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const cli = (...args: string[]) => run(process.execPath, [`${root}bin/exitwatch.mjs`, ...args], scaled(20_000))

describe('packages', () => {
  it('install offline into a fresh project with no Rust toolchain; ESM, CommonJS, TypeScript and the CLI work', async () => {
    const r = await run('bash', [`${root}scripts/test-install.sh`], 180_000)
    expect(r.stderr).not.toMatch(/error/i)
    expect(r.stdout).toMatch(/esm: ok\ncjs: ok\ntypescript: ok\n[\s\S]*cli: ok\ninstall: ok/)
    expect(r.code).toBe(0)
  })

  it('on an unsupported platform, importing works and using it throws a clear ENOSYS', async () => {
    const script = `
      Object.defineProperty(process, 'platform', { value: 'darwin' })
      const { ExitMonitor } = await import(${JSON.stringify(`${root}dist/esm/index.js`)})
      try { ExitMonitor.shared(); console.log('no error') } catch (e) { console.log(e.code + ': ' + e.message) }`
    const r = await run(process.execPath, ['--input-type=module', '-e', script])
    const declared = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).napi.targets as string[]
    const platforms = declared.map((triple) => triple.replace('x86_64', 'x64').replace('aarch64', 'arm64').replace(/^(\w+)-unknown-linux-/, 'linux-$1-'))
    expect(r.stdout).toMatch(`ENOSYS: exitwatch runs on Linux only (it is built on pidfd, epoll and waitid); this is darwin-${process.arch}. Supported: ${platforms.join(', ')}.`)
  })
})

describe('exitwatch CLI', () => {
  it('wait prints each exit of arbitrary pids, with --json [kernel]', async () => {
    // Both must outlive the CLI's start; they are our children, so for the CLI not its own.
    const a = sh(`sleep ${timeScale}; exit 3`)
    const b = sh(`sleep ${1.5 * timeScale}; kill -KILL $$`)
    const r = await cli('wait', '--json', String(a.pid), String(b.pid))
    expect(r.code).toBe(0)
    const exits = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(exits.map((e) => e.pid)).toEqual([a.pid, b.pid])
    const caps = ExitMonitor.shared().capabilities()
    expectForeignExit(exits[0], { pid: a.pid, code: 3, status: 'exited' }, caps)
    expectForeignExit(exits[1], { pid: b.pid, signal: 'SIGKILL', status: 'killed' }, caps)
  })

  it('wait fails with 1 for a pid that does not exist', async () => {
    const r = await cli('wait', '4194305')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/not a process id/)
  })

  it('run exits with the command\'s code and reports orphans with --subreaper', async (context) => {
    requires(context, SUBREAPER)
    const r = await cli('run', '--subreaper', '--', 'sh', '-c', '(sleep 0.1; exit 4) & exit 3')
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/orphan \d+ exited with code 4 \[waitid\]/)
    expect(r.stderr).toMatch(/\d+ exited with code 3/)
  })

  it('run propagates a signal death as 128 + signal, and --help describes each command', async () => {
    expect((await cli('run', '--', 'sh', '-c', 'kill -TERM $$')).code).toBe(143)
    for (const command of ['wait', 'run']) {
      const help = await cli(command, '--help')
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(new RegExp(`^Usage: exitwatch ${command}`))
    }
    expect((await cli()).code).toBe(2)
  })
})

describe('prom-client metrics', () => {
  it('exposes stats with conventional names and live values', async () => {
    const register = new Registry()
    collectMetrics(register)
    await ExitMonitor.shared().watch(sh('exit 0')).exited
    await ExitMonitor.shared().spawn('true', [], { stdio: 'ignore' }).exited
    const text = await register.metrics()
    expect(text).toMatch(/^exitwatch_monitor_thread_up 1$/m)
    expect(text).toMatch(/^exitwatch_watched_processes \d+$/m)
    const exits = [...text.matchAll(/^exitwatch_exits_total\{source="[^"]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
    expect(exits).toBeGreaterThanOrEqual(1)
    expect(text).toMatch(/^exitwatch_reaped_total\{kind="orphan"\} \d+$/m)
    expect(text).toMatch(/# TYPE exitwatch_wakeups_total counter/)
    expect(Number(/^exitwatch_spawned_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1)
  })
})

describe('exitwatch run and signals', () => {
  it('forwards SIGTERM, then kills what is left of the tree, and exits with the command\'s status', async () => {
    const { spawn } = await import('node:child_process')
    const { once } = await import('node:events')
    const runner = spawn(process.execPath, [`${root}bin/exitwatch.mjs`, 'run', '--kill-after', '300', '--', 'sh', `${root}__test__/fixtures/tree.sh`, '2', '3', '1'], { stdio: 'ignore' })
    const monitor = ExitMonitor.shared()
    // The runner (plus, on a Node without process.execve, the native init as its child), the
    // command, its tree.
    const size = (typeof (process as { execve?: unknown }).execve === 'function' ? 1 : 2) + 1 + 3 + 9
    await waitFor(() => monitor.descendants(runner.pid!).length === size)
    const members = monitor.descendants(runner.pid!).map((m) => m.pid).slice(1)
    const exited = once(runner, 'exit')
    runner.kill('SIGTERM')
    const [code] = (await exited) as [number]
    expect(code).toBe(143) // the command died of the forwarded SIGTERM
    // The whole tree is gone by the time it exits, the member ignoring SIGTERM included.
    expect(members.filter((pid) => ![null, 'Z'].includes(procState(pid)))).toEqual([])
  })
})
