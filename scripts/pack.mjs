// Packs what would be published into pack/: the main package (JavaScript, declarations, CLI,
// loader; one optional dependency per declared target) and one package per declared target
// whose binary is built (npm run build:targets puts them in prebuilds/; without it, the running
// target's package comes from the local `npm run build`). Each target package is generated
// here from package.json's napi.targets, with the static init binary of its architecture when
// one was built (init-bin/<platform>/exitwatch-init, by scripts/build-init.mjs).
// Prints the main tarball's path, then one line "<platform> <tarball path>" per target package.
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { binaryName, pkg, prebuilt, root, runningTarget, TARGETS } from './targets.mjs'

const out = join(root, 'pack')
const stage = join(out, 'stage')
rmSync(out, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
const pack = (dir) => join(out, execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop())

/** The binary to publish for a target, or undefined when it was not built. */
function binaryOf(target) {
  if (existsSync(prebuilt(target))) return prebuilt(target)
  const local = join(root, `${binaryName}.${target.platform}.node`)
  if (target.platform === runningTarget()?.platform && existsSync(local)) return local
  return undefined
}

/** The init binary for a target (static musl: the one of its architecture serves glibc too). */
function initOf(target) {
  const file = join(root, 'init-bin', target.platform, 'exitwatch-init')
  return existsSync(file) ? file : undefined
}

function packTarget(target, binary) {
  const dir = join(stage, target.platform)
  mkdirSync(dir)
  const file = `${binaryName}.${target.platform}.node`
  copyFileSync(binary, join(dir, file))
  const files = [file]
  const init = initOf(target)
  if (init) {
    copyFileSync(init, join(dir, 'exitwatch-init'))
    files.push('exitwatch-init')
  }
  const manifest = {
    name: `${pkg.name}-${target.platform}`,
    version: pkg.version,
    description: `The ${target.triple} binary of ${pkg.name}`,
    license: pkg.license,
    engines: pkg.engines,
    os: ['linux'],
    cpu: [target.cpu],
    libc: [target.libc],
    main: file,
    files,
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  writeFileSync(join(dir, 'README.md'), `# \`${manifest.name}\`\n\n${manifest.description}; installed by \`${pkg.name}\` on ${target.platform}.\n`)
  return pack(dir)
}

const built = TARGETS.flatMap((target) => {
  const binary = binaryOf(target)
  return binary ? [[target.platform, packTarget(target, binary)]] : []
})

// The main package, as published: no scripts or dev tooling, one optional dependency per target.
const main = join(stage, 'main')
for (const file of pkg.files) cpSync(join(root, file), join(main, file), { recursive: true })
const published = { ...pkg, optionalDependencies: Object.fromEntries(TARGETS.map((t) => [`${pkg.name}-${t.platform}`, pkg.version])) }
delete published.scripts
delete published.devDependencies
writeFileSync(join(main, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
console.log(pack(main))
for (const [platform, tarball] of built) console.log(`${platform} ${tarball}`)
