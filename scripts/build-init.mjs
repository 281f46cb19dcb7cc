// Builds exitwatch-init as static musl binaries for x64 and arm64 and puts each where the
// packer takes it from: init-bin/<napi platform>/exitwatch-init. A static binary runs on any
// Linux of its architecture, so the gnu and musl packages of one architecture carry the same
// file. Needs only rustup: the musl targets ship their C runtime, and rust-lld links them.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { root, TARGETS } from './targets.mjs'

const MAX_BYTES = 1024 * 1024
/** One static musl build per architecture of the declared targets, for all its platforms. */
const builds = [...new Set(TARGETS.map((t) => t.triple.split('-')[0]))].map((arch) => ({
  rust: `${arch}-unknown-linux-musl`,
  platforms: TARGETS.filter((t) => t.triple.startsWith(`${arch}-`)).map((t) => t.platform),
}))

/** True when the ELF file asks for a dynamic loader (has a PT_INTERP program header). */
function isDynamic(path) {
  const fd = openSync(path, 'r')
  try {
    const header = Buffer.alloc(64)
    readSync(fd, header, 0, 64, 0)
    const [phoff, phentsize, phnum] = [Number(header.readBigUInt64LE(32)), header.readUInt16LE(54), header.readUInt16LE(56)]
    const table = Buffer.alloc(phentsize * phnum)
    readSync(fd, table, 0, table.length, phoff)
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return true
    return false
  } finally {
    closeSync(fd)
  }
}

const installed = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).split('\n')
for (const { rust, platforms } of builds) {
  if (!installed.includes(rust)) execFileSync('rustup', ['target', 'add', rust], { stdio: 'inherit' })
  const linkerVariable = `CARGO_TARGET_${rust.toUpperCase().replaceAll('-', '_')}_LINKER`
  execFileSync('cargo', ['build', '--release', '-p', 'exitwatch-init', '--target', rust], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, [linkerVariable]: 'rust-lld' },
  })
  const binary = join(root, 'target', rust, 'release', 'exitwatch-init')
  const size = statSync(binary).size
  if (isDynamic(binary)) throw new Error(`${binary} is not statically linked`)
  if (size > MAX_BYTES) throw new Error(`${binary} is ${size} bytes, over the 1 MiB budget`)
  for (const platform of platforms) {
    const dir = join(root, 'init-bin', platform)
    mkdirSync(dir, { recursive: true })
    copyFileSync(binary, join(dir, 'exitwatch-init'))
    console.log(`init-bin/${platform}/exitwatch-init: ${rust}, static, ${size} bytes`)
  }
}
