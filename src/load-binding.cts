// Picks and loads the prebuilt addon for the running Node (CommonJS, so both the ESM and the
// CommonJS builds share it). The declared targets are `napi.targets` of package.json, the one
// list the build, the packer and the checks read too.
import type * as Binding from '../binding.js'

export interface Target {
  /** Rust target triple, e.g. `aarch64-unknown-linux-musl`. */
  triple: string
  /** napi-rs platform name, e.g. `linux-arm64-musl`: the suffix of the binary's file and package name. */
  platform: string
  /** `process.arch` of the Node that loads it. */
  cpu: string
  libc: 'glibc' | 'musl'
}

interface PackageJson {
  name: string
  napi: { binaryName: string; targets: string[] }
}

const packageJson = require('../../package.json') as PackageJson

const NODE_ARCH: Record<string, string> = { x86_64: 'x64', aarch64: 'arm64' }

/** A target triple as napi-rs names it (`x86_64-unknown-linux-gnu` → `linux-x64-gnu`). */
export function targetOf(triple: string): Target {
  const [arch = '', , os = '', abi = ''] = triple.split('-')
  const cpu = NODE_ARCH[arch]
  if (!cpu || os !== 'linux' || !['gnu', 'musl'].includes(abi)) throw new Error(`unsupported target triple ${triple}`)
  return { triple, platform: `${os}-${cpu}-${abi}`, cpu, libc: abi === 'musl' ? 'musl' : 'glibc' }
}

export const TARGETS: Target[] = packageJson.napi.targets.map(targetOf)
export const SUPPORTED: string[] = TARGETS.map((t) => t.platform)

/**
 * The C library of the running Node, from Node itself: its diagnostic report names the glibc
 * version it runs on, and has none on musl. (Files such as /usr/bin/ldd describe the machine,
 * which may have both.)
 */
export function runningLibc(): 'glibc' | 'musl' {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl'
}

/** The declared target of the running Node, if any. */
export function runningTarget(): Target | undefined {
  if (process.platform !== 'linux') return undefined
  const libc = runningLibc()
  return TARGETS.find((t) => t.cpu === process.arch && t.libc === libc)
}

/**
 * Loads `<binaryName>.<platform>.node` from the package root (a local `npm run build`) or else
 * the `<name>-<platform>` package (an install).
 */
export function loadBinding(): typeof Binding {
  const target = runningTarget()
  if (!target) throw new Error(`no declared target for ${process.platform}-${process.arch}-${runningLibc()}`)
  const local = `../../${packageJson.napi.binaryName}.${target.platform}.node`
  try {
    return require(local) as typeof Binding
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
  }
  return require(`${packageJson.name}-${target.platform}`) as typeof Binding
}
