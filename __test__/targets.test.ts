// Every declared target (package.json's napi.targets, as the loader reads it): its binary from
// `npm run build:targets`, packed by scripts/pack.mjs, installed offline into an empty project
// and run on that target's runtime (scripts/runtime.sh: musl Node, arm64 Node under qemu-user).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { fixture, requires, run, type Requirement } from './helpers.js'

interface Target {
  triple: string
  platform: string
  cpu: string
  libc: 'glibc' | 'musl'
}
const root = fileURLToPath(new URL('..', import.meta.url))
const { TARGETS } = createRequire(import.meta.url)(`${root}dist/cjs/load-binding.cjs`) as { TARGETS: Target[] }
const { napi } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { napi: { binaryName: string; targets: string[] } }
const prebuilt = (t: Target) => `${root}prebuilds/${t.platform}/${napi.binaryName}.${t.platform}.node`
const OLDEST_GLIBC = [2, 28] // RHEL 8 / Rocky 8: the oldest glibc the gnu addons must load on
const MACHINE: Record<string, string> = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' }

const built = (t: Target): Requirement => ({
  missing: existsSync(prebuilt(t)) ? undefined : `the ${t.platform} addon is not built (npm run build:targets)`,
})
const runtimes = new Map<string, { node?: string; missing?: string }>()
/** The Node that runs this target here (fetched by scripts/runtime.sh), or why there is none. */
function runtime(t: Target): { node?: string; missing?: string } {
  if (!runtimes.has(t.platform)) {
    const r = spawnSync('bash', [`${root}scripts/runtime.sh`, t.platform], { encoding: 'utf8' })
    runtimes.set(t.platform, r.status === 0 ? { node: r.stdout.trim() } : { missing: r.stderr.trim().split('\n').pop() })
  }
  return runtimes.get(t.platform)!
}
const runnable = (t: Target): Requirement => ({ missing: runtime(t).missing })

let mainTarball: string
const tarballs = new Map<string, string>()
beforeAll(() => {
  // arm64 programs (and the arm64 children they start) find their libraries here under qemu-user
  process.env.QEMU_LD_PREFIX ??= execFileSync('bash', [`${root}scripts/runtime.sh`, '--env'], { encoding: 'utf8' }).split('=')[1]!.trim()
  if (!TARGETS.some((t) => existsSync(prebuilt(t)))) return
  const [main, ...rest] = execFileSync(process.execPath, [`${root}scripts/pack.mjs`], { encoding: 'utf8' }).trim().split('\n')
  mainTarball = main!
  for (const line of rest) {
    const [platform, tarball] = line.split(' ')
    tarballs.set(platform!, tarball!)
  }
}, 120_000)

describe('the one target list', () => {
  it('the loader reads napi.targets', () => {
    expect(TARGETS.map((t) => t.triple)).toEqual(napi.targets)
  })

  it('the README table has one row per declared target', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8')
    const section = readme.slice(readme.indexOf('### What is built and tested'), readme.indexOf('## Benchmarks'))
    const rows = [...section.matchAll(/^\| `(linux-[\w-]+)` \|/gm)].map((m) => m[1])
    expect(new Set(rows)).toEqual(new Set(TARGETS.map((t) => t.platform)))
  })
})

describe.each(TARGETS)('$platform', (target) => {
  it(`binary: ${target.cpu}, ${target.libc === 'glibc' ? `glibc ≤ ${OLDEST_GLIBC.join('.')}` : 'musl, no glibc'}`, (context) => {
    requires(context, built(target))
    const header = execFileSync('readelf', ['-h', prebuilt(target)], { encoding: 'utf8' })
    expect(header).toContain(`Machine:                           ${MACHINE[target.cpu]}`)
    const needed = execFileSync('readelf', ['-d', prebuilt(target)], { encoding: 'utf8' })
    if (target.libc === 'musl') {
      expect(needed).not.toMatch(/libc\.so\.6|ld-linux/)
      expect(needed).toMatch(/Shared library: \[libc\.so\]/)
      return
    }
    const versions = execFileSync('readelf', ['-V', prebuilt(target)], { encoding: 'utf8' })
    const glibc = [...versions.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
    expect(glibc.length).toBeGreaterThan(0)
    const newest = glibc.reduce((a, b) => (b[0]! * 1000 + b[1]! > a[0]! * 1000 + a[1]! ? b : a))
    expect(newest[0]! * 1000 + newest[1]!, `needs GLIBC_${newest.join('.')}`).toBeLessThanOrEqual(OLDEST_GLIBC[0]! * 1000 + OLDEST_GLIBC[1]!)
  })

  it('package: generated from napi.targets, with its binary (and the init binary when one is built)', async (context) => {
    requires(context, built(target))
    const tarball = tarballs.get(target.platform)!
    const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean).sort()
    const withInit = existsSync(`${root}scripts/build-init.mjs`)
    const file = `${napi.binaryName}.${target.platform}.node`
    expect(listing).toEqual([`package/${file}`, 'package/README.md', ...(withInit ? ['package/exitwatch-init'] : []), 'package/package.json'].sort())
    const manifest = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'])).stdout)
    expect(manifest).toMatchObject({ name: `exitwatch-${target.platform}`, os: ['linux'], cpu: [target.cpu], libc: [target.libc], main: file })
    const main = JSON.parse((await run('tar', ['-xzOf', mainTarball, 'package/package.json'])).stdout)
    expect(main.optionalDependencies).toHaveProperty(`exitwatch-${target.platform}`, main.version)
  })

  it('installed offline into an empty project, runs on its runtime: watch, exits(), claim, kill, killTree', async (context) => {
    requires(context, built(target), runnable(target))
    const project = mkdtempSync(join(tmpdir(), `exitwatch-${target.platform}-`))
    writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n')
    // --force: npm checks cpu and libc against this machine, not against the target's runtime.
    const install = await run('npm', ['install', '--offline', '--force', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', project, mainTarball, tarballs.get(target.platform)!], 120_000)
    expect(install.code, install.stderr).toBe(0)
    writeFileSync(join(project, 'smoke.mjs'), readFileSync(fixture('target-smoke.mjs')))
    const r = await run(runtime(target).node!, [join(project, 'smoke.mjs')], 180_000)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({
      watch: { code: 42, status: 'exited' },
      exitsSawIt: true,
      claimFromBuffer: 42,
      claimRunning: { pendingAtClaim: true, code: 8 },
      kill: 'SIGKILL',
      killTree: { members: 3, exits: 3, alive: 0 },
      // the loader picked this target's package, decided from the running Node (this machine's
      // /usr/bin/ldd is glibc's even for the musl Node)
      addon: join(project, 'node_modules', `exitwatch-${target.platform}`, `${napi.binaryName}.${target.platform}.node`),
      arch: target.cpu,
    })
    if (!existsSync(`${root}scripts/build-init.mjs`)) return
    // What `npx exitwatch-init` runs: the launcher finds the target package's static init.
    const launcher = join(project, 'node_modules', 'exitwatch', 'bin', 'exitwatch-init.mjs')
    const init = await run(runtime(target).node!, [launcher, '--', 'sh', '-c', 'exit 5'], 60_000)
    expect(init).toMatchObject({ code: 5, stderr: '' })
  })
})
